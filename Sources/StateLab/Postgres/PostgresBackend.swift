import Atomics
import NIOCore
import PostgresNIO

/// What a worker needs to reach PostgreSQL; part of the worker spec.
public struct PostgresWorkerSettings: Sendable, Codable, Equatable {
    public var url: PostgresURL
    public var connections: Int
    public var retries: Int

    public init(url: PostgresURL, connections: Int, retries: Int) {
        self.url = url
        self.connections = connections
        self.retries = retries
    }
}

/// A worker's counter in PostgreSQL, with PostgresNIO on the worker's own event
/// loop: no store threads, no thread hop. The race window is a task scheduled
/// on the loop, never a sleep.
///
/// Each connection prepares its statements once (PREPARE) and runs them with
/// EXECUTE. The modes:
/// - naive: autocommit `SELECT n`, then `UPDATE ... SET n = $1` (an ORM's
///   `count += 1; save()`): two transactions, updates can be lost;
/// - locked: `BEGIN; SELECT ... FOR UPDATE; UPDATE; COMMIT`;
/// - atomic: `UPDATE ... SET n = n + 1 RETURNING n`;
/// - serializable: the naive read and write inside `BEGIN ISOLATION LEVEL
///   REPEATABLE READ`, where PostgreSQL refuses the lost update with SQLSTATE
///   40001; the transaction is retried after a short random pause, up to
///   `retries` times, then answered as not committed.
final class PostgresBackend: CounterBackend {
    private let loop: EventLoop
    private let pool: NIOLoopBoundBox<PostgresConnectionPool>
    private let mode: Mode
    private let window: TimeAmount?
    private let maxRetries: Int
    /// Transactions serializable mode ran again after a serialization failure.
    let retries = ManagedAtomic<Int>(0)

    init(loop: EventLoop, settings: PostgresWorkerSettings, mode: Mode, raceWindowMicros: Int) throws {
        self.loop = loop
        let configuration = try settings.url.configuration(timeout: 5)
        // Made off the loop, used only on it.
        self.pool = NIOLoopBoundBox.makeBoxSendingValue(
            PostgresConnectionPool(loop: loop, configuration: configuration, size: settings.connections),
            as: PostgresConnectionPool.self, eventLoop: loop)
        self.mode = mode
        self.window = raceWindowMicros > 0 ? .microseconds(Int64(raceWindowMicros)) : nil
        self.maxRetries = settings.retries
    }

    private enum Operation { case increment, read, reset }

    func increment(on caller: EventLoop) -> EventLoopFuture<Int> {
        perform(.increment).hop(to: caller)
    }

    func tracedIncrement(on caller: EventLoop) -> EventLoopFuture<(Int, IncrementTrace?)> {
        let marks = IncrementMarks()
        return perform(.increment, marks: marks).map { ($0, marks.trace) }.hop(to: caller)
    }

    func read(on caller: EventLoop) -> EventLoopFuture<Int> {
        perform(.read).hop(to: caller)
    }

    func reset(on caller: EventLoop) -> EventLoopFuture<Void> {
        perform(.reset).map { _ in () }.hop(to: caller)
    }

    var reportFields: String {
        mode == .serializable ? ",\"retries\":\(retries.load(ordering: .relaxed))" : ""
    }

    private func perform(_ operation: Operation, marks: IncrementMarks? = nil) -> EventLoopFuture<Int> {
        guard loop.inEventLoop else { return loop.flatSubmit { self.perform(operation, marks: marks) } }
        let pool = self.pool.value
        return pool.lease().assumeIsolated().flatMap { connection in
            var broken = false
            return self.run(operation, on: connection, marks: marks).assumeIsolated().flatMapError { error in
                // A statement the server refused (or our own refusal after a ROLLBACK) leaves the
                // connection usable; anything else may not.
                broken = !(PostgresFailure.isServerError(error) || error is StoreError)
                return self.loop.makeFailedFuture(PostgresFailure.storeError(error))
            }.always { _ in
                pool.release(connection, broken: broken)
            }.nonisolated()
        }.nonisolated()
    }

