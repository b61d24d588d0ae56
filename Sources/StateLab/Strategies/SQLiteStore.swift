import CSQLite
#if canImport(Glibc)
import Glibc
#endif

/// One SQLite connection to the run's WAL database. The naive mode reads and
/// writes in two autocommit statements, so a write can land on a stale read.
public final class SQLiteSession: CounterSession {
    private var db: OpaquePointer?
    private let path: String

    /// Creates the database file and its one-row table (the supervisor does this once).
    public static func createDatabase(at path: String) throws {
        let session = try SQLiteSession(path: path, create: true)
        defer { session.close() }
        try session.exec("PRAGMA journal_mode=WAL")
        try session.exec("CREATE TABLE IF NOT EXISTS counter (id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL)")
        try session.exec("INSERT OR REPLACE INTO counter (id, n) VALUES (1, 0)")
    }

    public init(path: String, busyTimeoutMillis: Int32 = 10_000) throws {
        self.path = path
        try open(create: false)
        sqlite3_busy_timeout(db, busyTimeoutMillis)
        // NORMAL is the usual pairing with WAL: durable across app crashes, not power loss.
        try exec("PRAGMA synchronous=NORMAL")
    }

    private init(path: String, create: Bool) throws {
        self.path = path
        try open(create: create)
        sqlite3_busy_timeout(db, 10_000)
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
    }

    public func read() throws -> Int {
        try queryInt("SELECT n FROM counter WHERE id = 1")
    }

    public func increment(mode: Mode, raceWindowMicros: Int) throws -> Int {
        switch mode {
        case .naive:
            let seen = try queryInt("SELECT n FROM counter WHERE id = 1")
            raceWindow(raceWindowMicros)
            try exec("UPDATE counter SET n = \(seen + 1) WHERE id = 1")
            return seen + 1
        case .locked:
            try exec("BEGIN IMMEDIATE")
            do {
                let seen = try queryInt("SELECT n FROM counter WHERE id = 1")
                raceWindow(raceWindowMicros)
                try exec("UPDATE counter SET n = \(seen + 1) WHERE id = 1")
                try exec("COMMIT")
                return seen + 1
            } catch {
                try? exec("ROLLBACK")
                throw error
            }
        case .atomic:
            return try queryInt("UPDATE counter SET n = n + 1 WHERE id = 1 RETURNING n")
        }
    }

    public func reset() throws {
        try exec("UPDATE counter SET n = 0 WHERE id = 1")
    }

    public func close() {
        finalizeStatements()
        if let db { sqlite3_close_v2(db) }
        db = nil
    }

    deinit { close() }

    private func exec(_ sql: String) throws {
        var message: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(db, sql, nil, nil, &message)
        if rc != SQLITE_OK {
            let reason = message.map { String(cString: $0) } ?? String(cString: sqlite3_errstr(rc))
            sqlite3_free(message)
            throw StoreError("sqlite: \(reason) (in \(sql.prefix(40)))")
        }
    }

    private var statements: [String: OpaquePointer] = [:]

    /// Runs a statement that yields one integer, keeping it prepared for next time.
    private func queryInt(_ sql: String) throws -> Int {
        let statement: OpaquePointer
        if let cached = statements[sql] {
            statement = cached
        } else {
            var prepared: OpaquePointer?
            guard sqlite3_prepare_v2(db, sql, -1, &prepared, nil) == SQLITE_OK, let prepared else {
                throw StoreError("sqlite: \(String(cString: sqlite3_errmsg(db)))")
            }
            statements[sql] = prepared
            statement = prepared
        }
        defer { sqlite3_reset(statement) }
        let rc = sqlite3_step(statement)
        guard rc == SQLITE_ROW else {
            throw StoreError("sqlite: \(rc == SQLITE_DONE ? "counter row missing" : String(cString: sqlite3_errmsg(db)))")
        }
        let value = Int(sqlite3_column_int64(statement, 0))
        // Step to the end so an UPDATE ... RETURNING commits before we answer.
        _ = sqlite3_step(statement)
        return value
    }

    private func finalizeStatements() {
        for statement in statements.values { sqlite3_finalize(statement) }
        statements = [:]
    }
}
