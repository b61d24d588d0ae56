/// One connection (or handle) to a strategy's counter. Calls block, so workers
/// make them on a thread pool, never on an event loop. A session is used by one
/// thread at a time; a worker keeps a pool of them.
public protocol CounterSession: AnyObject {
    /// The current value.
    func read() throws -> Int
    /// Increments in `mode`, sleeping `raceWindowMicros` between read and write
    /// where the mode has both; returns the value this increment wrote, as this
    /// session saw it.
    func increment(mode: Mode, raceWindowMicros: Int) throws -> Int
    /// Sets the counter to 0.
    func reset() throws
    /// Releases the connection; the session is not used afterwards.
    func close()
}

/// A store failure: the HTTP layer answers 503 with `message`.
public struct StoreError: Error, CustomStringConvertible, Sendable {
    public var message: String
    /// True when the store says for certain the write did not happen (the
    /// client may count the increment as failed, not indeterminate).
    public var notCommitted: Bool
    public init(_ message: String, notCommitted: Bool = false) {
        self.message = message
        self.notCommitted = notCommitted
    }
    public var description: String { message }

    /// A mode the strategy does not have (validation refuses it before any worker starts).
    static func noSuchMode(_ mode: Mode, for strategy: Strategy) -> StoreError {
        StoreError(strategy.modeProblem(mode) ?? "\(strategy.rawValue) has no \(mode.rawValue) mode", notCommitted: true)
    }
}

/// Sleeps between a read and a write to widen the race for teaching demos.
@inline(__always)
func raceWindow(_ micros: Int) {
    if micros > 0 { usleepChecked(micros) }
}

#if canImport(Glibc)
import Glibc
#endif

func usleepChecked(_ micros: Int) {
    var request = timespec(tv_sec: micros / 1_000_000, tv_nsec: (micros % 1_000_000) * 1_000)
    var remaining = timespec()
    while nanosleep(&request, &remaining) == -1 && errno == EINTR { request = remaining }
}
