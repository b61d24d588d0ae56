import NIOConcurrencyHelpers

/// How a run's counter is checked: one counter shared by every worker, one per
/// worker, or decided from the reads (an app statelab did not launch).
public enum Sharing: String, Sendable, CaseIterable {
    case yes, no, auto
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

    public init(resetAfter: Int? = nil, resetWorker: Int? = 0, resetTimeout: Double = 5,
                resetFirst: Bool = false, baseline: Bool = false, probe: Bool = false) {
        self.resetAfter = resetAfter
        self.resetWorker = resetWorker
        self.resetTimeout = resetTimeout
        self.resetFirst = resetFirst
        self.baseline = baseline
        self.probe = probe
    }
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
}

/// The one run pipeline: a target already started -> load, reads while it
/// runs, scheduled resets -> final reads once quiet -> the history's check.
/// `compare`, `load` and (through `AppRun`) the dashboard's compare all come
/// through here; this is the one place a history becomes a check.
public enum RunPipeline {
    /// How often a worker is read while the load runs (for the read-bounds check).
    static let readInterval: UInt64 = 50_000_000
    /// Final reads are repeated until two rounds agree, at most this many times.
    static let settleRounds = 10

    public static func run(
        target: some RunTarget, plan: LoadPlan, steps: RunSteps, sharing: Sharing,
        progress: @escaping @Sendable (RunProgress.Phase, LoadProgress?) -> Void = { _, _ in }
    ) async throws -> RunOutcome {
        var notes: [String] = []
        var resetFirst: ResetAnswer?
        if steps.resetFirst {
            let answer = await target.reset(through: nil, timeout: steps.resetTimeout)
            resetFirst = answer
            if answer.outcome == .ok {
                let pid = answer.pid.map { " (answered by pid \($0))" } ?? ""
                notes.append("--reset-first: POST /reset before the load\(pid); an app that keeps a counter per worker reset that one worker only")
            } else {
                notes.append("--reset-first: POST /reset before the load did not apply: \(answer.error ?? answer.outcome.rawValue)")
            }
        }
        let baseline = steps.baseline ? Baseline(await target.readAll(expecting: [], skipping: []).reads) : Baseline([])
        if let note = baseline.note { notes.append(note) }
        let probe = steps.probe ? await LatencyProbe.run(host: target.host, port: target.port, timeout: min(steps.resetTimeout, 2)) : nil

        let views: HistoryRecorder.Views = sharing == .yes ? .shared : sharing == .no ? .perWorker : .both
        let recorder = HistoryRecorder(views: views)
        let resets = ResetTasks()
        if let count = steps.resetAfter {
            recorder.scheduleReset(afterAcknowledged: count, worker: steps.resetWorker) { token in
                // On the load's event loop: hand the blocking request to a task.
                resets.add(Task {
                    let answer = await target.reset(through: token.worker, timeout: steps.resetTimeout)
                    recorder.endReset(token, outcome: answer.outcome, pid: answer.pid, error: answer.error)
                })
            }
        }

        let sampling = NIOLockedValueBox(true)
        let sampler = Task {
            var turn = 0
            // Bounded by the load: it ends when `sampling` turns false just after it.
            while sampling.withLockedValue({ $0 }) {
                if let read = await target.sampleRead(turn: turn) { recorder.recordRead(baseline.apply(read)) }
                turn += 1
                try? await Task.sleep(nanoseconds: readInterval)
            }
        }
        let result: LoadResult
        do {
            result = try await LoadGenerator(plan: plan, recorder: recorder).run { progress(.loading, $0) }
        } catch {
            sampling.withLockedValue { $0 = false }
            await sampler.value
            await resets.waitAll()
            throw error
        }
        sampling.withLockedValue { $0 = false }
        await sampler.value
        await resets.waitAll()
        try Task.checkCancellation()

        progress(.reading, nil)
        let expected = Set(result.perPid.keys).union(baseline.pids)
        let final = await settledReads(of: target, expecting: expected)
        recorder.recordFinal(reads: final.reads.map(baseline.apply), unread: final.unread, settled: final.settled)

        let shared: Bool
        switch sharing {
        case .yes: shared = true
        case .no: shared = false
        case .auto:
            let (guess, reason) = guessSharing(final: final.reads, baseline: baseline)
            shared = guess
            notes.append(reason)
        }
        let check = recorder.check(shared: shared)
        for reset in check.resets { notes.append(describe(reset)) }
        progress(.done, nil)
        var outcome = RunOutcome(load: result, check: check, notes: notes, probe: probe,
                                 resetFirst: resetFirst, baselineByPid: baseline.byPid)
        outcome.diagnosis = Diagnoser.diagnose(outcome: outcome, probe: probe, concurrency: plan.concurrency)
        return outcome
    }

