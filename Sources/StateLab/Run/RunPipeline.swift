import Foundation
import NIOConcurrencyHelpers

/// How a run's counter is checked: one counter shared by every worker, one per
/// worker, or decided from the reads (an app statelab did not launch).
public enum Sharing: String, Sendable, CaseIterable {
    case yes, no, auto
    /// One counter per host, shared by that host's workers (`--hosts`: a
    /// SQLite file, a segment, a manager on localhost on each host).
    case perHost = "per-host"
}

/// What a run does besides the load.
public struct RunSteps: Sendable {
    /// POST /reset once exactly this many increments are acknowledged.
    public var resetAfter: Int?
    /// The worker a mid-run reset goes through (nil: whichever answers).
    public var resetWorker: Int?
    /// How long a reset may take before it counts as indeterminate.
    public var resetTimeout: Double
    /// POST /reset once before the load.
    public var resetFirst: Bool
    /// Read every worker before the load and subtract what it already counted.
    public var baseline: Bool
    /// Time sequential requests at concurrency 1 before the load (`LatencyProbe`).
    public var probe: Bool
    /// Faults fired in order while the load runs (statelab's own app only).
    public var faults: [FaultStep]
    /// Where the load's answers get their worker pid: nil, the target's way (the kernel's socket
    /// table for an app of yours, the answers for statelab's own); `.proc` or `.answer` to choose.
    public var pidSource: PidSource?

    public init(resetAfter: Int? = nil, resetWorker: Int? = 0, resetTimeout: Double = 5,
                resetFirst: Bool = false, baseline: Bool = false, probe: Bool = false, faults: [FaultStep] = [],
                pidSource: PidSource? = nil) {
        self.pidSource = pidSource
        self.faults = faults
        self.resetAfter = resetAfter
        self.resetWorker = resetWorker
        self.resetTimeout = resetTimeout
        self.resetFirst = resetFirst
        self.baseline = baseline
        self.probe = probe
    }
}

/// Where an answer's worker pid comes from.
public enum PidSource: String, Sendable, CaseIterable {
    /// The kernel's socket table: the process holding the connection's server side, once per connection.
    case proc
    /// The answer's own pid field or X-Worker-Pid header.
    case answer
}

/// What the pipeline hands back: the load's measurements and the check.
public struct RunOutcome: Sendable {
    public var load: LoadResult
    public var check: CheckResult
    /// Sentences the report prints under the table: baselines, the sharing guess, resets.
    public var notes: [String]
    /// The concurrency-1 probe before the load, when the steps asked for one.
    public var probe: LatencyProbe.Result? = nil
    /// The reset before the load and what each worker read after it, for `Diagnoser`.
    public var resetFirst: ResetAnswer? = nil
    public var baselineByPid: [Int32: Int] = [:]
    /// What `Diagnoser` found in all of the above.
    public var diagnosis: [Diagnosis] = []
    /// Transactions the workers retried (postgres serializable, redis locked), from their final reads.
    public var retries: Int? = nil
    /// What an HTML report draws, when the run kept it.
    public var evidence: RunEvidence? = nil

    public init(load: LoadResult, check: CheckResult, notes: [String], probe: LatencyProbe.Result? = nil,
                resetFirst: ResetAnswer? = nil, baselineByPid: [Int32: Int] = [:]) {
        self.load = load
        self.check = check
        self.notes = notes
        self.probe = probe
        self.resetFirst = resetFirst
        self.baselineByPid = baselineByPid
    }
}

extension RunOutcome {
    /// The workers' retries summed, nil when none reported any.
    static func retries(in reads: [ReadRecord]) -> Int? {
        let counts = reads.compactMap(\.retries)
        return counts.isEmpty ? nil : counts.reduce(0, +)
    }
}

