import NIOConcurrencyHelpers

/// The module-level counter every Python tutorial starts with: one per worker
/// process, so workers never see each other's increments.
public final class GlobalSession: CounterSession {
    /// The per-process variable. Threads of one worker share it under a lock,
    /// as one uvicorn worker's event loop would: within a process nothing is lost.
    static let counter = NIOLockedValueBox(0)

    public init() {}

    public func read() throws -> Int { Self.counter.withLockedValue { $0 } }

    public func increment(mode: Mode, window: RaceWindow) throws -> Int {
        Self.counter.withLockedValue { count in
            let seen = count
            window.afterRead(seen)
            count = seen + 1
            window.afterWrite()
            return count
        }
    }

    public func reset() throws { Self.counter.withLockedValue { $0 = 0 } }
    public func close() {}
}
