import Atomics
import Foundation
import NIOConcurrencyHelpers

/// The redis strategy's counter: one key on a real redis-server, one connection per session.
///
/// - naive: GET, then SET value + 1 in a second round trip; two sessions can
///   both read n and both write n + 1, losing an update.
/// - locked: optimistic locking, WATCH key and GET (pipelined), then MULTI, SET
///   and EXEC (pipelined). EXEC answers a null array when the key changed after
///   WATCH, and the whole read-write is retried after a jittered backoff.
/// - atomic: INCR, done by the server in one step.
public final class RedisSession: CounterSession {
    public let key: String
    public let connection: RedisConnection
    /// How many attempts one locked increment may make before giving up.
    public let maxLockedAttempts: Int
    /// How long, in seconds, one locked increment may keep retrying lost
    /// conflicts (the backoff pauses included) before giving up.
    public let lockedBudget: Double
    /// The pause after each lost WATCH conflict.
    public let backoff: LockedBackoff
    /// WATCH conflicts this session lost: EXEC found the key changed and wrote
    /// nothing (a measure of contention). Each was retried, but for one that
    /// used up the attempts or the budget.
    public private(set) var conflictRetries = 0
    /// Every session's conflict retries in this process: a worker's `"retries"` in /report.
    public static let processConflictRetries = ManagedAtomic<Int>(0)
    /// Taken around each locked increment: shared by the process's sessions on
    /// the same key of the same server when `serializeLocked`, private otherwise.
    private let gate: LockedGate

    /// - Parameters:
    ///   - serializeLocked: at most one locked increment of this key on this
    ///     server in flight per process: the process's other sessions wait for
    ///     it in line instead of losing WATCH conflicts to each other. Other
    ///     processes still contend through WATCH.
    ///   - lockedBudget: seconds; `timeout` when nil.
    public init(host: String, port: Int, key: String = "statelab:counter", timeout: Double = 10,
                database: Int = 0, username: String? = nil, password: String? = nil,
                maxLockedAttempts: Int = 10_000, lockedBudget: Double? = nil,
                backoff: LockedBackoff = .standard, serializeLocked: Bool = true) throws {
        self.key = key
        self.maxLockedAttempts = max(1, maxLockedAttempts)
        // At most a day: the deadline is in nanoseconds on a UInt64.
        self.lockedBudget = min(max(0, lockedBudget ?? timeout), 86_400)
        self.connection = try RedisConnection(host: host, port: port, timeout: timeout, database: database,
                                              username: username, password: password)
        self.backoff = backoff
        self.gate = serializeLocked ? LockedGate.shared(for: "\(connection.address)/\(database)/\(key)") : LockedGate()
    }

    /// A session on the URL's server, authenticated and on its database.
    public convenience init(url: RedisURL, key: String = "statelab:counter", timeout: Double = 10) throws {
        try self.init(host: url.host, port: url.port, key: key, timeout: timeout, database: url.database,
                      username: url.username, password: url.password)
    }

    public func read() throws -> Int {
        try counterValue(connection.command("GET", key))
    }

