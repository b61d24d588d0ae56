import CSQLite
#if canImport(Glibc)
import Glibc
#endif

/// One SQLite connection to the run's WAL database. The naive mode reads and
/// writes in two autocommit statements, so a write can land on a stale read.
///
/// Every step and reset is checked, and a failed increment says how sure it
/// is that nothing was written: `notCommitted` only where that is certain
/// (the write never ran, or its transaction was rolled back before COMMIT);
/// a failed autocommit write or COMMIT is left indeterminate (a plain error,
/// a 503 the checker counts as "may have applied").
public final class SQLiteSession: CounterSession {
    private var db: OpaquePointer?
    private let path: String
    /// The busy handler's state; the connection holds it unretained, the session keeps it alive.
    private let busyWait: BusyWait

    /// Creates the database file and its one-row table (the supervisor does this once).
    public static func createDatabase(at path: String) throws {
        let session = try SQLiteSession(path: path, create: true)
        defer { session.close() }
        try session.exec("PRAGMA journal_mode=WAL")
        try session.exec("CREATE TABLE IF NOT EXISTS counter (id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL)")
        try session.exec("INSERT OR REPLACE INTO counter (id, n) VALUES (1, 0)")
    }

    /// Waits out a lock another connection holds, for up to `busyTimeoutMillis`
    /// per lock attempt (0 or less: fails with SQLITE_BUSY at once).
    public init(path: String, busyTimeoutMillis: Int32 = 10_000) throws {
        self.path = path
        self.busyWait = BusyWait(timeoutMillis: busyTimeoutMillis)
        try open(create: false)
        // NORMAL is the usual pairing with WAL: durable across app crashes, not power loss.
        try exec("PRAGMA synchronous=NORMAL")
    }

    private init(path: String, create: Bool) throws {
        self.path = path
        self.busyWait = BusyWait(timeoutMillis: 10_000)
        try open(create: create)
    }

    private func open(create: Bool) throws {
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0)
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK else {
            let reason = db.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
            sqlite3_close(db)
            db = nil
            throw StoreError("sqlite: cannot open \(path): \(reason)")
        }
        busyWait.install(on: db)
    }

    private static let select = "SELECT n FROM counter WHERE id = 1"
    private static let store = "UPDATE counter SET n = ?1 WHERE id = 1"

    public func read() throws -> Int {
        try counterValue(run(Self.select))
    }

    public func increment(mode: Mode, window: RaceWindow) throws -> Int {
        switch mode {
        case .naive:
            let seen = try beforeAnyWrite { try counterValue(run(Self.select)) }
            window.afterRead(seen)
            // An autocommit write that fails may or may not have committed: indeterminate.
            try runWrite(Self.store, binding: seen + 1)
            window.afterWrite()
            return seen + 1
        case .locked:
            return try lockedIncrement(window: window)
        case .atomic:
            // Any failure is indeterminate: the row comes back before the statement
            // commits, and only SQLITE_DONE on its last step says it did.
            return try counterValue(run("UPDATE counter SET n = n + 1 WHERE id = 1 RETURNING n"))
        case .serializable:
            throw StoreError.noSuchMode(.serializable, for: .sqlite)
        }
    }

    public func reset() throws {
        try runWrite(Self.store, binding: 0)
    }

    public func close() {
        finalizeStatements()
        if let db {
            sqlite3_busy_handler(db, nil, nil)
            sqlite3_close_v2(db)
        }
        db = nil
    }

    deinit { close() }

    // MARK: - Locked mode

    /// BEGIN IMMEDIATE ... COMMIT. Anything that fails before COMMIT is rolled
    /// back, so it certainly did not apply; a COMMIT that fails is rolled back
    /// too when the transaction is still open, and is indeterminate otherwise.
    private func lockedIncrement(window: RaceWindow) throws -> Int {
        try beforeAnyWrite { try exec("BEGIN IMMEDIATE") }
        let next: Int
        do {
            let seen = try counterValue(run(Self.select))
            window.afterRead(seen)
            next = seen + 1
            try runWrite(Self.store, binding: next)
        } catch let error as StoreError {
            rollBack()
            throw StoreError("\(error.message); rolled back, not committed", notCommitted: true)
        }
        do {
            try exec("COMMIT")
        } catch let error as StoreError {
            guard sqlite3_get_autocommit(db) == 0 else { throw error }
            // Still inside the transaction: COMMIT did not happen, and now it never will.
            rollBack()
            throw StoreError("\(error.message); rolled back, not committed", notCommitted: true)
        }
        window.afterWrite()
        return next
    }

    /// Runs a step that comes before any write of this increment: if it fails,
    /// the increment certainly did not apply.
    private func beforeAnyWrite<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as StoreError {
            throw StoreError("\(error.message); not committed", notCommitted: true)
        }
    }

    /// Ends the open transaction without its writes. If ROLLBACK itself fails,
    /// the connection is closed, which rolls back too: either way nothing commits.
    private func rollBack() {
        guard db != nil, sqlite3_get_autocommit(db) == 0 else { return }
        if (try? exec("ROLLBACK")) == nil || sqlite3_get_autocommit(db) == 0 { close() }
    }

    // MARK: - Statements

    private func exec(_ sql: String) throws {
        guard db != nil else { throw StoreError("sqlite: the connection to \(path) is closed") }
        var message: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(db, sql, nil, nil, &message)
        if rc != SQLITE_OK {
            let reason = message.map { String(cString: $0) } ?? String(cString: sqlite3_errstr(rc))
            sqlite3_free(message)
            throw StoreError("sqlite: \(reason) (in \(sql.prefix(40)))")
        }
    }

    private var statements: [String: OpaquePointer] = [:]

    /// Runs a cached statement to SQLITE_DONE, checking every step and the
    /// reset; returns the first column of its first row, if it has rows.
    @discardableResult
    private func run(_ sql: String, binding value: Int? = nil) throws -> Int? {
        let statement = try prepared(sql)
        if let value {
            let rc = sqlite3_bind_int64(statement, 1, Int64(value))
            guard rc == SQLITE_OK else { throw failure(rc, "binding a value for", sql) }
        }
        var first: Int?
        while true {
            let rc = sqlite3_step(statement)
            if rc == SQLITE_ROW {
                if first == nil { first = Int(sqlite3_column_int64(statement, 0)) }
                continue
            }
            guard rc == SQLITE_DONE else {
                var error = failure(rc, "running", sql)
                // Reset makes the statement reusable; it repeats the step's code, anything else is news.
                let resetCode = sqlite3_reset(statement)
                if resetCode != SQLITE_OK && resetCode != rc {
                    error.message += "; resetting it then failed: \(String(cString: sqlite3_errstr(resetCode)))"
                }
                throw error
            }
            break
        }
        let rc = sqlite3_reset(statement)
        guard rc == SQLITE_OK else { throw failure(rc, "resetting", sql) }
        return first
    }

    /// Runs a write that must change exactly the counter row.
    private func runWrite(_ sql: String, binding value: Int) throws {
        try run(sql, binding: value)
        guard sqlite3_changes(db) == 1 else { throw StoreError("sqlite: counter row missing") }
    }

    private func prepared(_ sql: String) throws -> OpaquePointer {
        if let cached = statements[sql] { return cached }
        guard db != nil else { throw StoreError("sqlite: the connection to \(path) is closed") }
        var statement: OpaquePointer?
        let rc = sqlite3_prepare_v2(db, sql, -1, &statement, nil)
        guard rc == SQLITE_OK, let statement else { throw failure(rc, "preparing", sql) }
        statements[sql] = statement
        return statement
    }

    /// The counter from a statement's row; no row means the row is gone.
    private func counterValue(_ value: Int?) throws -> Int {
        guard let value else { throw StoreError("sqlite: counter row missing") }
        return value
    }

    private func failure(_ rc: Int32, _ doing: String, _ sql: String) -> StoreError {
        let reason = db.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
        return StoreError("sqlite: \(reason) (\(doing) \(sql.prefix(40)))")
    }

    private func finalizeStatements() {
        for statement in statements.values { sqlite3_finalize(statement) }
        statements = [:]
    }
}

