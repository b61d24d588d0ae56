/// The one-word summary of a check. Precedence, highest first: unknown (no
/// worker could be read), lost-updates, divergent, errors (unexpected counts,
/// reads out of bounds, or a check the uncertain operations made
/// inconclusive), ok. Scenarios/README.md explains each.
public enum Verdict: String, Sendable, Codable, CaseIterable {
    case ok
    case lostUpdates = "lost-updates"
    /// More operations accepted than the app's limit allows (a rate limit, a stock, a coupon).
    case overLimit = "over-limit"
    case divergent
    case errors
    case unknown
}

/// Where a reset happened in a run, from the history.
public struct ResetSummary: Sendable, Codable, Equatable {
    public var pid: Int32?
    public var worker: Int?
    /// ok: it applied; indeterminate: no answer came; fail: it certainly did not apply.
    public var outcome: Outcome
    /// Seconds into the run when it was sent.
    public var atSeconds: Double
    /// Ok increments that ended before it was sent.
    public var acknowledgedBefore: Int
    /// Ok increments that started after its answer came.
    public var acknowledgedSince: Int
    public var error: String?
}

/// Two or more acknowledged increments that returned the same count: each
/// extra one is an update that some other increment overwrote.
public struct DuplicateWitness: Sendable, Codable, Equatable {
    public var count: Int
    /// The pids that answered those increments (unknown pids left out).
    public var pids: [Int32]

    public init(count: Int, pids: [Int32]) {
        self.count = count
        self.pids = pids
    }
}

/// A read outside what the history allows: below the acknowledged increments
/// that finished before it began, or above every increment that may have
/// applied before it ended.
public struct ReadViolation: Sendable, Codable, Equatable {
    public var read: ReadRecord
    public var lower: Int
    public var upper: Int

    public init(read: ReadRecord, lower: Int, upper: Int) {
        self.read = read
        self.lower = lower
        self.upper = upper
    }
}

/// One worker's share of a run.
public struct WorkerTally: Sendable, Codable, Equatable {
    public var pid: Int32
    public var worker: Int?
    /// Its final read.
    public var count: Int
    /// The ok increments it answered (over the whole run, resets included).
    public var acknowledged: Int

    /// Its host (`--hosts`, 0-based; for an app statelab did not start, by the name it gave, in name order).
    public var host: Int?
    /// The host's name as the answer gave it (X-Worker-Host), when it did.
    public var hostName: String?

    public init(pid: Int32, worker: Int?, count: Int, acknowledged: Int, host: Int? = nil) {
        self.host = host
        self.pid = pid
        self.worker = worker
        self.count = count
        self.acknowledged = acknowledged
    }
}

/// One host of a `--hosts` run at the end: its workers' reads and what they answered.
public struct HostTally: Sendable, Codable, Equatable {
    /// 0-based; "host 1" in words.
    public var host: Int
    /// The name its answers gave (X-Worker-Host), when they did.
    public var name: String?
    public var workers: Int
    /// Its workers' lowest and highest final read: equal when they agree.
    public var low: Int
    public var high: Int
    /// Ok increments its (final) workers answered.
    public var acknowledged: Int

    public var agree: Bool { low == high }

    /// Per host, from per-worker tallies that name their host; nil when none does.
    static func of(_ workers: [WorkerTally]) -> [HostTally]? {
        let grouped = Dictionary(grouping: workers.filter { $0.host != nil }, by: { $0.host! })
        guard !grouped.isEmpty else { return nil }
        return grouped.keys.sorted().map { host in
            let tallies = grouped[host]!
            return HostTally(host: host, name: tallies.first?.hostName, workers: tallies.count, low: tallies.map(\.count).min()!,
                             high: tallies.map(\.count).max()!, acknowledged: tallies.map(\.acknowledged).reduce(0, +))
        }
    }
}

/// What the checker concluded from one run's history.
public struct CheckResult: Sendable, Codable, Equatable {
    /// Whether the store was checked as one shared counter or one per worker.
    public var shared: Bool
    /// Ok increments over the whole run.
    public var acknowledged: Int
    public var failed: Int
    public var indeterminate: Int
    /// The ok increments certainly counted in the final value: those that
    /// started after the last reset ended (all of them when there was no reset).
    public var acknowledgedSinceReset: Int
    /// Lowest and highest final read (0 when there is none).
    public var finalMin: Int
    public var finalMax: Int
    /// The figure lost and unexpected compare against: finalMax for a shared
    /// store (so lost is a lower bound), the sum of the final reads when each
    /// worker has its own counter.
    public var final: Int
    /// max(0, acknowledgedSinceReset - final): at least this many updates vanished.
    public var lost: Int
    /// max(0, final - everything that may have applied): increments nobody sent.
    public var unexpected: Int
    /// Extra ok increments that returned a count another ok increment also returned.
    public var duplicates: Int
    /// A few duplicated counts, lowest first.
    public var witnesses: [DuplicateWitness]
    /// The final reads differ.
    public var divergent: Bool
    /// The first few reads out of bounds, in time order.
    public var readViolations: [ReadViolation]
    /// How many reads were out of bounds in all.
    public var readViolationCount: Int
    /// One entry per final read, by worker index then pid.
    public var perWorker: [WorkerTally]
    /// With `--hosts`: each host's workers, their reads and increments.
    public var hosts: [HostTally]?
    /// Checked as one counter per host (a store each host has its own of), not one shared by all.
    public var perHost = false

