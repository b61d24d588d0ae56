import StateLab

/// What is drawn on top of the panels.
public enum Overlay: Sendable, Equatable {
    case none
    case help
    /// `cursor` indexes `Strategy.allCases`.
    case strategyPicker(cursor: Int)
    /// `cursor` indexes `pickableModes`.
    case modePicker(cursor: Int)
    case compare
    /// The latest witnessed lost update, drawn as its interleaving.
    case race
}

/// A burst under way.
public struct BurstProgress: Sendable, Equatable {
    public var done: Int
    public var total: Int

    public init(done: Int, total: Int) {
        self.done = done
        self.total = total
    }

    public var fraction: Double { total <= 0 ? 0 : min(1, Double(done) / Double(total)) }
}

/// Everything the dashboard shows, as plain values: the renderer draws only
/// this, and only `apply(_:)` (engine news) and the key table change it.
public struct DashboardModel: Sendable, Equatable {
    public var settings: DashboardSettings
    /// Strategies that cannot run on this machine, with the one-line reason and fix.
    public var unavailableStrategies: [Strategy: String]
    public var workers: [WorkerRow]
    /// The row `r` and `k` act on (an index into `workers`).
    public var selectedWorker: Int
    /// The last check, as the verdict box shows it.
    public var totals: RunTotals
    /// The burst in flight's figures so far, unchecked (nil between bursts).
    public var live: LiveFigures?
    public var throughput: SampleHistory
    /// The latest throughput sample (live req/s).
    public var requestsPerSecond: Double
    public var p50Milliseconds: Double?
    public var p99Milliseconds: Double?
    public var log: EventLog
    public var burst: BurstProgress?
    public var paused: Bool
    public var overlay: Overlay
    public var compare: CompareResults?
    /// Seconds since the dashboard started (the loop sets it every frame).
    public var elapsedSeconds: Double
    /// Set by the quit key; the loop stops after the frame.
    public var quitRequested: Bool
    /// What the last burst's figures point to ("latency-floor: ..."), shown under the verdict.
    public var diagnosis: [String] = []
    /// The latest witnessed lost update, as the run's session kept it after the last check
    /// (nil before one is witnessed, and after a relaunch): what the race view draws.
    public var race: RaceTrace?

    public init(settings: DashboardSettings,
                unavailableStrategies: [Strategy: String] = [:],
                workers: [WorkerRow] = [],
                totals: RunTotals = RunTotals(),
                logCapacity: Int = 200,
                throughputCapacity: Int = 240) {
        self.settings = settings
        self.unavailableStrategies = unavailableStrategies
        self.workers = workers
        self.selectedWorker = 0
        self.totals = totals
        self.throughput = SampleHistory(capacity: throughputCapacity)
        self.requestsPerSecond = 0
        self.p50Milliseconds = nil
        self.p99Milliseconds = nil
        self.log = EventLog(capacity: logCapacity)
        self.burst = nil
        self.paused = false
        self.overlay = .none
        self.compare = nil
        self.elapsedSeconds = 0
        self.quitRequested = false
    }

    /// A worker's distance from the truth: its read minus every acknowledged increment.
    public func gap(of row: WorkerRow) -> Int? {
        row.currentRead.map { $0 - acknowledgedNow }
    }

    /// Live workers whose reads disagree: the highest and the lowest reader, or nil when they agree.
    public var divergence: (high: WorkerRow, low: WorkerRow)? {
        let readers = workers.filter { $0.status == .alive && $0.currentRead != nil }
        guard let high = readers.max(by: { $0.currentRead! < $1.currentRead! }),
              let low = readers.min(by: { $0.currentRead! < $1.currentRead! }),
              high.currentRead != low.currentRead else { return nil }
        return (high, low)
    }

    /// How many distinct counts the live workers report.
    public var distinctReads: Int {
        Set(workers.filter { $0.status == .alive }.compactMap(\.currentRead)).count
    }

    /// Why `mode` cannot be chosen under the current strategy, or nil when it can.
    /// The modes the picker offers: the strategy's own, plus the three every
    /// shared store has, so that global says why it has only naive.
    public var pickableModes: [Mode] {
        let strategy = settings.strategy
        return strategy.isShared ? strategy.modes : [.naive, .locked, .atomic]
    }

    public func unavailableReason(for mode: Mode) -> String? {
        let strategy = settings.strategy
        if strategy.modes.contains(mode) { return nil }
        if !strategy.isShared { return "\(strategy.rawValue) shares nothing, so only naive applies" }
        return "\(strategy.rawValue) has no \(mode.rawValue) mode"
    }

    /// Appends a line to the event log, stamped with the current elapsed time.
    public mutating func note(_ kind: LogKind, _ text: String) {
        log.append(LogEntry(elapsed: elapsedSeconds, kind: kind, text: text))
    }

    /// Keeps the selection on an existing row after the worker list changes.
    mutating func clampSelection() {
        selectedWorker = workers.isEmpty ? 0 : min(max(0, selectedWorker), workers.count - 1)
    }
}