    private func run(_ operation: Operation, on connection: PostgresConnection, marks: IncrementMarks?) -> EventLoopFuture<Int> {
        switch operation {
        case .read:
            return value("EXECUTE statelab_read", on: connection)
        case .reset:
            return write("EXECUTE statelab_reset", on: connection).map { 0 }
        case .increment:
            switch mode {
            case .naive:
                return readThenWrite(read: "EXECUTE statelab_read", on: connection, marks: marks)
            case .locked:
                // Written once COMMIT is done: only then can another transaction see it.
                return transaction("BEGIN", on: connection) {
                    self.readThenWrite(read: "EXECUTE statelab_read_for_update", on: connection, marks: marks)
                }.map { marks?.wroteAt = MonotonicClock.now(); return $0 }
            case .atomic:
                return value("EXECUTE statelab_increment", on: connection)
            case .serializable:
                return serializable(on: connection, attempt: 0, marks: marks)
                    .map { marks?.wroteAt = MonotonicClock.now(); return $0 }
            }
        }
    }

    private func readThenWrite(read: String, on connection: PostgresConnection, marks: IncrementMarks?) -> EventLoopFuture<Int> {
        value(read, on: connection).assumeIsolated().flatMap { current in
            marks?.readAt = MonotonicClock.now()
            marks?.readValue = current
            return self.pause(self.window).assumeIsolated().flatMap {
                self.write("EXECUTE statelab_write(\(current + 1))", on: connection).map {
                    marks?.wroteAt = MonotonicClock.now()
                    return current + 1
                }
            }.nonisolated()
        }.nonisolated()
    }

    private func serializable(on connection: PostgresConnection, attempt: Int, marks: IncrementMarks? = nil) -> EventLoopFuture<Int> {
        transaction("BEGIN ISOLATION LEVEL REPEATABLE READ", on: connection) {
            self.readThenWrite(read: "EXECUTE statelab_read", on: connection, marks: marks)
        }.assumeIsolated().flatMapError { error in
            guard PostgresFailure.isRetryable(error) else { return self.loop.makeFailedFuture(error) }
            guard attempt < self.maxRetries else {
                return self.loop.makeFailedFuture(StoreError(
                    "not committed: serialization failure (SQLSTATE 40001) on \(attempt + 1) tries; raise --serializable-retries",
                    notCommitted: true))
            }
            self.retries.wrappingIncrement(ordering: .relaxed)
            // Full jitter, capped: the transactions that collided do not collide again in step.
            let cap = min(100 << min(attempt, 6), 5_000)
            return self.pause(.microseconds(Int64.random(in: 0...Int64(cap)))).assumeIsolated().flatMap {
                self.serializable(on: connection, attempt: attempt + 1, marks: marks)
            }.nonisolated()
        }.nonisolated()
    }

    /// `begin`, `body`, COMMIT; ROLLBACK when any of it fails, then the failure.
    private func transaction(_ begin: String, on connection: PostgresConnection,
                             _ body: @escaping () -> EventLoopFuture<Int>) -> EventLoopFuture<Int> {
        command(begin, on: connection).assumeIsolated().flatMap {
            body().assumeIsolated().flatMap { result in
                self.command("COMMIT", on: connection).map { result }
            }.nonisolated()
        }.flatMapError { error in
            self.command("ROLLBACK", on: connection).assumeIsolated().flatMapThrowing { throw error }
                .flatMapError { rollbackError in
                    // The connection is in an unknown state (perform drops it); report the first failure.
                    return self.loop.makeFailedFuture(PostgresFailure.isServerError(error) ? error : rollbackError)
                }.nonisolated()
        }.nonisolated()
    }

    private func pause(_ delay: TimeAmount?) -> EventLoopFuture<Void> {
        guard let delay else { return loop.makeSucceededVoidFuture() }
        return loop.scheduleTask(in: delay) {}.futureResult
    }

    private func value(_ sql: String, on connection: PostgresConnection) -> EventLoopFuture<Int> {
        connection.query(PostgresQuery(unsafeSQL: sql), logger: PostgresCounterTable.silent).flatMapThrowing { result in
            guard let row = result.rows.first else { throw PostgresBackend.missingRow }
            return try row.decode(Int.self)
        }
    }

    /// An UPDATE of the counter's row: one that changed no row found it missing.
    private func write(_ sql: String, on connection: PostgresConnection) -> EventLoopFuture<Void> {
        connection.query(PostgresQuery(unsafeSQL: sql), logger: PostgresCounterTable.silent).flatMapThrowing { result in
            if result.metadata.rows == 0 { throw PostgresBackend.missingRow }
        }
    }

