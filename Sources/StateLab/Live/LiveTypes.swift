import Foundation

/// What a live run watches.
public enum LiveTarget: Sendable, Equatable {
    /// statelab's own app, with the settings' strategy, mode and workers.
    case ownApp
    /// An app already running at a loopback URL.
    case url(host: String, port: Int, sharing: Sharing, requests: AppRequests = .counterAPI)
    /// An app statelab launches from a command, and stops at the end.
    case command(CommandSpec, sharing: Sharing, requests: AppRequests = .counterAPI)
}

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

/// Two ok increments that returned the same count: proof that an update was lost.
public struct WorkerWitness: Sendable, Equatable {
    /// The count both answers carried (both read `count - 1`).
    public var count: Int
    /// Worker indexes that gave those answers, in answer order (may repeat).
    public var workers: [Int]

    public init(count: Int, workers: [Int]) {
        self.count = count
        self.workers = workers
    }
}

/// What a burst in flight has done so far, before any check: the box labels
/// these live and shows no lost count or verdict until the burst is checked.
public struct LiveFigures: Sendable, Equatable {
    public var acknowledged: Int
    public var failed: Int
    public var indeterminate: Int
    /// What the workers read at the last sample: the shared count, or the workers' counts summed.
    public var storeRead: Int?

    public init(acknowledged: Int = 0, failed: Int = 0, indeterminate: Int = 0, storeRead: Int? = nil) {
        self.acknowledged = acknowledged
        self.failed = failed
        self.indeterminate = indeterminate
        self.storeRead = storeRead
    }
}

/// What a live run reports, the one stream a front end (the dashboard) reads:
/// typed, with the check and the fault records as they are, not as prose.
public enum LiveEvent: Sendable {
    /// Strategies that cannot run here, each with a one-line reason and fix.
    case availability([Strategy: String])
    /// The settings the app runs with, after the start or a relaunch.
    case settings(LiveSettings, relaunched: Bool)
    /// Every worker's row, in index order.
    case workers([WorkerRow])
    case burstStarted(total: Int)
    case burstProgress(done: Int, total: Int)
    /// The burst in flight's figures so far, unchecked (nil: none).
    case live(LiveFigures?)
    /// The history was checked: after a burst, a reset or a fault. Its
    /// witnesses come with the pids turned into worker rows, and the latest
    /// witnessed lost update of the view it took (`RunSession.latestRace`), if any.
    case checked(CheckResult, witnesses: [WorkerWitness], race: RaceTrace?, afterBurst: Bool)
    /// A new target: no check yet.
    case cleared
    case throughput(requestsPerSecond: Double)
    case latency(p50Milliseconds: Double, p99Milliseconds: Double)
    /// A fault step fired on demand (k, K, U, A), as the history records it.
    case fault(FaultRecord, key: String)
    /// A restart the check judged (store, app or a worker's own counter).
    case restartJudged(RestartSummary)
    /// A worker exited without statelab's doing and the supervisor replaced it.
    case workerExit(WorkerExit)
    /// How an app statelab did not launch was taken to share its counter, and why.
    case sharingGuess(String)
    /// What the last check's figures point to.
    case diagnosis([Diagnosis])
    case note(LiveNote, String)
    /// Something failed or was refused.
    case error(String)
    case compareStarted(mode: Mode, increments: Int, strategies: [Strategy])
    case compareRow(CompareRow)
    case compareFinished
    case paused(Bool)
}

/// What a note is about, for its colour and column in an event log.
public enum LiveNote: String, Sendable {
    case burst, reset, kill, relaunch, compare, info
}