/// The one run pipeline: a target already started -> load, reads while it
/// runs, scheduled resets -> final reads once quiet -> the history's check,
/// all through one `RunSession`. `compare` and `load` come through here; the
/// dashboard drives a `RunSession` burst by burst.
public enum RunPipeline {
    public static func run(
        target: some RunTarget, plan: LoadPlan, steps: RunSteps, sharing: Sharing, recording: RunRecording = RunRecording(),
        progress: @escaping @Sendable (RunProgress.Phase, LoadProgress?) -> Void = { _, _ in }
    ) async throws -> RunOutcome {
        let session = RunSession(target: target, sharing: sharing, recording: recording) { event in
            switch event {
            case .phase(let phase): if phase != .loading { progress(phase, nil) }
            case .load(let load): progress(.loading, load)
            case .workerExit(let exit): FileHandle.standardError.write(Data("statelab: \(exit.line)\n".utf8))
            }
        }
        let prepared = await session.prepare(steps)
        let result = try await session.load(plan: plan, steps: steps)
        try Task.checkCancellation()
        if let status = result.misrouted {
            let requests = target.appRequests
            let flag = requests.op == AppRequests.counterAPI.op
                ? "--op 'METHOD /path' (in a scenario, target: op:) if the app's operation is not POST /increment"
                : "--op (in a scenario, target: op:)"
            throw RunError(label: target.label, reason: "\(requests.op) answered HTTP \(status) \(status == 404 ? "(no such path)" : "(method not allowed)") and nothing else, so the load stopped at once; name the app's operation with \(flag)")
        }
        let finals = await session.settle(expecting: Set(result.perPid.keys))
        var (check, notes) = session.check()
        session.exportCheck(check)
        progress(.done, nil)
        for fault in check.faults {
            notes.append("fault \(fault.step) at \(String(format: "%.2f", fault.atSeconds)) s (\(ReportNumbers.grouped(fault.acknowledged)) acknowledged): \(fault.outcome)"
                + (fault.events.isEmpty ? "" : "; " + fault.events.joined(separator: "; ")))
        }
        notes += check.restarts.map(\.sentence)
        notes += attributionNotes(target.socketOwners, load: result)
        if let limit = check.limit, limit.remainingRises > 0 {
            notes.append("X-RateLimit-Remaining went up within one window \(ReportNumbers.grouped(limit.remainingRises)) \(limit.remainingRises == 1 ? "time" : "times") (first: \(limit.firstRemainingRise ?? "")): with one count that every worker shares it only goes down, so the workers do not share one")
        }
        let retries = RunOutcome.retries(in: finals)
        if let retries, retries > 0 {
            notes.append("\(ReportNumbers.grouped(retries)) transactions were run again after the store refused them for a conflicting write (PostgreSQL's SQLSTATE 40001, a Redis WATCH that saw the key change): what would have been lost updates became retries")
        }
        var outcome = RunOutcome(load: result, check: check, notes: notes, probe: prepared.probe,
                                 resetFirst: prepared.resetFirst, baselineByPid: session.baselineByPid)
        outcome.retries = retries
        outcome.evidence = session.evidence(for: check)
        outcome.diagnosis = Diagnoser.diagnose(outcome: outcome, concurrency: plan.concurrency)
        return outcome
    }

    /// How the workers were named: from /proc, with what it could not tell, and answers that disagreed.
    static func attributionNotes(_ owners: SocketOwners?, load: LoadResult) -> [String] {
        var notes: [String] = []
        if let owners {
            let (found, lookups) = owners.counts
            if let proxy = owners.proxy {
                notes.append("a reverse proxy, \(proxy), accepted the connections: /proc cannot see past it, so each answer's own pid (X-Worker-Pid or its pid field) names the worker behind it")
            } else if lookups > 0 && found == lookups {
                notes.append("workers named from /proc: the worker holding each of the \(ReportNumbers.grouped(lookups)) connections was found by its socket")
            } else if lookups > 0 {
                notes.append("/proc named the worker of \(ReportNumbers.grouped(found)) of \(ReportNumbers.grouped(lookups)) connections; the rest are unknown (\(owners.problem ?? "no reason given")): their operations count in the totals, not per pid")
            }
        }
        if load.pidDisagreements > 0 {
            notes.append("\(ReportNumbers.grouped(load.pidDisagreements)) answers named another worker than /proc found (\(load.firstPidDisagreement ?? "")); /proc's is used")
        }
        return notes
    }

    /// An app statelab did not launch may share one counter or keep one per
    /// worker (a module-level variable under uvicorn --workers N).
    /// The reason reads "checked as one shared counter: ..."; the report prints it after "--shared auto: ".
    static func guessSharing(final reads: [ReadRecord]) -> (Bool, String) {
        let values = Set(reads.map(\.value))
        if reads.count <= 1 {
            return (true, "checked as one shared counter (only \(reads.count) worker was read; pass --shared no if each worker keeps its own)")
        }
        if values.count == 1 {
            return (true, "checked as one shared counter: all \(reads.count) workers read \(ReportNumbers.grouped(values.first!)) at the end")
        }
        let listed = reads.sorted { $0.pid < $1.pid }.map { "pid \($0.pid): \(ReportNumbers.grouped($0.value))" }.joined(separator: ", ")
        return (false, "checked as one counter per worker: the workers read different values at the end (\(listed)); pass --shared yes if they share one store")
    }

