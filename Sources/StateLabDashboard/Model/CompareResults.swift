import StateLab

/// One strategy's result in a comparison: the same burst on every strategy.
public struct CompareRow: Sendable, Equatable {
    public var strategy: Strategy
    public var mode: Mode
    public var acknowledged: Int
    public var lost: Int
    public var requestsPerSecond: Double
    /// Why this strategy could not run (the row then has no figures).
    public var unavailableReason: String?

    public init(strategy: Strategy, mode: Mode, acknowledged: Int = 0, lost: Int = 0,
                requestsPerSecond: Double = 0, unavailableReason: String? = nil) {
        self.strategy = strategy
        self.mode = mode
        self.acknowledged = acknowledged
        self.lost = lost
        self.requestsPerSecond = requestsPerSecond
        self.unavailableReason = unavailableReason
    }
}

/// The comparison in progress or last finished.
public struct CompareResults: Sendable, Equatable {
    public var mode: Mode
    public var increments: Int
    /// Strategies in the order they run; rows fill in as each finishes.
    public var strategies: [Strategy]
    public var rows: [CompareRow]
    public var running: Bool

    public init(mode: Mode, increments: Int, strategies: [Strategy] = Strategy.allCases, rows: [CompareRow] = [], running: Bool = true) {
        self.mode = mode
        self.increments = increments
        self.strategies = strategies
        self.rows = rows
        self.running = running
    }

    public func row(for strategy: Strategy) -> CompareRow? {
        rows.last { $0.strategy == strategy }
    }
}
