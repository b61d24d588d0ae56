import Logging
import NIOCore
import NIOPosix
import PostgresNIO

/// How statelab's app uses PostgreSQL, beyond where the server is.
public struct PostgresOptions: Sendable, Equatable, Codable {
    /// An existing server to use instead of starting one.
    public var url: String?
    /// Connections each worker keeps open (its pool).
    public var connections: Int
    /// How often serializable mode retries a transaction that failed with
    /// SQLSTATE 40001 before it answers "not committed".
    public var retries: Int
    /// fsync on the server statelab starts (off by default: a demo setting).
    public var fsync: Bool

    public static let defaultConnections = 4
    public static let defaultRetries = 30

    public init(url: String? = nil, connections: Int = PostgresOptions.defaultConnections,
                retries: Int = PostgresOptions.defaultRetries, fsync: Bool = false) {
        self.url = url
        self.connections = connections
        self.retries = retries
        self.fsync = fsync
    }

    /// Problems with the settings themselves, each as one line with the fix.
    public func problems() -> [String] {
        var found: [String] = []
        found += [
            InputLimits.problem("--postgres-connections", connections, in: InputLimits.postgresConnections),
            InputLimits.problem("--serializable-retries", retries, in: InputLimits.serializableRetries),
        ].compactMap { $0 }
        if let url {
            do { _ = try PostgresURL(parsing: url) } catch {
                found.append("\(error); pass --postgres-url postgres://user:password@127.0.0.1:5432/db")
            }
        }
        return found
    }
}

/// The counter's table: one row, key 'counter', a bigint.
public enum PostgresCounterTable {
    /// A logger that drops everything: PostgresNIO logs through swift-log, and
    /// the workers' output is their log file, not a console.
    static let silent = Logger(label: "statelab.postgres", factory: { _ in SwiftLogNoOpLogHandler() })

    /// Creates the table if missing and sets the counter to 0. Blocks; not for an event loop.
    public static func prepare(url: PostgresURL, timeout: Double) throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        do {
            let connection = try PostgresConnection.connect(
                on: group.next(), configuration: try url.configuration(timeout: timeout), id: 0, logger: silent).wait()
            defer { try? connection.close().wait() }
            _ = try connection.query(
                "CREATE TABLE IF NOT EXISTS statelab_counter (k text PRIMARY KEY, n bigint NOT NULL)",
                logger: silent).wait()
            _ = try connection.query(
                "INSERT INTO statelab_counter (k, n) VALUES ('counter', 0) ON CONFLICT (k) DO UPDATE SET n = 0",
                logger: silent).wait()
        } catch {
            throw PostgresFailure.storeError(error, certainlyNotWritten: true)
        }
    }
}

extension PostgresURL {
    /// The connection settings, with the host checked as a loopback literal
    /// (`LoopbackHost`) so the driver never resolves a name.
    func configuration(timeout: Double) throws -> PostgresConnection.Configuration {
        guard let literal = LoopbackHost.literal(host) else { throw LoopbackHost.Refusal(host: host) }
        var configuration = PostgresConnection.Configuration(
            host: literal, port: port, username: user, password: password, database: database, tls: .disable)
        configuration.options.connectTimeout = .milliseconds(Int64(timeout * 1000))
        return configuration
    }
}

/// PostgreSQL errors as statelab's store errors.
enum PostgresFailure {
    /// SQLSTATE 40001 (serialization_failure) or 40P01 (deadlock_detected):
    /// the transaction was rolled back and may be retried.
    static func isRetryable(_ error: Error) -> Bool {
        guard let error = error as? PSQLError, error.code == .server,
              let state = error.serverInfo?[.sqlState] else { return false }
        return state == "40001" || state == "40P01"
    }

    /// The server answered with an error: the statement (and its transaction) did not commit.
    static func isServerError(_ error: Error) -> Bool {
        (error as? PSQLError)?.code == .server
    }

    /// One line for the answer. A statement the server rejected did not
    /// commit; a connection that failed mid-call leaves it unknown, unless
    /// nothing had been sent yet (`certainlyNotWritten`).
    static func storeError(_ error: Error, certainlyNotWritten: Bool = false) -> StoreError {
        if let error = error as? StoreError { return error }
        guard let error = error as? PSQLError else {
            return StoreError("postgres: \(error)", notCommitted: certainlyNotWritten)
        }
        if error.code == .server, let info = error.serverInfo {
            let message = info[.message] ?? "error"
            let state = info[.sqlState].map { " (SQLSTATE \($0))" } ?? ""
            return StoreError("postgres: \(message)\(state)", notCommitted: true)
        }
        var text = "postgres: \(error.code)"
        if let underlying = error.underlying { text += ": \(underlying)" }
        if error.code == .connectionError || error.code == .serverClosedConnection,
           let underlying = error.underlying.map({ "\($0)" }), underlying.contains("refused") {
            text += " (is the server running?)"
        }
        return StoreError(text, notCommitted: certainlyNotWritten)
    }
}
