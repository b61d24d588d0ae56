import ArgumentParser
import StateLab

/// The flags that describe one counter app, shared by serve and dashboard.
struct AppOptions: ParsableArguments {
    @Option(help: "Where the counter lives.")
    var strategy: Strategy = .global

    @Option(help: "How the app increments: naive reads then writes; locked and atomic do not lose updates; serializable (postgres) retries what isolation refuses. `statelab strategies` lists each strategy's modes.")
    var mode: Mode = .naive

    @Option(help: "Worker processes sharing the port (1-64); with --hosts, on each host.")
    var workers: Int = 4

    @Option(help: "Run the app on this many hosts (1-16), each a network and mount namespace with its own address, /tmp and /dev/shm, behind a real nginx; redis and postgres on a store host of their own. Needs root, ip and nginx.")
    var hosts: Int?

    @Option(name: .customLong("race-window-us"), help: "Microseconds slept between read and write, to widen the race (teaching demos).")
    var raceWindowMicros: Int = 0

    @Option(help: "Threads per worker that make store calls (1-64).")
    var threads: Int = 4

    @Option(name: .customLong("redis-url"), help: "Use this Redis server (redis://127.0.0.1:6379) instead of starting one. Its key statelab:counter is set to 0.")
    var redisURL: String?

    @Option(help: "How the workers share the port (serve, load, dashboard): reuseport (each binds it with SO_REUSEPORT, like gunicorn --reuse-port) or shared (they inherit one listening socket, like uvicorn).")
    var listen: ListenMode = .reuseport

    @Flag(name: .customLong("redis-appendonly"), help: "The redis-server statelab starts keeps an append-only file (appendfsync everysec), so a kill_store and restart_store (the dashboard's K and U) keep the count.")
    var redisAppendOnly = false

    @OptionGroup(title: "PostgreSQL")
    var postgres: PostgresCLIOptions

    func config(port: Int) -> AppConfig {
        var config = AppConfig(strategy: strategy, mode: mode, workers: workers, port: port,
                               raceWindowMicros: raceWindowMicros, storeThreads: threads, redisURL: redisURL, listen: listen,
                               postgres: postgres.options)
        config.redisAppendOnly = redisAppendOnly
        config.hosts = hosts
        return config
    }

    func validate() throws {
        if let problem = config(port: 0).problems().first { throw ValidationError(problem) }
        if let hosts {
            if let problem = InputLimits.problem("--hosts", hosts, in: InputLimits.hosts) { throw ValidationError(problem) }
            if listen != .reuseport { throw ValidationError("--listen shared does not apply with --hosts: each host's workers bind the port on their own stack (reuseport)") }
            if let problem = HostCluster.loopbackServerProblem(redisURL: redisURL, postgresURL: postgres.options.url) {
                throw ValidationError(problem)
            }
        }
        if redisAppendOnly && (strategy != .redis || redisURL != nil) {
            throw ValidationError("--redis-appendonly applies to the redis-server statelab starts (--strategy redis, without --redis-url)")
        }
    }

    /// Parses and checks `--fault` steps for this app; one line per problem.
    func faults(_ texts: [String], stop: StopCondition, rate: Double?) throws -> [FaultStep] {
        let steps = try texts.map { text in
            do { return try FaultSyntax.parse(text) } catch let error as FaultError { throw ValidationError("--fault \(error.description)") }
        }
        let external = (strategy == .redis && redisURL != nil) || (strategy == .postgres && postgres.options.url != nil)
        var load = FaultLoad(rate: rate)
        switch stop {
        case .count(let total): load.increments = total
        case .duration(let seconds): load.duration = seconds
        }
        if let problem = FaultPlan.problems(steps, strategy: strategy, mode: mode, workers: workers, externalStore: external,
                                            load: load, hosts: hosts).first {
            throw ValidationError("--fault \(problem)")
        }
        return steps
    }
}