    /// With reads from two or more hosts whose workers agree within each
    /// host: how many hosts. Nil otherwise (one host, or a host's workers disagree).
    static func perHostCandidate(final reads: [ReadRecord]) -> Int? {
        let byHost = Dictionary(grouping: reads.filter { $0.host != nil }, by: { $0.host! })
        guard byHost.count >= 2, byHost.count == Set(reads.map { $0.host ?? -1 }).count,
              byHost.values.allSatisfy({ Set($0.map(\.value)).count == 1 }) else { return nil }
        return byHost.count
    }

    static func describe(_ reset: ResetSummary) -> String {
        let through = reset.worker.map { "worker \($0)" } ?? "the app"
        let pid = reset.pid.map { " (pid \($0))" } ?? ""
        let at = String(format: "%.2f", reset.atSeconds)
        switch reset.outcome {
        case .ok:
            return "reset through \(through)\(pid) at \(at) s, after \(ReportNumbers.grouped(reset.acknowledgedBefore)) acknowledged; \(ReportNumbers.grouped(reset.acknowledgedSince)) acknowledged since"
        case .indeterminate:
            return "reset through \(through)\(pid) at \(at) s, after \(ReportNumbers.grouped(reset.acknowledgedBefore)) acknowledged, got no answer (\(reset.error ?? "timed out")): it may or may not have applied"
        case .fail:
            return "reset through \(through)\(pid) at \(at) s did not apply: \(reset.error ?? "failed")"
        }
    }
}

/// What every worker counted before the load, taken off its reads until a
/// reset clears its counter. One value for every pid when the counter is
/// shared (sharing yes, or two or more workers read the same), else each
/// pid's own; a pid not read before the load has no known offset, and its
/// reads are left out rather than guessed.
struct Baseline: Sendable {
    let byPid: [Int32: Int]
    /// Each worker's retries before the load: a worker counts them from its start.
    let retriesByPid: [Int32: Int]
    /// The one value subtracted from every read, when the counter is taken as shared.
    let common: Int?
    /// Resets that applied, in order: a read after one that touched its
    /// counter is not adjusted; one that overlapped it is left out (which side
    /// of the reset it saw is unknown).
    var resets: [AppliedReset] = []

    struct AppliedReset: Sendable {
        var pid: Int32?
        var start: UInt64
        var end: UInt64
    }

    init(_ reads: [ReadRecord], sharing: Sharing = .auto) {
        byPid = Dictionary(reads.map { ($0.pid, $0.value) }, uniquingKeysWith: { $1 })
        retriesByPid = Dictionary(reads.compactMap { read in read.retries.map { (read.pid, $0) } }, uniquingKeysWith: { $1 })
        let values = Set(byPid.values)
        if values.isEmpty || values == [0] {
            common = 0
        } else if values.count == 1, sharing == .yes || (sharing == .auto && byPid.count >= 2) {
            common = values.first
        } else {
            common = nil
        }
    }

    var pids: Set<Int32> { Set(byPid.keys) }

    var note: String? {
        if let common {
            return common == 0 ? nil : "the counter was at \(ReportNumbers.grouped(common)) before the load: subtracted from every read"
        }
        let listed = byPid.sorted { $0.key < $1.key }.map { "pid \($0.key): \(ReportNumbers.grouped($0.value))" }.joined(separator: ", ")
        return "the workers' counters were not at 0 before the load (\(listed)): each pid's own value is subtracted from its reads until a reset clears it; a pid not read before the load is left out"
    }

    /// The read with its worker's count from before the load taken off, or nil when that is unknown.
    func apply(_ read: ReadRecord) -> ReadRecord? {
        var read = read
        if let retries = read.retries, let before = retriesByPid[read.pid] { read.retries = max(0, retries - before) }
        guard let offset = common ?? byPid[read.pid] else { return nil }
        guard offset != 0 else { return read }
        for reset in resets where reset.pid == nil || reset.pid == read.pid || common != nil {
            if read.start > reset.end { return read }
            if read.end >= reset.start { return nil }
        }
        read.value -= offset
        return read
    }
}

/// The resets a run has in flight, so the run waits for their outcomes.
final class ResetTasks: Sendable {
    private let tasks = NIOLockedValueBox<[Task<Void, Never>]>([])

    func add(_ task: Task<Void, Never>) { tasks.withLockedValue { $0.append(task) } }

    /// Each task is bounded by its reset's timeout.
    func waitAll() async {
        for task in tasks.withLockedValue({ $0 }) { await task.value }
    }
}
