import NIOConcurrencyHelpers

/// Hands out store sessions to the worker's store threads: one session per
/// concurrent call, created on demand and reused, so each thread keeps its own
/// connection to the manager, redis or SQLite.
///
/// When the store is down, a failed connect starts a capped backoff: until it
/// ends, calls fail at once with that failure (nothing was sent, so the
/// increment certainly did not apply) instead of every request trying to
/// connect again. The first connect after the backoff that works ends it.
public final class SessionPool: Sendable {
    private let factory: @Sendable () throws -> CounterSession
    private let idle = NIOLockedValueBox<[SessionBox]>([])
    private let outage = NIOLockedValueBox<Outage?>(nil)

    /// The first pause after a failed connect, doubled after each failure up to `maxBackoff`.
    static let firstBackoff: UInt64 = 20_000_000
    static let maxBackoff: UInt64 = 1_000_000_000

    private struct Outage {
        var error: StoreError
        var retryAt: UInt64
        var backoff: UInt64
    }

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
        let now = MonotonicClock.now()
        if let waiting = outage.withLockedValue({ $0 }), now < waiting.retryAt {
            throw waiting.error
        }
        do {
            let session = try factory()
            outage.withLockedValue { $0 = nil }
            return SessionBox(session)
        } catch {
            let failure = StoreError("\((error as? StoreError)?.message ?? "\(error)") (reconnecting)", notCommitted: true)
            outage.withLockedValue { state in
                let backoff = min((state?.backoff ?? Self.firstBackoff / 2) * 2, Self.maxBackoff)
                state = Outage(error: failure, retryAt: MonotonicClock.now() + backoff, backoff: backoff)
            }
            throw failure
        }
    }
}

/// A session moves between store threads but is used by one at a time.
final class SessionBox: @unchecked Sendable {
    let session: CounterSession
    init(_ session: CounterSession) { self.session = session }
}
