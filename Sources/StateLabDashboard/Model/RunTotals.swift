import StateLab

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

/// The check of the run so far, as the verdict box shows it: a projection of
/// `CheckResult`, never figures of its own. Every figure, the verdict and its
/// sentence come from the checker, the same as `compare` prints.
public struct RunTotals: Sendable, Equatable {
    /// The last check of the history (nil before the first).
    public var check: CheckResult?
    /// The check's witnesses, with the pids turned into worker rows.
    public var witnesses: [WorkerWitness]

    public init(check: CheckResult? = nil, witnesses: [WorkerWitness] = []) {
        self.check = check
        self.witnesses = witnesses
    }

    /// Ok increments that must be in the count (since the last reset).
    public var acknowledged: Int { check?.acknowledgedSinceReset ?? 0 }
    public var failed: Int { check?.failed ?? 0 }
    public var indeterminate: Int { check?.indeterminate ?? 0 }
    /// The final count the check compared against (nil when no worker was read).
    public var storeValue: Int? { check.flatMap { $0.perWorker.isEmpty ? nil : $0.final } }
    public var lost: Int { check?.lost ?? 0 }
    public var duplicates: Int { check?.duplicates ?? 0 }
    public var lostPercent: Double { check?.lostPercent ?? 0 }
    public var verdict: Verdict? { check?.verdict }
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
