import NIOConcurrencyHelpers

/// Hands out store sessions to the worker's store threads: one session per
/// concurrent call, created on demand and reused, so each thread keeps its own
/// connection to the manager, redis or SQLite.
public final class SessionPool: Sendable {
    private let factory: @Sendable () throws -> CounterSession
    private let idle = NIOLockedValueBox<[SessionBox]>([])

    public init(factory: @escaping @Sendable () throws -> CounterSession) {
        self.factory = factory
    }

    /// Runs `body` with a session; a session that threw is dropped, not reused,
    /// since its connection may be in an unknown state.
    public func withSession<T>(_ body: (CounterSession) throws -> T) throws -> T {
        let box = try idle.withLockedValue { $0.popLast() } ?? SessionBox(factory())
        do {
            let result = try body(box.session)
            idle.withLockedValue { $0.append(box) }
            return result
        } catch {
            box.session.close()
            throw error
        }
    }
}

/// A session moves between store threads but is used by one at a time.
final class SessionBox: @unchecked Sendable {
    let session: CounterSession
    init(_ session: CounterSession) { self.session = session }
}