/// SQLite's busy handler for one connection: short jittered waits while
/// another connection holds the lock, instead of sqlite3_busy_timeout's
/// 1, 2, 5, 10, ... 100 ms sleeps, which leave the lock idle long after it is
/// free and make tails of 100 ms when a few connections take turns on the
/// WAL write lock.
///
/// The wait before the n-th retry (n counting from 0) is random in
/// [ceiling / 2, ceiling), ceiling = min(maxWait, firstWait * 2^n): 20 to
/// 40 us at first, 0.5 to 1 ms from the sixth retry on. It gives up,
/// and the statement fails with SQLITE_BUSY, once `timeoutMillis` have passed
/// on the monotonic clock since the first busy call of this lock attempt
/// (SQLite calls it with count 0 for each new attempt).
final class BusyWait {
    static let firstWaitMicros: UInt64 = 40
    static let maxWaitMicros: UInt64 = 1_000

    let timeoutNanos: UInt64
    private var started: UInt64 = 0

    var firstWait: UInt64 { Self.firstWaitMicros }
    var maxWait: UInt64 { Self.maxWaitMicros }

    init(timeoutMillis: Int32) {
        timeoutNanos = UInt64(max(0, timeoutMillis)) * 1_000_000
    }

    /// Makes this the busy handler of `db`; with no timeout, there is none
    /// (SQLITE_BUSY at once). `db` must be closed before this is freed.
    func install(on db: OpaquePointer?) {
        guard timeoutNanos > 0 else {
            sqlite3_busy_handler(db, nil, nil)
            return
        }
        sqlite3_busy_handler(db, { context, count in
            guard let context else { return 0 }
            return Unmanaged<BusyWait>.fromOpaque(context).takeUnretainedValue().retry(count: Int(count))
        }, Unmanaged.passUnretained(self).toOpaque())
    }

    /// 1 after waiting a little, or 0 (give up) once the timeout has passed.
    func retry(count: Int) -> Int32 {
        let now = MonotonicClock.now()
        if count == 0 { started = now }
        let elapsed = now &- started
        guard elapsed < timeoutNanos else { return 0 }
        let ceiling = min(maxWait, firstWait << UInt64(min(count, 20)))
        let wait = min(UInt64.random(in: ceiling / 2..<ceiling), (timeoutNanos - elapsed) / 1_000)
        usleepChecked(Int(wait))
        return 1
    }
}
