import Foundation

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
    /// A keep-alive connection with no request in flight is closed after this long.
    public var idleTimeoutMillis: Int
    /// A request whose head has started but not ended within this long gets a 408.
    public var requestHeadTimeoutMillis: Int

    public static let defaultIdleTimeoutMillis = 120_000
    public static let defaultRequestHeadTimeoutMillis = 10_000

    public var sqlitePath: String { runDirectory + "/counter.db" }
    public var managerSocketPath: String { runDirectory + "/manager.sock" }
    public var managerKeyPath: String { runDirectory + "/manager.key" }
    public var specPath: String { runDirectory + "/spec.json" }
    public func controlSocketPath(worker: Int) -> String { runDirectory + "/worker-\(worker).sock" }
    public func logPath(worker: Int) -> String { runDirectory + "/worker-\(worker).log" }

    public init(strategy: Strategy, mode: Mode, port: Int, raceWindowMicros: Int, storeThreads: Int,
                runDirectory: String, redisHost: String? = nil, redisPort: Int? = nil,
                idleTimeoutMillis: Int = WorkerSpec.defaultIdleTimeoutMillis,
                requestHeadTimeoutMillis: Int = WorkerSpec.defaultRequestHeadTimeoutMillis) {
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
    }

    public func write() throws {
        let data = try JSONEncoder().encode(self)
        try data.write(to: URL(fileURLWithPath: specPath))
    }

    public static func read(from path: String) throws -> WorkerSpec {
        try JSONDecoder().decode(WorkerSpec.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }
}
