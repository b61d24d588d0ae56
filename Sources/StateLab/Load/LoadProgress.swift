/// A live snapshot of a load run, delivered at most every 100 ms.
public struct LoadProgress: Sendable, Equatable {
    public var completed: Int
    public var ok: Int
    public var fail: Int
    public var indeterminate: Int
    /// Completions per second over the last interval.
    public var currentRate: Double
    /// Seconds since the run began.
    public var elapsed: Double
    /// Ok answers per worker pid so far.
    public var acknowledgedByPid: [Int32: Int]
    /// Answers with one of the app's refusal statuses per worker pid so far.
    public var refusedByPid: [Int32: Int] = [:]
    /// Latency of the answers that arrived in the last interval, in ms (0 when none did).
    public var p50: Double
    public var p99: Double

    public init(
        completed: Int = 0, ok: Int = 0, fail: Int = 0, indeterminate: Int = 0,
        currentRate: Double = 0, elapsed: Double = 0, acknowledgedByPid: [Int32: Int] = [:],
        p50: Double = 0, p99: Double = 0
    ) {
        self.completed = completed
        self.ok = ok
        self.fail = fail
        self.indeterminate = indeterminate
        self.currentRate = currentRate
        self.elapsed = elapsed
        self.acknowledgedByPid = acknowledgedByPid
        self.p50 = p50
        self.p99 = p99
    }
}

/// How much of a load's progress someone shows, so that nobody pays for what
/// nobody sees: the counts and the rate are cheap; a window's p50 and p99 are
/// a second latency histogram recorded per request and a copy of it, with
/// percentiles, every 100 ms (3 to 8 million instructions a tick).
public enum ProgressDetail: Sendable, Equatable {
    /// Nobody watches (`--quiet`, `--format json`, not a terminal): no progress
    /// ticks at all; the final figures are still delivered once.
    case none
    /// A progress line: counts and the rate every 100 ms; p50 and p99 stay 0.
    case counts
    /// The dashboard: the counts and the latency of each interval.
    case latency
}
