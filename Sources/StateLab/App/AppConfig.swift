/// How to launch one counter app.
public struct AppConfig: Sendable, Equatable {
    public var strategy: Strategy
    public var mode: Mode
    public var workers: Int
    /// 0 picks a free loopback port.
    public var port: Int
    public var raceWindowMicros: Int
    public var storeThreads: Int
    /// An existing Redis server to use instead of starting one.
    public var redisURL: String?
    /// The statelab binary the workers and the manager run as.
    public var executable: String
    /// A worker closes a keep-alive connection that has no request in flight
    /// after this long. Longer than any gap statelab's own load leaves (an open
    /// model at a low rate idles each connection for seconds).
    public var idleTimeoutMillis: Int
    /// A worker answers 408 and closes when a request's head has started
    /// arriving but is not complete within this long.
    public var requestHeadTimeoutMillis: Int
    /// How the workers share the port.
    public var listen: ListenMode
    /// The PostgreSQL server, pool and retries (strategy postgres).
    public var postgres: PostgresOptions
    /// Whether the redis-server statelab starts keeps an append-only file
    /// (survives a kill and restart) or nothing (the default, as a plain
    /// redis-server started without a save).
    public var redisAppendOnly = false
    /// The workers answer each increment with when it read and wrote, for a report that draws the race.
    public var trace = false
    /// The namespaced host this app runs on (`--hosts`); nil: this machine, on loopback.
    public var placement: HostPlacement?
    /// `--hosts N` for `load` and the dashboard: run it as a `HostCluster`; nil: one host.
    public var hosts: Int?

    public init(strategy: Strategy, mode: Mode = .naive, workers: Int = 4, port: Int = 0,
                raceWindowMicros: Int = 0, storeThreads: Int = 4, redisURL: String? = nil,
                executable: String = ChildProcess.currentExecutable,
                idleTimeoutMillis: Int = WorkerSpec.defaultIdleTimeoutMillis,
                requestHeadTimeoutMillis: Int = WorkerSpec.defaultRequestHeadTimeoutMillis,
                listen: ListenMode = .reuseport, postgres: PostgresOptions = PostgresOptions()) {
        self.strategy = strategy
        self.mode = mode
        self.workers = workers
        self.port = port
        self.raceWindowMicros = raceWindowMicros
        self.storeThreads = storeThreads
        self.redisURL = redisURL
        self.executable = executable
        self.idleTimeoutMillis = idleTimeoutMillis
        self.requestHeadTimeoutMillis = requestHeadTimeoutMillis
        self.listen = listen
        self.postgres = postgres
    }

    /// Problems with the settings themselves, each as one line with the fix.
    public func problems() -> [String] {
        var found: [String] = []
        if let problem = strategy.modeProblem(mode) { found.append(problem) }
        found += [
            InputLimits.problem("--workers", workers, in: InputLimits.workers),
            InputLimits.problem("--port", port, in: InputLimits.port).map { $0 + "; 0 picks a free port" },
            InputLimits.problem("--race-window-us", raceWindowMicros, in: InputLimits.raceWindowMicros),
            InputLimits.problem("--threads", storeThreads, in: InputLimits.storeThreads),
        ].compactMap { $0 }
        if !(1...86_400_000).contains(idleTimeoutMillis) {
            found.append("the idle connection timeout must be between 1 ms and 24 h (got \(idleTimeoutMillis) ms)")
        }
        if !(1...3_600_000).contains(requestHeadTimeoutMillis) {
            found.append("the request head timeout must be between 1 ms and 1 h (got \(requestHeadTimeoutMillis) ms)")
        }
        if strategy == .postgres { found += postgres.problems() }
        return found
    }

    /// Why this strategy cannot run on this machine, with the fix; nil when it can.
    public func unavailability() -> String? {
        StrategyAvailability.reason(strategy, redisURL: redisURL, postgresURL: postgres.url)
    }
}

public enum StrategyAvailability {
    /// nil when `strategy` can run here; else one line saying why and how to fix it.
    public static func reason(_ strategy: Strategy, redisURL: String? = nil, postgresURL: String? = nil) -> String? {
        switch strategy {
        case .redis where redisURL == nil:
            return RedisServerProcess.availability()
        case .postgres where postgresURL == nil:
            return PostgresServerProcess.availability()
        default:
            return nil
        }
    }
}
