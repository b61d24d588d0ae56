import StateLab

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