    /// BEGIN, COMMIT or ROLLBACK.
    private func command(_ sql: String, on connection: PostgresConnection) -> EventLoopFuture<Void> {
        connection.query(PostgresQuery(unsafeSQL: sql), logger: PostgresCounterTable.silent).map { _ in }
    }

    static let missingRow = StoreError(
        "postgres: the statelab_counter row 'counter' is missing; restart the app to create it", notCommitted: true)
}

/// A worker's connections: at most `size`, opened on demand, each with the
/// counter statements prepared. Used only on its event loop.
final class PostgresConnectionPool {
    private let loop: EventLoop
    private let configuration: PostgresConnection.Configuration
    private let size: Int
    private var idle: [PostgresConnection] = []
    /// Open or opening.
    private var opened = 0
    private var waiters = CircularBuffer<EventLoopPromise<PostgresConnection>>()
    private var nextID = 1
    private var backoff = ReconnectBackoff()

    /// Sent once per connection. First read committed, whatever the server's
    /// default: a single-statement autocommit write then cannot
    /// fail at commit. That matters because the server commits it at Sync,
    /// after CommandComplete (it flushes both together, with ReadyForQuery, so
    /// a server that dies in between sends neither); only a commit-time error
    /// (serializable's, on a server whose default is serializable) could follow
    /// a CommandComplete the client has already taken as success. Then the
    /// counter's statements, each run afterwards with EXECUTE.
    static let statements = [
        "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED",
        "PREPARE statelab_read AS SELECT n FROM statelab_counter WHERE k = 'counter'",
        "PREPARE statelab_read_for_update AS SELECT n FROM statelab_counter WHERE k = 'counter' FOR UPDATE",
        "PREPARE statelab_write(bigint) AS UPDATE statelab_counter SET n = $1 WHERE k = 'counter'",
        "PREPARE statelab_increment AS UPDATE statelab_counter SET n = n + 1 WHERE k = 'counter' RETURNING n",
        "PREPARE statelab_reset AS UPDATE statelab_counter SET n = 0 WHERE k = 'counter'",
    ]

    init(loop: EventLoop, configuration: PostgresConnection.Configuration, size: Int) {
        self.loop = loop
        self.configuration = configuration
        self.size = size
    }

    func lease() -> EventLoopFuture<PostgresConnection> {
        while let connection = idle.popLast() {
            if !connection.isClosed { return loop.makeSucceededFuture(connection) }
            opened -= 1
        }
        if opened < size {
            if let failure = backoff.waiting() { return loop.makeFailedFuture(failure) }
            return open()
        }
        let promise = loop.makePromise(of: PostgresConnection.self)
        waiters.append(promise)
        return promise.futureResult
    }

    /// Gives a connection back; a broken or closed one is closed and makes room for a new connection.
    func release(_ connection: PostgresConnection, broken: Bool) {
        if !broken && !connection.isClosed {
            if let waiter = waiters.popFirst() { waiter.succeed(connection) } else { idle.append(connection) }
            return
        }
        connection.close().whenComplete { _ in }
        opened -= 1
        if let waiter = waiters.popFirst() { open().cascade(to: waiter) }
    }

    private func open() -> EventLoopFuture<PostgresConnection> {
        opened += 1
        let id = nextID
        nextID += 1
        return PostgresConnection.connect(on: loop, configuration: configuration, id: id, logger: PostgresCounterTable.silent)
            .flatMap { connection in
                Self.prepare(connection, Self.statements[...]).map { connection }.flatMapError { error in
                    connection.close().flatMapThrowing { throw error }
                }
            }
            .assumeIsolated().map { connection in
                self.backoff.connected()
                return connection
            }.flatMapError { error in
                // Nothing was sent: the caller's increment certainly did not happen.
                let failure = self.backoff.failed(PostgresFailure.storeError(error).message)
                self.opened -= 1
                // A waiter would otherwise wait for a connection that never comes.
                if let waiter = self.waiters.popFirst() { self.open().cascade(to: waiter) }
                return self.loop.makeFailedFuture(failure)
            }.nonisolated()
    }

    private static func prepare(_ connection: PostgresConnection, _ statements: ArraySlice<String>) -> EventLoopFuture<Void> {
        guard let first = statements.first else { return connection.eventLoop.makeSucceededVoidFuture() }
        return connection.query(PostgresQuery(unsafeSQL: first), logger: PostgresCounterTable.silent).flatMap { _ in
            prepare(connection, statements.dropFirst())
        }
    }
}
