import StateLab

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