    /// Lost, unexpected and repeated counts together: what `--shared auto` weighs two views by.
    var anomalies: Int { lost + unexpected + duplicates + readViolationCount }
    public var verdict: Verdict
    /// Workers that could not be read at the end, left out of `final`.
    public var unread: [UnreadWorker] = []
    /// Repeated final reads did not agree: a shared store's reads are not
    /// taken for divergence then.
    public var unsettled = false
    /// Why the check could not tell a correct store from a broken one, when it could not.
    public var inconclusive: String?
    /// The resets of the run, in order.
    public var resets: [ResetSummary] = []
    /// Scenario steps that were due and never happened: the run fails.
    public var missedSteps: [String] = []
    /// The monotonic time the run started, for "seconds into the run".
    public var origin: UInt64 = 0
    /// The fault steps, as they happened.
    public var faults: [FaultRecord] = []
    /// Each store, app or worker restart, with the count before and after.
    public var restarts: [RestartSummary] = []
    /// Workers a fault killed or restarted: their pids are gone by the end.
    public var replacedPids: [Int32] = []
    /// The limit's check, when the app promises one.
    public var limit: LimitResult?
    /// Whether a value was read and checked as a counter (false: a limit alone).
    public var counterChecked = true
    /// The counter's own verdict when a limit's decided `verdict`.
    public var counterVerdict: Verdict?
    /// What one applied operation adds to the value the app reads: -1 for a stock (its values are negated for the check).
    public var step = 1

    /// Counted increments the restarts erased, summed; nil without a restart
    /// whose counts are known. Kept apart from `lost`, which is losses to races.
    public var lostToRestart: Int? {
        let known = restarts.compactMap(\.lostToRestart)
        return known.isEmpty ? nil : known.reduce(0, +)
    }

    /// Whether every restart kept what was counted; nil without one whose counts are known.
    public var durable: Bool? {
        let judged = restarts.compactMap(\.durable)
        return judged.isEmpty ? nil : judged.allSatisfy { $0 }
    }

    /// Lock recoveries the faults saw (EOWNERDEAD, the manager releasing a dead client's lock).
    public var lockRecoveries: Int { faults.reduce(0) { $0 + $1.events.filter { $0.hasPrefix(FaultRecord.recoveryPrefix) }.count } }

    public init(
        shared: Bool, acknowledged: Int, failed: Int, indeterminate: Int, acknowledgedSinceReset: Int,
        finalMin: Int, finalMax: Int, final: Int, lost: Int, unexpected: Int, duplicates: Int,
        witnesses: [DuplicateWitness], divergent: Bool, readViolations: [ReadViolation],
        readViolationCount: Int, perWorker: [WorkerTally], verdict: Verdict
    ) {
        self.shared = shared
        self.acknowledged = acknowledged
        self.failed = failed
        self.indeterminate = indeterminate
        self.acknowledgedSinceReset = acknowledgedSinceReset
        self.finalMin = finalMin
        self.finalMax = finalMax
        self.final = final
        self.lost = lost
        self.unexpected = unexpected
        self.duplicates = duplicates
        self.witnesses = witnesses
        self.divergent = divergent
        self.readViolations = readViolations
        self.readViolationCount = readViolationCount
        self.perWorker = perWorker
        self.verdict = verdict
    }

    /// Lost updates as a percentage of the increments that should have counted.
    public var lostPercent: Double {
        acknowledgedSinceReset == 0 ? 0 : Double(lost) * 100 / Double(acknowledgedSinceReset)
    }

    /// The verdict rule, kept apart so reports can explain it. Failed
    /// increments alone never make errors: they certainly did not apply, so
    /// they widen nothing; uncertainty counts only through `inconclusive`.
    public static func verdict(
        unknown: Bool = false, lost: Int, duplicates: Int, divergent: Bool, unexpected: Int,
        readViolations: Int, inconclusive: String? = nil
    ) -> Verdict {
        if unknown { return .unknown }
        if lost > 0 || duplicates > 0 { return .lostUpdates }
        if divergent { return .divergent }
        if unexpected > 0 || readViolations > 0 || inconclusive != nil { return .errors }
        return .ok
    }

