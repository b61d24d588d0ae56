import StateLab

/// What the live engine knows between events: the history since the last
/// reset (the checker's input), and the burst in flight. Guarded by the
/// engine's lock; plain data, no I/O.
struct EngineState {
    var settings: DashboardSettings
    var burstSize: Int
    /// Increments since the last reset or relaunch, and the resets within that span.
    var increments: [IncrementRecord] = []
    var resets: [ResetRecord] = []
    /// Acknowledged increments per pid since the last reset (global resets one pid).
    var acknowledgedByPid: [Int32: Int] = [:]
    var failed = 0
    var indeterminate = 0
    /// The running burst's live figures (folded into the above when it ends).
    var burst: BurstState?
    /// Increments left of a paused burst.
    var pausedRemaining: Int?
    var paused = false
    var comparing = false
    /// The latest rate the load reported, for the sparkline.
    var currentRate: Double = 0
    /// Bumped whenever what the workers hold changes at once (a burst ends, a
    /// reset, a relaunch): a worker sample begun before that is stale and dropped.
    var epoch = 0

    struct BurstState {
        var generator: LoadGenerator
        var total: Int
        var progress: LoadProgress?
    }

    var acknowledged: Int { acknowledgedByPid.values.reduce(0, +) + (burst?.progress?.ok ?? 0) }

    /// Clears what the store no longer holds after a reset through `pid` (nil: every worker).
    mutating func noteReset(_ record: ResetRecord, shared: Bool) {
        resets.append(record)
        epoch += 1
        if shared || record.pid == nil {
            acknowledgedByPid = [:]
        } else if let pid = record.pid {
            acknowledgedByPid[pid] = 0
        }
    }

    mutating func forgetHistory() {
        increments = []
        resets = []
        acknowledgedByPid = [:]
        failed = 0
        indeterminate = 0
        epoch += 1
    }

    /// Folds a finished burst's records in.
    mutating func absorb(_ result: LoadResult) {
        increments += result.increments
        for record in result.increments {
            switch record.outcome {
            case .ok: if let pid = record.pid { acknowledgedByPid[pid, default: 0] += 1 }
            case .fail: failed += 1
            case .indeterminate: indeterminate += 1
            }
        }
        burst = nil
        epoch += 1
    }
}
