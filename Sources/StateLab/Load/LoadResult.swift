/// Latency percentiles in milliseconds.
public struct LatencySummary: Sendable, Equatable, Codable {
    public var p50: Double
    public var p90: Double
    public var p99: Double
    public var p999: Double
    public var max: Double

    public init(p50: Double = 0, p90: Double = 0, p99: Double = 0, p999: Double = 0, max: Double = 0) {
        self.p50 = p50
        self.p90 = p90
        self.p99 = p99
        self.p999 = p999
        self.max = max
    }
}

/// What one worker pid acknowledged during a run.
public struct PidTally: Sendable, Equatable, Codable {
    /// Ok answers that came from this pid.
    public var acknowledged: Int
    /// The lowest and highest count this pid returned in an ok answer.
    public var minCount: Int?
    public var maxCount: Int?
    /// Answers with one of the app's refusal statuses (409, 429 ...) from this pid.
    public var refused = 0

    public init(acknowledged: Int = 0, minCount: Int? = nil, maxCount: Int? = nil) {
        self.acknowledged = acknowledged
        self.minCount = minCount
        self.maxCount = maxCount
    }

    mutating func acknowledge(count: Int?) {
        acknowledged += 1
        guard let count else { return }
        minCount = Swift.min(minCount ?? count, count)
        maxCount = Swift.max(maxCount ?? count, count)
    }

    mutating func merge(_ other: PidTally) {
        acknowledged += other.acknowledged
        refused += other.refused
        if let low = other.minCount { minCount = Swift.min(minCount ?? low, low) }
        if let high = other.maxCount { maxCount = Swift.max(maxCount ?? high, high) }
    }
}

/// Everything a load run measured.
public struct LoadResult: Sendable {
    /// One record per attempted request, in no particular order; empty when
    /// they streamed to a `HistoryRecorder` instead.
    public var increments: [IncrementRecord]
    public var okCount: Int
    public var failCount: Int
    public var indeterminateCount: Int
    public var attempted: Int { okCount + failCount + indeterminateCount }
    /// Seconds from the start of the run to its last answer.
    public var elapsed: Double
    /// Ok answers per second.
    public var throughput: Double
    /// The open model's target rate; nil for the closed model.
    public var targetRate: Double?
    /// Requests attempted per second.
    public var achievedRate: Double
    /// Latency of every request that got an answer (from the intended send time in the open model).
    public var latency: LatencySummary
    public var perPid: [Int32: PidTally]
    /// True when the run was stopped early (stop() or task cancellation).
    public var stoppedEarly: Bool
    /// The status (404, 405) every answer gave before the load stopped itself: the path is not the app's.
    public var misrouted: Int? = nil
    /// Answers whose own pid (field or X-Worker-Pid) was not the worker /proc found: how many, and the first.
    public var pidDisagreements = 0
    public var firstPidDisagreement: String? = nil
}