    /// Reads every worker until two rounds in a row agree (the run has quiesced:
    /// answers that timed out may still land), at most `settleRounds` rounds.
    static func settledReads(of target: some RunTarget, expecting pids: Set<Int32>)
        async -> (reads: [ReadRecord], unread: [UnreadWorker], settled: Bool) {
        var previous = await target.readAll(expecting: pids, skipping: [])
        // Nobody answered (the app is gone): there is nothing to settle.
        if previous.reads.isEmpty { return (previous.reads, previous.unread, true) }
        for _ in 1..<settleRounds {
            try? await Task.sleep(nanoseconds: 20_000_000)
            let next = await target.readAll(expecting: pids, skipping: previous.unread)
            let before = Dictionary(previous.reads.map { ($0.pid, $0.value) }, uniquingKeysWith: { $1 })
            let now = Dictionary(next.reads.map { ($0.pid, $0.value) }, uniquingKeysWith: { $1 })
            let common = Set(before.keys).intersection(now.keys)
            previous = next
            if !common.isEmpty, common.allSatisfy({ before[$0] == now[$0] }) { return (next.reads, next.unread, true) }
            if next.reads.isEmpty { return (next.reads, next.unread, true) }
        }
        return (previous.reads, previous.unread, false)
    }

    /// An app statelab did not launch may share one counter or keep one per
    /// worker (a module-level variable under uvicorn --workers N).
    static func guessSharing(final reads: [ReadRecord], baseline: Baseline) -> (Bool, String) {
        let values = Set(reads.map(\.value))
        if reads.count <= 1 {
            return (true, "--shared auto: checked as one shared counter (only \(reads.count) worker was read; pass --shared no if each worker keeps its own)")
        }
        if values.count == 1 {
            return (true, "--shared auto: checked as one shared counter: all \(reads.count) workers read \(ReportNumbers.grouped(values.first!)) at the end")
        }
        let listed = reads.sorted { $0.pid < $1.pid }.map { "pid \($0.pid): \(ReportNumbers.grouped($0.value))" }.joined(separator: ", ")
        return (false, "--shared auto: checked as one counter per worker: the workers read different values at the end (\(listed)); pass --shared yes if they share one store")
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

/// What every worker counted before the load. A counter not at 0 at the start
/// is subtracted from every read, per pid when the workers disagree.
struct Baseline: Sendable {
    let byPid: [Int32: Int]
    /// The one value every worker read, when they agreed.
    let common: Int?

    init(_ reads: [ReadRecord]) {
        byPid = Dictionary(reads.map { ($0.pid, $0.value) }, uniquingKeysWith: { $1 })
        let values = Set(byPid.values)
        common = values.count == 1 ? values.first : (values.isEmpty ? 0 : nil)
    }

    var pids: Set<Int32> { Set(byPid.keys) }

    var note: String? {
        if let common {
            return common == 0 ? nil : "the counter was at \(ReportNumbers.grouped(common)) before the load: subtracted from every read"
        }
        let listed = byPid.sorted { $0.key < $1.key }.map { "pid \($0.key): \(ReportNumbers.grouped($0.value))" }.joined(separator: ", ")
        return "the workers' counters were not at 0 before the load (\(listed)): each pid's own value is subtracted from its reads"
    }

    func apply(_ read: ReadRecord) -> ReadRecord {
        var read = read
        read.value -= common ?? byPid[read.pid] ?? 0
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