    public func increment(mode: Mode, window: RaceWindow) throws -> Int {
        switch mode {
        case .naive:
            let current = try counterValue(connection.command("GET", key))
            window.afterRead(current)
            let next = try successor(of: current)
            try expectOK(connection.command("SET", key, String(next)), from: "SET")
            window.afterWrite()
            return next
        case .locked:
            return try lockedIncrement(window: window)
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

    /// WATCH and GET in one round trip, then MULTI, SET and EXEC in a second
    /// one. A lost WATCH conflict (EXEC answers a null array: nothing was
    /// written) is retried after a jittered backoff, up to `maxLockedAttempts`
    /// attempts and `lockedBudget` seconds; after that the increment fails as
    /// not committed. The budget starts once the gate lets this increment
    /// through: time spent in line behind the process's other increments
    /// does not count, so none gives up without trying.
    private func lockedIncrement(window: RaceWindow) throws -> Int {
        try gate.withLock {
            let started = MonotonicClock.now()
            let deadline = started + UInt64(lockedBudget * 1e9)
            var attempts = 0
            while true {
                attempts += 1
                if let next = try lockedAttempt(window: window) { return next }
                conflictRetries += 1
                Self.processConflictRetries.wrappingIncrement(ordering: .relaxed)
                let pause = backoff.pause(afterConflicts: attempts)
                let now = MonotonicClock.now()
                guard attempts < maxLockedAttempts, now + UInt64(pause) * 1_000 < deadline else {
                    let millis = (now - started) / 1_000_000
                    throw StoreError("redis: locked increment of \(key) not committed: \(attempts) attempts in \(millis) ms all lost a WATCH conflict",
                                     notCommitted: true)
                }
                if pause > 0 { usleepChecked(pause) }
            }
        }
    }

    /// One optimistic transaction: the committed value, or nil when EXEC
    /// reports that the key changed after WATCH (nothing was written).
    private func lockedAttempt(window: RaceWindow) throws -> Int? {
        do {
            let watched = try connection.pipeline([["WATCH", key], ["GET", key]])
            try expectOK(connection.checked(watched[0], of: "WATCH"), from: "WATCH")
            let current = try counterValue(connection.checked(watched[1], of: "GET"))
            window.afterRead(current)
            let next = try successor(of: current)
            // The pipeline returns once all three replies came: MULTI was
            // answered OK, so EXEC ended the transaction (committed, aborted, or
            // refused by the WATCH), and with it the WATCH. No DISCARD is needed.
            let replies = try connection.pipeline([["MULTI"], ["SET", key, String(next)], ["EXEC"]])
            guard replies[0] == .simpleString("OK") else {
                // Then SET ran outside a transaction, unguarded by WATCH: it may have applied.
                throw StoreError("redis MULTI \(key): expected OK, got \(replies[0]); the SET after it may have run")
            }
            try connection.checked(replies[1], of: "SET")  // a SET refused when queued makes EXEC abort
            switch try connection.checked(replies[2], of: "EXEC") {
            case .array(nil):
                return nil
            case .array(let results?) where results == [.simpleString("OK")] && replies[1] == .simpleString("QUEUED"):
                window.afterWrite()
                return next
            default:
                throw StoreError("redis MULTI/SET/EXEC \(key): unexpected replies \(replies[1]), \(replies[2])")
            }
        } catch {
            // A server error leaves the connection open: don't leave a WATCH behind
            // on it. A transport error already dropped the connection (and the WATCH).
            if connection.isConnected { _ = try? connection.command("UNWATCH") }
            throw error
        }
    }

    private func counterValue(_ reply: RESPValue) throws -> Int {
        try Self.counter(from: reply, key: key)
    }

    /// GET's reply as a counter: a missing key is 0.
    static func counter(from reply: RESPValue, key: String) throws -> Int {
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

/// The pause after a lost WATCH conflict, "full jitter": uniformly random in
/// [0, min(cap, base * 2^(conflicts - 1))) microseconds, so that sessions that
/// collided spread out instead of colliding again at once, and wait longer the
/// more often they lose.
public struct LockedBackoff: Sendable, Equatable {
    public var baseMicros: Int
    public var capMicros: Int

    public init(baseMicros: Int, capMicros: Int) {
        self.baseMicros = max(0, baseMicros)
        self.capMicros = max(0, capMicros)
    }

    /// Measured with 4 workers x 4 threads on one key (wrk -t1 -c32): base about
    /// one transaction's window (two loopback round trips, ~140 us there), cap a
    /// few windows. Throughput barely moved between caps of 0.5 and 4 ms, but the
    /// loser pauses its whole worker's line (see `serializeLocked`), so p99 grew
    /// with the cap (22 ms at 1 ms, 28-30 ms at 2 ms, 35 ms at 4 ms), while
    /// no backoff at all retried half as often again (1.1 conflicts per
    /// increment instead of 0.65).
    public static let standard = LockedBackoff(baseMicros: 100, capMicros: 1_000)
    /// Retry at once (the behaviour before the backoff).
    public static let none = LockedBackoff(baseMicros: 0, capMicros: 0)

    /// The pause's exclusive upper bound after `conflicts` (1 or more) lost conflicts in a row.
    public func ceiling(afterConflicts conflicts: Int) -> Int {
        guard baseMicros > 0, capMicros > 0 else { return 0 }
        let doublings = min(max(conflicts - 1, 0), 30)
        return min(capMicros, baseMicros << doublings)
    }

    /// A random pause in microseconds, below `ceiling(afterConflicts:)`.
    public func pause(afterConflicts conflicts: Int) -> Int {
        let ceiling = ceiling(afterConflicts: conflicts)
        return ceiling > 0 ? Int.random(in: 0..<ceiling) : 0
    }
}

/// A lock around locked increments, shared per process and key (see
/// `RedisSession.init`). First come, first served: a ticket each, so a thread
/// that just let go cannot take it again ahead of the ones already waiting.
final class LockedGate: @unchecked Sendable {
    private let condition = NSCondition()
    private var nextTicket = 0
    private var serving = 0

    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        condition.lock()
        let ticket = nextTicket
        nextTicket &+= 1
        while serving != ticket { condition.wait() }
        condition.unlock()
        defer {
            condition.lock()
            serving &+= 1
            condition.broadcast()
            condition.unlock()
        }
        return try body()
    }

    private static let shared = NIOLockedValueBox<[String: LockedGate]>([:])

    /// The process's gate for `name` (server address, database and key).
    static func shared(for name: String) -> LockedGate {
        shared.withLockedValue { gates in
            if let gate = gates[name] { return gate }
            let gate = LockedGate()
            gates[name] = gate
            return gate
        }
    }
}
