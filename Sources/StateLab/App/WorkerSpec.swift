import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What every worker of one app needs to know; the supervisor writes it to the
/// run directory and each worker reads it at start.
public struct WorkerSpec: Sendable, Codable, Equatable {
    public var strategy: Strategy
    public var mode: Mode
    public var port: Int
    public var raceWindowMicros: Int
    /// Threads per worker that make store calls (the event loop never does).
    public var storeThreads: Int
    public var runDirectory: String
    public var redisHost: String?
    public var redisPort: Int?
    /// The database every redis connection SELECTs (nil or 0: the default).
    public var redisDatabase: Int?
    public var redisUsername: String?
    /// Sent with AUTH on every redis connection; the spec file is 0600 in a 0700 directory.
    public var redisPassword: String?
    /// A keep-alive connection with no request in flight is closed after this long.
    public var idleTimeoutMillis: Int
    /// A request whose head has started but not ended within this long gets a 408.
    public var requestHeadTimeoutMillis: Int
    /// reuseport: the worker binds `port` itself; shared: it accepts on the
    /// socket it inherited as fd `ListenMode.inheritedFD`.
    public var listen: ListenMode
    /// The PostgreSQL server and pool (strategy postgres); its password is why the spec is 0600.
    public var postgres: PostgresWorkerSettings?
    /// Increments answer with when they read, what and when they wrote (a report draws the race); nil: off.
    public var trace: Bool?
    /// The address the workers listen on: 127.0.0.1 unless set (a namespaced host's 0.0.0.0).
    public var bindHost: String?
    /// A namespaced host's address, sent as X-Worker-Host with every answer (`--hosts`).
    public var hostAddress: String?
    /// Where the store's files go (SQLite, the manager's socket and key), as
    /// the workers see it: the run directory unless set (a host's own /tmp).
    public var stateDirectory: String?

    public static let defaultIdleTimeoutMillis = 120_000
    public static let defaultRequestHeadTimeoutMillis = 10_000

    public var sqlitePath: String { (stateDirectory ?? runDirectory) + "/counter.db" }
    public var managerSocketPath: String { (stateDirectory ?? runDirectory) + "/manager.sock" }
    public var managerKeyPath: String { (stateDirectory ?? runDirectory) + "/manager.key" }
    public var specPath: String { runDirectory + "/spec.json" }
    public func controlSocketPath(worker: Int) -> String { runDirectory + "/worker-\(worker).sock" }
    public func logPath(worker: Int) -> String { runDirectory + "/worker-\(worker).log" }

    /// The redis server the workers use, with its credentials and database.
    public var redisURL: RedisURL? {
        guard let redisHost, let redisPort else { return nil }
        return RedisURL(host: redisHost, port: redisPort, database: redisDatabase ?? 0,
                        username: redisUsername, password: redisPassword)
    }

    public init(strategy: Strategy, mode: Mode, port: Int, raceWindowMicros: Int, storeThreads: Int,
                runDirectory: String, redisHost: String? = nil, redisPort: Int? = nil,
                idleTimeoutMillis: Int = WorkerSpec.defaultIdleTimeoutMillis,
                requestHeadTimeoutMillis: Int = WorkerSpec.defaultRequestHeadTimeoutMillis,
                listen: ListenMode = .reuseport) {
        self.strategy = strategy
        self.mode = mode
        self.port = port
        self.raceWindowMicros = raceWindowMicros
        self.storeThreads = storeThreads
        self.runDirectory = runDirectory
        self.redisHost = redisHost
        self.redisPort = redisPort
        self.idleTimeoutMillis = idleTimeoutMillis
        self.requestHeadTimeoutMillis = requestHeadTimeoutMillis
        self.listen = listen
    }

    /// Points the workers at a redis server.
    public mutating func useRedis(_ url: RedisURL) {
        redisHost = url.host
        redisPort = url.port
        redisDatabase = url.database
        redisUsername = url.username
        redisPassword = url.password
    }

    /// Writes the spec owner-only: it may hold a redis password.
    public func write() throws {
        let data = try JSONEncoder().encode(self)
        let fd = open(specPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StoreError("cannot write \(specPath): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let written = data.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard written == data.count else { throw StoreError("cannot write \(specPath): \(String(cString: strerror(errno)))") }
    }

    public static func read(from path: String) throws -> WorkerSpec {
        try JSONDecoder().decode(WorkerSpec.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }
}
