import NIOConcurrencyHelpers

/// Hands out store sessions to the worker's store threads: one session per
/// concurrent call, created on demand and reused, so each thread keeps its own
/// connection to the manager, redis or SQLite.
/// While the store is down, connects follow a `ReconnectBackoff`.
public final class SessionPool: Sendable {
    private let factory: @Sendable () throws -> CounterSession
    private let idle = NIOLockedValueBox<[SessionBox]>([])
    private let backoff = NIOLockedValueBox(ReconnectBackoff())

    public init(factory: @escaping @Sendable () throws -> CounterSession) {
        self.factory = factory
    }

    /// Runs `body` with a session; a session that threw is dropped, not reused,
    /// since its connection may be in an unknown state.
    public func withSession<T>(_ body: (CounterSession) throws -> T) throws -> T {
        let box = try idle.withLockedValue { $0.popLast() } ?? connect()
        do {
            let result = try body(box.session)
            idle.withLockedValue { $0.append(box) }
            return result
        } catch {
            box.session.close()
            throw error
        }
    }

    private func connect() throws -> SessionBox {
        if let failure = backoff.withLockedValue({ $0.waiting() }) { throw failure }
        do {
            let session = try factory()
            backoff.withLockedValue { $0.connected() }
            return SessionBox(session)
        } catch {
            throw backoff.withLockedValue { $0.failed((error as? StoreError)?.message ?? "\(error)") }
        }
    }
}

/// A session moves between store threads but is used by one at a time.
final class SessionBox: @unchecked Sendable {
    let session: CounterSession
    init(_ session: CounterSession) { self.session = session }
}
