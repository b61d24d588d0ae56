import NIOCore
import NIOPosix

/// How a worker's HTTP handlers reach the counter. Every call answers with a
/// future on the event loop it is given, so a handler never blocks its loop:
/// blocking sessions go to the store threads (`ThreadPoolBackend`), an
/// asynchronous client runs on the loop itself (`PostgresBackend`).
public protocol CounterBackend: Sendable {
    /// Increments in the worker's mode; the value this increment wrote.
    func increment(on loop: EventLoop) -> EventLoopFuture<Int>
    /// The same, with when the increment read (and what) and when it wrote,
    /// for a mode that reads then writes (naive, locked); nil otherwise.
    func tracedIncrement(on loop: EventLoop) -> EventLoopFuture<(Int, IncrementTrace?)>
    func read(on loop: EventLoop) -> EventLoopFuture<Int>
    func reset(on loop: EventLoop) -> EventLoopFuture<Void>
    /// Extra JSON fields for /report, each led by a comma ("" when none).
    var reportFields: String { get }
    /// Set when increments and reads run on the event loop at once (`InlineBackend`).
    var inline: (any InlineCounter)? { get }
}

/// Blocking store sessions (global, shm, SQLite, manager, redis) made on the
/// worker's store threads, one session per thread at a time.
struct ThreadPoolBackend: CounterBackend {
    let sessions: SessionPool
    let threads: NIOThreadPool
    let mode: Mode
    let raceWindowMicros: Int
    /// The worker's transactions retried so far, for a mode that retries (redis locked).
    var retries: (@Sendable () -> Int)? = nil

    func increment(on loop: EventLoop) -> EventLoopFuture<Int> {
        let (sessions, mode, window) = (self.sessions, self.mode, self.raceWindowMicros)
        return threads.runIfActive(eventLoop: loop) {
            try sessions.withSession { try $0.increment(mode: mode, raceWindowMicros: window) }
        }
    }

    func read(on loop: EventLoop) -> EventLoopFuture<Int> {
        let sessions = self.sessions
        return threads.runIfActive(eventLoop: loop) { try sessions.withSession { try $0.read() } }
    }

    func reset(on loop: EventLoop) -> EventLoopFuture<Void> {
        let sessions = self.sessions
        return threads.runIfActive(eventLoop: loop) { try sessions.withSession { try $0.reset() } }
    }

    func tracedIncrement(on loop: EventLoop) -> EventLoopFuture<(Int, IncrementTrace?)> {
        let (sessions, mode, micros) = (self.sessions, self.mode, self.raceWindowMicros)
        return threads.runIfActive(eventLoop: loop) {
            let marks = IncrementMarks()
            let count = try sessions.withSession { try $0.increment(mode: mode, window: RaceWindow(micros: micros, marks: marks)) }
            return (count, marks.trace)
        }
    }

    var reportFields: String { retries.map { ",\"retries\":\($0())" } ?? "" }
}

/// A store call that costs less than a hop to a store thread and never blocks
/// (no lock another process can hold, no race-window sleep): the connection
/// handler makes it on its event loop and answers at once.
public protocol InlineCounter: Sendable {
    func increment() throws -> Int
    func read() throws -> Int
}

extension CounterBackend {
    var inline: (any InlineCounter)? { nil }

    /// A backend whose increments do not read then write: no trace.
    func tracedIncrement(on loop: EventLoop) -> EventLoopFuture<(Int, IncrementTrace?)> {
        increment(on: loop).map { ($0, nil) }
    }
}

/// global (any mode) and shm atomic or naive, all without a race window:
/// increments and reads on the worker's one event loop through one session.
/// A reset stays on the store threads: on shm it takes the cross-process lock,
/// which a stopped or dying worker can hold.
struct InlineBackend: CounterBackend {
    /// The session, used only on the worker's one event loop.
    final class LoopSession: InlineCounter, @unchecked Sendable {
        private let session: CounterSession
        private let mode: Mode

        init(session: CounterSession, mode: Mode) {
            self.session = session
            self.mode = mode
        }

        func increment() throws -> Int { try session.increment(mode: mode, raceWindowMicros: 0) }

        func tracedIncrement() throws -> (Int, IncrementTrace?) {
            let marks = IncrementMarks()
            let count = try session.increment(mode: mode, window: RaceWindow(micros: 0, marks: marks))
            return (count, marks.trace)
        }
        func read() throws -> Int { try session.read() }
    }

    let threads: ThreadPoolBackend
    let session: LoopSession

    /// Whether a strategy and mode qualify: the call neither blocks nor sleeps.
    static func serves(_ strategy: Strategy, _ mode: Mode, raceWindowMicros: Int) -> Bool {
        guard raceWindowMicros == 0 else { return false }
        switch strategy {
        case .global: return true
        case .shm: return mode == .atomic || mode == .naive
        case .manager, .sqlite, .redis, .postgres: return false
        }
    }

    var inline: (any InlineCounter)? { session }

    func increment(on loop: EventLoop) -> EventLoopFuture<Int> {
        loop.makeCompletedFuture { try session.increment() }
    }

    func tracedIncrement(on loop: EventLoop) -> EventLoopFuture<(Int, IncrementTrace?)> {
        loop.makeCompletedFuture { try session.tracedIncrement() }
    }

    func read(on loop: EventLoop) -> EventLoopFuture<Int> {
        loop.makeCompletedFuture { try session.read() }
    }

    func reset(on loop: EventLoop) -> EventLoopFuture<Void> { threads.reset(on: loop) }

    var reportFields: String { threads.reportFields }
}
