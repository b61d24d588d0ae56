/// One connection (or handle) to a strategy's counter. Calls block, so workers
/// make them on a thread pool, never on an event loop. A session is used by one
/// thread at a time; a worker keeps a pool of them.
public protocol CounterSession: AnyObject {
    /// The current value.
    func read() throws -> Int
    /// Increments in `mode`, pausing `window.micros` between read and write
    /// where the mode has both (and noting when each happened, when the window
    /// carries marks); returns the value this increment wrote, as this session saw it.
    func increment(mode: Mode, window: RaceWindow) throws -> Int
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

extension CounterSession {
    /// An increment with no marks: the pause only.
    public func increment(mode: Mode, raceWindowMicros: Int) throws -> Int {
        try increment(mode: mode, window: RaceWindow(micros: raceWindowMicros))
    }
}

/// What happens between an increment's read and its write: a pause that
/// widens the race for teaching demos, and, when a report draws the race,
/// the times of the read and the write (`IncrementMarks`).
public struct RaceWindow {
    public var micros: Int
    let marks: IncrementMarks?

    public init(micros: Int, marks: IncrementMarks? = nil) {
        self.micros = micros
        self.marks = marks
    }

    /// The read is done and saw `value`: note it, then pause.
    @inline(__always)
    func afterRead(_ value: Int) {
        if let marks {
            marks.readAt = MonotonicClock.now()
            marks.readValue = value
        }
        if micros > 0 { usleepChecked(micros) }
    }

    /// The write is done (committed, for a transaction).
    @inline(__always)
    func afterWrite() {
        marks?.wroteAt = MonotonicClock.now()
    }
}

/// When one increment read and wrote, filled in by the one thread (or event
/// loop) that runs it and read once it is done: the future that ends it
/// orders the two.
public final class IncrementMarks: @unchecked Sendable {
    var readAt: UInt64 = 0
    var readValue = 0
    var wroteAt: UInt64 = 0

    public init() {}

    /// Both happened: the trace the worker answers with.
    public var trace: IncrementTrace? {
        readAt > 0 && wroteAt >= readAt ? IncrementTrace(readAt: readAt, readValue: readValue, wroteAt: wroteAt) : nil
    }
}

/// When a worker read the counter, what it read and when its write was done,
/// on the machine's monotonic clock (the load generator's clock too).
public struct IncrementTrace: Sendable, Equatable, Codable {
    public var readAt: UInt64
    public var readValue: Int
    public var wroteAt: UInt64

    public init(readAt: UInt64, readValue: Int, wroteAt: UInt64) {
        self.readAt = readAt
        self.readValue = readValue
        self.wroteAt = wroteAt
    }

    /// `X-Statelab-Trace: READ_NS READ_VALUE WROTE_NS`, the header a traced answer carries.
    public static let header = "X-Statelab-Trace"
    public var headerValue: String { "\(readAt) \(readValue) \(wroteAt)" }

    /// Parses a header value; nil when it is not three numbers.
    public init?(headerValue: some StringProtocol) {
        let parts = headerValue.split(separator: " ")
        guard parts.count == 3, let readAt = UInt64(parts[0]), let readValue = Int(parts[1]),
              let wroteAt = UInt64(parts[2]) else { return nil }
        self.init(readAt: readAt, readValue: readValue, wroteAt: wroteAt)
    }
}

#if canImport(Glibc)
import Glibc
#endif

func usleepChecked(_ micros: Int) {
    var request = timespec(tv_sec: micros / 1_000_000, tv_nsec: (micros % 1_000_000) * 1_000)
    var remaining = timespec()
    while nanosleep(&request, &remaining) == -1 && errno == EINTR { request = remaining }
}
