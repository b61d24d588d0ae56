import CSQLite
import Foundation
import Testing
@testable import StateLab
#if canImport(Glibc)
import Glibc
#endif

/// The sqlite store on a real database file in a private temp dir; real
/// threads, each with its own connection as each worker thread has.
@Suite
struct SQLiteTests {
    /// A fresh temp dir with a database made by createDatabase; removed after `body`.
    static func withDatabase<T>(_ body: (String) throws -> T) throws -> T {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("statelab-sqlite-test-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/counter.db"
        try SQLiteSession.createDatabase(at: path)
        return try body(path)
    }

    /// Increments from `threads` threads, each on its own connection; returns
    /// the final count and every value an increment returned.
    static func race(_ mode: Mode, threads: Int, each: Int, raceWindowMicros: Int) throws -> (final: Int, returned: [Int]) {
        try withDatabase { path in
            let returned = try ConcurrentThreads.run(threads) { _ in
                let session = try SQLiteSession(path: path)
                defer { session.close() }
                return try (0..<each).map { _ in try session.increment(mode: mode, raceWindowMicros: raceWindowMicros) }
            }
            let reader = try SQLiteSession(path: path)
            defer { reader.close() }
            return (try reader.read(), returned)
        }
    }

    /// One text value from a raw connection (not through the code under test).
    static func rawText(_ sql: String, path: String) throws -> String? {
        var db: OpaquePointer?
        defer { sqlite3_close_v2(db) }
        guard sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, nil) == SQLITE_OK else {
            throw StoreError("raw open of \(path) failed")
        }
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(db, sql, -1, &statement, nil) == SQLITE_OK else {
            throw StoreError("raw prepare failed: \(String(cString: sqlite3_errmsg(db)))")
        }
        defer { sqlite3_finalize(statement) }
        guard sqlite3_step(statement) == SQLITE_ROW, let text = sqlite3_column_text(statement, 0) else { return nil }
        return String(cString: text)
    }

