import ArgumentParser
import StateLab

/// The flags for strategy postgres, shared by serve, load, compare and dashboard.
struct PostgresCLIOptions: ParsableArguments {
    @Option(name: .customLong("postgres-url"), help: "Use this PostgreSQL server (postgres://user:password@127.0.0.1:5432/db) instead of starting one. Its table statelab_counter is created if missing and its row set to 0.")
    var url: String?

    @Option(name: .customLong("postgres-connections"), help: "Connections each worker keeps to PostgreSQL (1-64).")
    var connections: Int = PostgresOptions.defaultConnections

    @Option(name: .customLong("serializable-retries"), help: "How often serializable mode retries a transaction that failed with SQLSTATE 40001 before answering \"not committed\" (0-1000).")
    var retries: Int = PostgresOptions.defaultRetries

    @Flag(name: .customLong("postgres-fsync"), help: "Keep fsync on in the PostgreSQL server statelab starts (off by default, a demo setting: a kill of the server loses nothing either way; only a machine crash would).")
    var fsync = false

    var options: PostgresOptions {
        PostgresOptions(url: url, connections: connections, retries: retries, fsync: fsync)
    }

    func validate() throws {
        if let problem = options.problems().first { throw ValidationError(problem) }
    }
}
