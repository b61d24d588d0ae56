/// How one increment ended, as DESIGN.md defines it.
public enum Outcome: String, Sendable, Codable {
    /// A 2xx answer: the increment applied.
    case ok
    /// It certainly did not apply: refused before sending, a 4xx, an explicit "not committed".
    case fail
    /// It may have applied: timeout after sending, reset mid-answer, a 5xx from inside the handler.
    case indeterminate
}

/// One increment as the load generator saw it. Times are nanoseconds on one
/// monotonic clock (`MonotonicClock.now()`), so reads and increments order.
public struct IncrementRecord: Sendable, Equatable, Codable {
    public var outcome: Outcome
    /// The count the answer carried (ok answers only).
    public var count: Int?
    /// The worker pid that answered (from X-Worker-Pid or the body), when known.
    public var pid: Int32?
    /// When the request was (or was meant to be) sent.
    public var start: UInt64
    /// When the answer (or the failure) arrived.
    public var end: UInt64
    /// A fail the app chose: one of its refusal statuses (409, 429 ...).
    public var refused: Bool
    /// What the answer's X-RateLimit-Remaining said, and when (monotonic) its X-RateLimit-Reset said the window ends.
    public var remaining: Int32? = nil
    public var windowEnd: UInt64? = nil
    /// When the worker read and wrote, when it said (statelab's own app, asked to).
    public var trace: IncrementTrace? = nil
    /// The load connection that sent it (Jepsen's process: one operation in flight at a time).
    public var process: Int32? = nil
    /// The host of `pid` (`--hosts`, 0-based), set by the recorder when it folds a counter per host.
    public var host: Int? = nil

    public init(outcome: Outcome, count: Int? = nil, pid: Int32? = nil, start: UInt64, end: UInt64, refused: Bool = false) {
        self.outcome = outcome
        self.count = count
        self.pid = pid
        self.start = start
        self.end = end
        self.refused = refused
    }
}

/// One read of the counter through one worker.
public struct ReadRecord: Sendable, Equatable, Codable {
    public var pid: Int32
    /// The worker index (0-based) when the app is statelab's own, else nil.
    public var worker: Int?
    public var value: Int
    public var start: UInt64
    public var end: UInt64
    /// Transactions this worker retried since it started, when its /report
    /// says (postgres serializable and redis locked: `"retries"`).
    public var retries: Int?
    /// The worker's host (`--hosts`, 0-based), when the run has several.
    public var host: Int?
    /// The host the answer named (X-Worker-Host), for an app statelab did not start.
    public var hostName: String?

    public init(pid: Int32, worker: Int? = nil, value: Int, start: UInt64, end: UInt64, retries: Int? = nil) {
        self.pid = pid
        self.worker = worker
        self.value = value
        self.start = start
        self.end = end
        self.retries = retries
    }
}

/// Everything a run did: the input of the checker.
public struct History: Sendable, Equatable, Codable {
    public var increments: [IncrementRecord]
    /// Reads taken during the run and the final read of every worker.
    public var reads: [ReadRecord]
    /// The final reads, one per worker (a subset of `reads`).
    public var finalReads: [ReadRecord]
    /// Resets done during the run: the counter restarts from 0 after one.
    public var resets: [ResetRecord]
    /// Workers that could not be read at the end.
    public var unread: [UnreadWorker]
    /// Whether repeated final reads agreed.
    public var settled: Bool

    public init(increments: [IncrementRecord] = [], reads: [ReadRecord] = [], finalReads: [ReadRecord] = [],
                resets: [ResetRecord] = [], unread: [UnreadWorker] = [], settled: Bool = true) {
        self.increments = increments
        self.reads = reads
        self.finalReads = finalReads
        self.resets = resets
        self.unread = unread
        self.settled = settled
    }
}

/// A reset sent through one worker (or every worker) during a run.
public struct ResetRecord: Sendable, Equatable, Codable {
    /// The pid of the worker the reset went through, when known.
    public var pid: Int32?
    public var worker: Int?
    public var start: UInt64
    /// When the answer came, or when statelab gave up waiting for it.
    public var end: UInt64
    /// ok: it applied; indeterminate: no answer, it may apply at any time; fail: it certainly did not.
    public var outcome: Outcome

    public init(pid: Int32? = nil, worker: Int? = nil, start: UInt64, end: UInt64, outcome: Outcome = .ok) {
        self.pid = pid
        self.worker = worker
        self.start = start
        self.end = end
        self.outcome = outcome
    }
}
