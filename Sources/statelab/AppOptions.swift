import ArgumentParser
import StateLab

/// The flags that describe one counter app, shared by serve and dashboard.
struct AppOptions: ParsableArguments {
    @Option(help: "Where the counter lives.")
    var strategy: Strategy = .global

    @Option(help: "How the app increments: naive reads then writes; locked and atomic do not lose updates; serializable (postgres) retries what isolation refuses. `statelab strategies` lists each strategy's modes.")
    var mode: Mode = .naive

    @Option(help: "Worker processes sharing the port (1-64).")
    var workers: Int = 4

    @Option(name: .customLong("race-window-us"), help: "Microseconds slept between read and write, to widen the race (teaching demos).")
    var raceWindowMicros: Int = 0

    @Option(help: "Threads per worker that make store calls (1-64).")
    var threads: Int = 4

    @Option(name: .customLong("redis-url"), help: "Use this Redis server (redis://127.0.0.1:6379) instead of starting one. Its key statelab:counter is set to 0.")
    var redisURL: String?

    @Option(help: "How the workers share the port (serve, load, dashboard): reuseport (each binds it with SO_REUSEPORT, like gunicorn --reuse-port) or shared (they inherit one listening socket, like uvicorn).")
    var listen: ListenMode = .reuseport

    @OptionGroup(title: "PostgreSQL")
    var postgres: PostgresCLIOptions

    func config(port: Int) -> AppConfig {
        AppConfig(strategy: strategy, mode: mode, workers: workers, port: port,
                  raceWindowMicros: raceWindowMicros, storeThreads: threads, redisURL: redisURL, listen: listen,
                  postgres: postgres.options)
    }

    func validate() throws {
        if let problem = config(port: 0).problems().first { throw ValidationError(problem) }
    }
}
