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