    static func rawExec(_ sql: String, path: String) throws {
        var db: OpaquePointer?
        defer { sqlite3_close_v2(db) }
        guard sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, nil) == SQLITE_OK,
              sqlite3_exec(db, sql, nil, nil, nil) == SQLITE_OK
        else { throw StoreError("raw \(sql) failed: \(String(cString: sqlite3_errmsg(db)))") }
    }

    @Test("createDatabase makes a WAL database with the counter at 0; a write goes to the -wal file")
    func createsWALDatabase() throws {
        try Self.withDatabase { path in
            #expect(try Self.rawText("PRAGMA journal_mode", path: path) == "wal")
            #expect(try Self.rawText("SELECT n FROM counter WHERE id = 1", path: path) == "0")
            let session = try SQLiteSession(path: path)
            defer { session.close() }
            #expect(try session.increment(mode: .atomic, raceWindowMicros: 0) == 1)
            var info = stat()
            #expect(stat(path + "-wal", &info) == 0, "the write went to the write-ahead log")
            #expect(info.st_size > 0)
            #expect(try Self.rawText("SELECT n FROM counter WHERE id = 1", path: path) == "1",
                    "another connection sees the committed write")
        }
    }

    @Test("createDatabase on an existing database starts the counter again at 0")
    func createDatabaseResets() throws {
        try Self.withDatabase { path in
            let session = try SQLiteSession(path: path)
            defer { session.close() }
            for _ in 0..<3 { _ = try session.increment(mode: .atomic, raceWindowMicros: 0) }
            try SQLiteSession.createDatabase(at: path)
            #expect(try session.read() == 0)
        }
    }

    @Test("atomic (UPDATE ... RETURNING): 4 connections count exactly, each value returned once")
    func atomicIsExact() throws {
        let (final, returned) = try Self.race(.atomic, threads: 4, each: 250, raceWindowMicros: 0)
        #expect(final == 1_000)
        #expect(returned.sorted() == Array(1...1_000))
    }

    @Test("locked (BEGIN IMMEDIATE): exact even with a race window between SELECT and UPDATE")
    func lockedIsExact() throws {
        let (final, returned) = try Self.race(.locked, threads: 4, each: 25, raceWindowMicros: 2_000)
        #expect(final == 100)
        #expect(returned.sorted() == Array(1...100), "each count handed out exactly once")
    }

    @Test("naive (SELECT, then UPDATE in a second statement) with a race window loses updates")
    func naiveLoses() throws {
        let (final, returned) = try Self.race(.naive, threads: 4, each: 25, raceWindowMicros: 2_000)
        #expect(returned.count == 100, "every increment was answered, none failed")
        #expect(final < 100, "lost = \(100 - final)")
        #expect(Set(returned).count < returned.count, "duplicate counts witness the lost updates")
    }

    @Test("read and reset are seen by every connection")
    func readAndReset() throws {
        try Self.withDatabase { path in
            let first = try SQLiteSession(path: path)
            let second = try SQLiteSession(path: path)
            defer { first.close(); second.close() }
            #expect(try first.read() == 0)
            for mode in Strategy.sqlite.modes { _ = try first.increment(mode: mode, raceWindowMicros: 0) }
            #expect(try second.read() == 3)
            try second.reset()
            #expect(try first.read() == 0)
            #expect(try first.increment(mode: .locked, raceWindowMicros: 0) == 1)
        }
    }

    @Test("opening a database that does not exist is a clear StoreError naming the path, and creates nothing",
          arguments: ["missing.db", "no-such-dir/counter.db"])
    func missingFileIsAClearError(_ name: String) throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("statelab-sqlite-test-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/" + name
        let error = #expect(throws: StoreError.self) { try SQLiteSession(path: path) }
        #expect(error?.message.contains("cannot open \(path)") == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("unable to open database file") == true, "\(error?.message ?? "")")
        #expect(!FileManager.default.fileExists(atPath: path), "a worker never creates the database itself")
    }

    @Test("a database without the counter row answers with a StoreError, not a crash or a 0")
    func missingRowIsAnError() throws {
        try Self.withDatabase { path in
            let session = try SQLiteSession(path: path)
            defer { session.close() }
            try Self.rawExec("DELETE FROM counter", path: path)
            let error = #expect(throws: StoreError.self) { try session.read() }
            #expect(error?.message.contains("counter row missing") == true, "\(error?.message ?? "")")
        }
    }

    // MARK: - Failures: not committed, or indeterminate

    /// Another connection holding the write lock (BEGIN IMMEDIATE), as a
    /// stuck writer would; released by `release()`. Unchecked: one thread uses
    /// it at a time, the test hands it from one to the next.
    final class WriteLockHolder: @unchecked Sendable {
        private var db: OpaquePointer?

        init(path: String) throws {
            guard sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, nil) == SQLITE_OK,
                  sqlite3_exec(db, "BEGIN IMMEDIATE", nil, nil, nil) == SQLITE_OK
            else {
                let reason = String(cString: sqlite3_errmsg(db))
                sqlite3_close_v2(db)
                throw StoreError("test: could not take the write lock: \(reason)")
            }
        }

        func release() {
            guard db != nil else { return }
            sqlite3_exec(db, "ROLLBACK", nil, nil, nil)
            sqlite3_close_v2(db)
            db = nil
        }

        deinit { release() }
    }

    @Test("locked: BEGIN IMMEDIATE that times out on a held write lock is 'not committed', and nothing was written")
    func lockedBusyIsNotCommitted() throws {
        try Self.withDatabase { path in
            let session = try SQLiteSession(path: path, busyTimeoutMillis: 50)
            defer { session.close() }
            let holder = try WriteLockHolder(path: path)
            let error = #expect(throws: StoreError.self) { try session.increment(mode: .locked, raceWindowMicros: 0) }
            #expect(error?.notCommitted == true, "\(error?.message ?? "")")
            #expect(error?.message.contains("database is locked") == true, "\(error?.message ?? "")")
            holder.release()
            #expect(try Self.rawText("SELECT n FROM counter WHERE id = 1", path: path) == "0")
            #expect(try session.increment(mode: .locked, raceWindowMicros: 0) == 1, "the session recovers once the lock is free")
        }
    }

    @Test("naive and atomic: a write step that fails is a plain error (indeterminate), never a made-up count",
          arguments: [Mode.naive, Mode.atomic])
    func failedWriteIsIndeterminate(_ mode: Mode) throws {
        try Self.withDatabase { path in
            let session = try SQLiteSession(path: path, busyTimeoutMillis: 50)
            defer { session.close() }
            let holder = try WriteLockHolder(path: path)
            // In WAL mode the read still works; the write cannot get the lock.
            let error = #expect(throws: StoreError.self) { try session.increment(mode: mode, raceWindowMicros: 0) }
            #expect(error?.notCommitted == false, "an autocommit write that fails may have applied: \(error?.message ?? "")")
            #expect(error?.message.contains("database is locked") == true, "\(error?.message ?? "")")
            holder.release()
            #expect(try Self.rawText("SELECT n FROM counter WHERE id = 1", path: path) == "0")
            #expect(try session.increment(mode: mode, raceWindowMicros: 0) == 1)
        }
    }

    @Test("through a worker: a locked increment that could not start answers 503 committed:false; atomic answers a plain 503",
          arguments: [(Mode.locked, true), (Mode.atomic, false)])
    func workerAnswersTheVerdict(_ mode: Mode, notCommitted: Bool) throws {
        let server = try InProcessWorker(mode: mode, busyTimeoutMillis: 50)
        defer { server.stop() }
        let client = try RawHTTPClient(port: server.port)
        defer { client.close() }
        let holder = try WriteLockHolder(path: server.databasePath)
        try client.send(WorkerHTTPLimitsTests.increment)
        let refused = try client.readAnswer(within: 30)
        #expect(refused.status == 503)
        #expect((refused.json?["error"] as? String)?.contains("database is locked") == true, "\(refused.body)")
        #expect(refused.json?["committed"] as? Bool == (notCommitted ? false : nil), "\(refused.body)")
        #expect(refused.header("X-Statelab-Committed") == (notCommitted ? "false" : nil))
        holder.release()
        try client.send(WorkerHTTPLimitsTests.increment)
        let answer = try client.readAnswer(within: 30)
        #expect(answer.status == 200)
        #expect(answer.body.hasPrefix("{\"count\":1,"), "the failed increment left nothing behind: \(answer.body)")
    }

    // MARK: - Busy handler

    @Test("busy handler: waits start at tens of microseconds and grow to at most 1 ms")
    func busyWaitsAreShort() {
        let wait = BusyWait(timeoutMillis: 10_000)
        #expect(wait.firstWait >= 20 && wait.firstWait <= 50)
        #expect(wait.maxWait == 1_000)
        #expect(BusyWait(timeoutMillis: 0).timeoutNanos == 0)
        #expect(BusyWait(timeoutMillis: -5).timeoutNanos == 0)
    }

    @Test("busy handler: gives up once its timeout has passed since the first call of this lock attempt (count 0)")
    func busyWaitGivesUpAfterItsTimeout() {
        let wait = BusyWait(timeoutMillis: 2)
        #expect(wait.retry(count: 0) == 1, "the first busy call starts the clock and waits")
        usleepChecked(5_000)
        #expect(wait.retry(count: 1) == 0, "5 ms after the first call, past the 2 ms timeout")
        #expect(wait.retry(count: 0) == 1, "a new lock attempt (count 0) starts the clock again")
    }

    @Test("a session with a busy timeout gives up with 'database is locked' after it, not before, on a held write lock")
    func sessionGivesUpAfterItsBusyTimeout() throws {
        try Self.withDatabase { path in
            let session = try SQLiteSession(path: path, busyTimeoutMillis: 300)
            defer { session.close() }
            let holder = try WriteLockHolder(path: path)
            defer { holder.release() }
            for mode in [Mode.atomic, .locked] {
                let start = MonotonicClock.now()
                let error = #expect(throws: StoreError.self) { try session.increment(mode: mode, raceWindowMicros: 0) }
                let elapsed = Double(MonotonicClock.now() - start) / 1e9
                #expect(error?.message.contains("database is locked") == true, "\(error?.message ?? "")")
                #expect(elapsed >= 0.3, "\(mode) gave up after \(elapsed) s, before its 300 ms busy timeout")
                // A generous bound: it must not fall back on the 10 s default.
                #expect(elapsed < 9, "\(mode) gave up after \(elapsed) s")
            }
        }
    }

    @Test("a session waiting on a held write lock gets it once the holder lets go")
    func sessionWaitsForAReleasedLock() throws {
        try Self.withDatabase { path in
            let holder = try WriteLockHolder(path: path)
            let values = try ConcurrentThreads.run(2) { index -> [Int] in
                if index == 0 {
                    // The holder lets go after a while; the increment is waiting, or not yet started.
                    usleepChecked(100_000)
                    holder.release()
                    return []
                }
                let session = try SQLiteSession(path: path, busyTimeoutMillis: 30_000)
                defer { session.close() }
                return [try session.increment(mode: .locked, raceWindowMicros: 0)]
            }
            #expect(values == [1])
        }
    }

    @Test("12 connections, atomic and locked mixed: the busy handler's short waits lose nothing and fail nothing")
    func manyConnectionsContendingLoseNothing() throws {
        try Self.withDatabase { path in
            let returned = try ConcurrentThreads.run(12, timeout: 120) { index in
                let session = try SQLiteSession(path: path)
                defer { session.close() }
                let mode: Mode = index % 2 == 0 ? .atomic : .locked
                return try (0..<150).map { _ in try session.increment(mode: mode, raceWindowMicros: 0) }
            }
            let reader = try SQLiteSession(path: path)
            defer { reader.close() }
            #expect(try reader.read() == 1_800)
            #expect(returned.sorted() == Array(1...1_800), "each count handed out exactly once")
        }
    }

    @Test("reset of a database without the counter row is an error, not a silent success")
    func resetOfAMissingRowIsAnError() throws {
        try Self.withDatabase { path in
            let session = try SQLiteSession(path: path)
            defer { session.close() }
            try Self.rawExec("DELETE FROM counter", path: path)
            let error = #expect(throws: StoreError.self) { try session.reset() }
            #expect(error?.message.contains("counter row missing") == true, "\(error?.message ?? "")")
        }
    }
}
