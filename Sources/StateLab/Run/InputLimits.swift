/// The documented range of every number statelab takes, whether from a flag
/// or a scenario key: one table, so both refuse the same values in the same
/// words, before anything starts. A value outside its range (0 where 0 means
/// nothing, negative, tiny, huge, inf, nan) is refused here rather than
/// trapping later in an integer conversion or a report's arithmetic.
public enum InputLimits {
    public static let workers = 1...64
    /// Namespaced hosts of `--hosts` (a /27 holds them, with the bridge and the store host).
    public static let hosts = 1...16
    public static let raceWindowMicros = 0...1_000_000
    public static let storeThreads = 1...64
    public static let increments = 1...100_000_000
    public static let concurrency = 1...4096
    public static let loadThreads = 1...16
    public static let port = 0...65_535
    public static let burst = 1...10_000_000
    public static let fps = 1...60
    /// A limit's count (--limit N, N/window) and a token bucket's burst.
    public static let limitCount = 1...100_000_000
    public static let iterations = 1...10_000_000
    public static let postgresConnections = 1...64
    public static let serializableRetries = 0...1000
    /// Increments per second of the open model. Below 0.1/s a run of an hour
    /// sends a few hundred; above a million, this machine cannot keep the schedule.
    public static let rate = 0.1...1_000_000.0
    /// Seconds before one request counts as timed out.
    public static let timeoutSeconds = 0.001...600.0
    /// How long a load may send.
    public static let durationSeconds = 0.001...3600.0
    /// How long a launched app has to answer its ready path.
    public static let readySeconds = 0.1...600.0
    /// How long a process group has after SIGTERM before SIGKILL.
    public static let graceSeconds = 0.0...600.0

    /// A scenario file larger than this is refused unread: the shipped ones are a few KiB.
    public static let scenarioBytes = 1 << 20
    /// A scenario with more runs than this is refused.
    public static let scenarioRuns = 1...256

    /// "--rate must be a number from 0.1 to 1000000 (got 1e-300)", or nil when `value` is in range.
    public static func problem(_ name: String, _ value: Double, in range: ClosedRange<Double>, unit: String = "") -> String? {
        guard !range.contains(value) else { return nil }  // false for nan too
        return "\(name) must be a number from \(plain(range.lowerBound)) to \(plain(range.upperBound))\(unit) (got \(plain(value)))"
    }

    /// "--workers must be a whole number from 1 to 64 (got 0)", or nil when `value` is in range.
    public static func problem(_ name: String, _ value: Int, in range: ClosedRange<Int>) -> String? {
        guard !range.contains(value) else { return nil }
        return "\(name) must be a whole number from \(range.lowerBound) to \(range.upperBound) (got \(value))"
    }

    /// A number as people write it: 5, 0.1, 1e-300, inf, nan; never a crash.
    static func plain(_ value: Double) -> String {
        if value.isNaN { return "nan" }
        if value.isInfinite { return value < 0 ? "-inf" : "inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }
}
