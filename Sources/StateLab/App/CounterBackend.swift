import NIOCore
import NIOPosix

/// How a worker's HTTP handlers reach the counter. Every call answers with a
/// future on the event loop it is given, so a handler never blocks its loop:
/// blocking sessions go to the store threads (`ThreadPoolBackend`), an
/// asynchronous client runs on the loop itself (`PostgresBackend`).
public protocol CounterBackend: Sendable {
    /// Increments in the worker's mode; the value this increment wrote.
    func increment(on loop: EventLoop) -> EventLoopFuture<Int>
    func read(on loop: EventLoop) -> EventLoopFuture<Int>
    func reset(on loop: EventLoop) -> EventLoopFuture<Void>
    /// Extra JSON fields for /report, each led by a comma ("" when none).
    var reportFields: String { get }
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

    var reportFields: String { retries.map { ",\"retries\":\($0())" } ?? "" }
}
