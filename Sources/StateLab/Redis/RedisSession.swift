import Atomics

/// The redis strategy's counter: one key on a real redis-server, one connection per session.
///
/// - naive: GET, then SET value + 1 in a second round trip; two sessions can
///   both read n and both write n + 1, losing an update.
/// - locked: optimistic locking, WATCH key; GET; MULTI; SET; EXEC. EXEC answers
///   a null array when the key changed after WATCH, and the whole read-write is retried.
/// - atomic: INCR, done by the server in one step.
public final class RedisSession: CounterSession {
    public let key: String
    public let connection: RedisConnection
    /// How many WATCH conflicts one locked increment may retry before giving up.
    public let maxLockedAttempts: Int
    /// Locked increments retried because EXEC found the key changed (a measure of contention).
    public private(set) var conflictRetries = 0
    /// Every session's conflict retries in this process: a worker's `"retries"` in /report.
    public static let processConflictRetries = ManagedAtomic<Int>(0)

    public init(host: String, port: Int, key: String = "statelab:counter", timeout: Double = 10,
                database: Int = 0, username: String? = nil, password: String? = nil,
                maxLockedAttempts: Int = 10_000) throws {
        self.key = key
        self.maxLockedAttempts = max(1, maxLockedAttempts)
        self.connection = try RedisConnection(host: host, port: port, timeout: timeout, database: database,
                                              username: username, password: password)
    }

    /// A session on the URL's server, authenticated and on its database.
    public convenience init(url: RedisURL, key: String = "statelab:counter", timeout: Double = 10) throws {
        try self.init(host: url.host, port: url.port, key: key, timeout: timeout, database: url.database,
                      username: url.username, password: url.password)
    }

    public func read() throws -> Int {
        try counterValue(connection.command("GET", key))
    }

    public func increment(mode: Mode, raceWindowMicros: Int) throws -> Int {
        switch mode {
        case .naive:
            let current = try counterValue(connection.command("GET", key))
            raceWindow(raceWindowMicros)
            let next = try successor(of: current)
            try expectOK(connection.command("SET", key, String(next)), from: "SET")
            return next
        case .locked:
            return try lockedIncrement(raceWindowMicros: raceWindowMicros)
        case .atomic:
            let reply = try connection.command("INCR", key)
            guard case .integer(let value) = reply else {
                throw StoreError("redis INCR \(key): unexpected reply \(reply)")
            }
            return value
        case .serializable:
            throw StoreError.noSuchMode(.serializable, for: .redis)
        }
    }

    public func reset() throws {
        try expectOK(connection.command("SET", key, "0"), from: "SET")
    }

    public func close() { connection.close() }

    // MARK: -

    private func lockedIncrement(raceWindowMicros: Int) throws -> Int {
        for _ in 0..<maxLockedAttempts {
            var inTransaction = false
            do {
                try expectOK(connection.command("WATCH", key), from: "WATCH")
                let current = try counterValue(connection.command("GET", key))
                raceWindow(raceWindowMicros)
                let next = try successor(of: current)
                try expectOK(connection.command("MULTI"), from: "MULTI")
                inTransaction = true
                try connection.command("SET", key, String(next))  // +QUEUED; the result comes with EXEC
                let reply = try connection.command("EXEC")
                inTransaction = false
                switch reply {
                case .array(nil):
                    conflictRetries += 1
                    Self.processConflictRetries.wrappingIncrement(ordering: .relaxed)
                    continue
                case .array(let results?) where results.count == 1 && results[0] == .simpleString("OK"):
                    return next
                default:
                    throw StoreError("redis EXEC \(key): unexpected reply \(reply)")
                }
            } catch {
                // A server error leaves the connection open: don't leave a WATCH or a
                // half-queued transaction behind on it. A transport error already dropped it.
                if connection.isConnected {
                    if inTransaction { _ = try? connection.command("DISCARD") }
                    _ = try? connection.command("UNWATCH")
                }
                throw error
            }
        }
        throw StoreError("redis: locked increment of \(key) not committed: \(maxLockedAttempts) attempts all lost a WATCH conflict", notCommitted: true)
    }

    /// GET's reply as a counter: a missing key is 0.
    private func counterValue(_ reply: RESPValue) throws -> Int {
        switch reply {
        case .bulkString(nil):
            return 0
        case .bulkString(let bytes?):
            guard let value = RESPParser.integer(bytes[...]) else {
                throw StoreError("redis: key \(key) holds \(reply), not an integer counter")
            }
            return value
        default:
            throw StoreError("redis GET \(key): unexpected reply \(reply)")
        }
    }

    private func successor(of value: Int) throws -> Int {
        let (next, overflow) = value.addingReportingOverflow(1)
        if overflow { throw StoreError("redis: counter \(key) would overflow") }
        return next
    }

    private func expectOK(_ reply: RESPValue, from command: String) throws {
        guard reply == .simpleString("OK") else {
            throw StoreError("redis \(command) \(key): expected OK, got \(reply)")
        }
    }
}