    /// Seconds into the run of a monotonic time.
    public func secondsIntoRun(_ time: UInt64) -> Double {
        Double(time &- origin) / 1e9
    }
}

/// A store, app or worker restart in a run, and what the counter kept across it.
public struct RestartSummary: Sendable, Codable, Equatable {
    public enum Scope: String, Sendable, Codable {
        /// The store's process was killed and started again.
        case store
        /// Every worker was stopped and started again; the store was left alone.
        case app
        /// One worker's own counter (global): the worker was killed or restarted.
        case worker
    }

    public var scope: Scope
    /// When it began (the kill), in seconds into the run.
    public var atSeconds: Double
    /// Increments acknowledged when it began.
    public var acknowledgedBefore: Int
    /// The count just before it began and just after the app was back, read
    /// with nothing in flight; nil when it could not be read.
    public var before: Int?
    public var after: Int?
    /// Both reads were taken with no increment in flight, so they are exact.
    public var exact: Bool
    /// The worker and pids, for a worker's own counter.
    public var worker: Int?
    public var pid: Int32?
    public var newPid: Int32?
    public var note: String?

    public init(scope: Scope, atSeconds: Double, acknowledgedBefore: Int, before: Int?, after: Int?, exact: Bool,
                worker: Int? = nil, pid: Int32? = nil, newPid: Int32? = nil, note: String? = nil) {
        self.scope = scope
        self.atSeconds = atSeconds
        self.acknowledgedBefore = acknowledgedBefore
        self.before = before
        self.after = after
        self.exact = exact
        self.worker = worker
        self.pid = pid
        self.newPid = newPid
        self.note = note
    }

    /// Everything counted before it is still there after; nil when the reads were not exact.
    public var durable: Bool? {
        // Nothing counted before it: there was nothing to keep or lose.
        guard exact, let before, let after, before > 0 else { return nil }
        return after >= before
    }

    /// Counted increments the restart erased (not races: those are `lost`); nil when unknown.
    public var lostToRestart: Int? {
        guard exact, let before, let after else { return nil }
        return max(0, before - after)
    }

    /// "store restart at 1.20 s: 1,000 before, 0 after: not durable (1,000 lost to the restart)".
    public var sentence: String {
        let what: String = switch scope {
        case .store: "store restart"
        case .app: "app restart"
        case .worker: "worker \(worker.map(String.init) ?? "?") restart\(pid.map { " (pid \($0)\(newPid.map { ", replaced by pid \($0)" } ?? ""))" } ?? "")"
        }
        let at = String(format: "%.2f", atSeconds)
        guard let before, let after else {
            return "\(what) at \(at) s: the count could not be read \(before == nil ? "before it" : "after it")\(note.map { " (\($0))" } ?? "")"
        }
        let counts = "\(ReportNumbers.grouped(before)) before, \(ReportNumbers.grouped(after)) after"
        guard let durable else {
            if exact && before == 0 { return "\(what) at \(at) s: \(counts): nothing was counted before it, so durability is not judged" }
            return "\(what) at \(at) s: \(counts), read while increments were in flight, so durability is not judged"
        }
        return durable
            ? "\(what) at \(at) s: \(counts): durable"
            : "\(what) at \(at) s: \(counts): not durable (\(ReportNumbers.grouped(lostToRestart ?? 0)) lost to the restart)"
    }
}

/// A fault step as it happened: when, to whom, and what it showed.
public struct FaultRecord: Sendable, Codable, Equatable {
    /// The step, as `--fault` writes it.
    public var step: String
    public var atSeconds: Double
    /// Increments acknowledged when it fired.
    public var acknowledged: Int
    /// The worker it acted on, and that worker's pid (the lock holder's for `holder`).
    public var worker: Int?
    public var pid: Int32?
    /// The store process it killed or started.
    public var storePid: Int32?
    /// What it did, in one line; an error when it failed.
    public var outcome: String
    public var failed: Bool
    /// What followed that proves a claim: the lock recovered from a dead holder, a replacement pid.
    public var events: [String]

    /// How a lock recovery event starts, so `lockRecoveries` can count them.
    public static let recoveryPrefix = "lock recovered: "

    public init(step: String, atSeconds: Double, acknowledged: Int, worker: Int? = nil, pid: Int32? = nil,
                storePid: Int32? = nil, outcome: String, failed: Bool = false, events: [String] = []) {
        self.step = step
        self.atSeconds = atSeconds
        self.acknowledged = acknowledged
        self.worker = worker
        self.pid = pid
        self.storePid = storePid
        self.outcome = outcome
        self.failed = failed
        self.events = events
    }
}
