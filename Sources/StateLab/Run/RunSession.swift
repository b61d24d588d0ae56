import NIOConcurrencyHelpers

/// What a run reports while it goes: the one stream every front end reads.
/// `compare` and `load` turn it into a progress line, the dashboard into its
/// rows, sparkline and verdict.
public enum RunEvent: Sendable {
    /// The run moved on: loading, reading the workers at the end, done.
    case phase(RunProgress.Phase)
    /// The load's figures, at most every 100 ms while it runs and once at its end.
    case load(LoadProgress)
    /// A worker of statelab's own app exited without statelab's doing, and the supervisor replaced it.
    case workerExit(WorkerExit)
}

/// A target being driven, and the one history of everything done to it:
/// loads (one, or a dashboard's many bursts), the reads taken meanwhile,
/// resets, and the final reads. `check()` is the one place, outside tests,
/// where a history becomes a check; `RunPipeline` (compare, load) and the
/// dashboard both come through it.
public final class RunSession: Sendable {
    public let target: any RunTarget
    public let sharing: Sharing
    let recorder: HistoryRecorder
    private let baseline = NIOLockedValueBox(Baseline([]))
    private let notes = NIOLockedValueBox<[String]>([])
    /// How the last check took an app's counter with sharing auto, and why.
    private let lastGuess = NIOLockedValueBox<String?>(nil)
    /// The runner of faults fired on demand, made at the first; it knows a store left down.
    private let onDemand = NIOLockedValueBox<FaultRunner?>(nil)
    private let events: @Sendable (RunEvent) -> Void

    /// How often a worker is read while a load runs (for the read-bounds check).
    static let readInterval: UInt64 = 50_000_000
    /// Final reads are repeated until two rounds agree, at most this many times.
    static let settleRounds = 10

    public init(target: any RunTarget, sharing: Sharing, recording: RunRecording = RunRecording(),
                events: @escaping @Sendable (RunEvent) -> Void = { _ in }) {
        self.target = target
        self.sharing = sharing
        self.events = events
        // The per-host view needs each pid's host (`--hosts`); auto keeps it too, to choose at the end.
        let hostOf = target.hostOf
        let views: HistoryRecorder.Views = switch sharing {
        case .yes: .shared
        case .no: .perWorker
        case .perHost: .perHost
        case .auto: hostOf == nil ? .both : [.shared, .perWorker, .perHost]
        }
        let origin = MonotonicClock.now()
        let config = (target as? SupervisorTarget)?.supervisor.config ?? (target as? HostsTarget)?.cluster.config
        let export = recording.export?.beginRun(name: target.label, strategy: config?.strategy.rawValue, mode: config?.mode.rawValue,
                                                step: target.appRequests.step, origin: origin)
        recorder = HistoryRecorder(origin: origin, views: views, limit: target.appRequests.limit,
                                   checksCounter: target.appRequests.checksCounter, evidence: recording.evidence,
                                   export: export, step: target.appRequests.step,
                                   hostOf: hostOf)
        // A worker killed from outside: the supervisor restarts it, and the history has it.
        let supervisors = (target as? SupervisorTarget).map { [$0.supervisor] } ?? (target as? HostsTarget)?.cluster.supervisors ?? []
        for supervisor in supervisors {
            supervisor.observeExits { [recorder, events] exit in
                recorder.departed(pid: exit.pid, reason: "exited without statelab's doing; the supervisor replaced it")
                recorder.recordFault(FaultRecord(step: "worker_exit", atSeconds: recorder.secondsSinceOrigin(),
                                                 acknowledged: recorder.acknowledged, worker: exit.index, pid: exit.pid,
                                                 outcome: exit.line, failed: exit.newPid == nil))
                events(.workerExit(exit))
            }
        }
    }

    /// Ok increments so far.
    public var acknowledged: Int { recorder.acknowledged }

    /// What `prepare` did: the reset before the load, and the latency probe.
    public struct Preparation: Sendable {
        public var resetFirst: ResetAnswer?
        public var probe: LatencyProbe.Result?
    }

    /// Before the first load: POST /reset once, read what every worker
    /// already counted (subtracted from every later read), and probe the
    /// latency at concurrency 1, as `steps` asks.
    @discardableResult
    public func prepare(_ steps: RunSteps) async -> Preparation {
        var prepared = Preparation()
        if steps.resetFirst {
            let answer = await target.reset(through: nil, timeout: steps.resetTimeout)
            prepared.resetFirst = answer
            if answer.outcome == .ok {
                let pid = answer.pid.map { " (answered by pid \($0))" } ?? ""
                note("--reset-first: POST /reset before the load\(pid); an app that keeps a counter per worker reset that one worker only")
            } else {
                note("--reset-first: POST /reset before the load did not apply: \(answer.error ?? answer.outcome.rawValue)")
            }
        }
        if steps.baseline {
            let taken = Baseline(await target.readAll(expecting: [], skipping: []).reads, sharing: sharing)
            baseline.withLockedValue { $0 = taken }
            if target.appRequests.step < 0, let common = taken.common {
                note("the stock read \(ReportNumbers.grouped(-common)) before the load; each applied operation takes one off it, so the check counts what was sold from there")
            } else if let text = taken.note {
                note(text)
            }
        }
        // The probe reads (a GET changes nothing); an app whose read is not a GET is not probed.
        if steps.probe, let read = target.appRequests.read, read.method == "GET", read.body == nil {
            prepared.probe = await LatencyProbe.run(host: target.host, port: target.port, path: read.path,
                                                    headers: read.headers, timeout: min(steps.resetTimeout, 2))
        }
        return prepared
    }

    /// What each worker held before the first load (empty without a baseline).
    public var baselineByPid: [Int32: Int] { baseline.withLockedValue { $0.byPid } }

    /// One load (a run's, or one dashboard burst), with the worker reads taken
    /// while it runs and the resets `steps` schedules; returns once the load
    /// and those resets have ended. `handle` lets the caller stop it early.
    public func load(plan: LoadPlan, steps: RunSteps = RunSteps(), handle: LoadHandle = LoadHandle()) async throws -> LoadResult {
        var plan = plan
        // The app's own operation, and its workers named from /proc.
        if target.appRequests != .counterAPI { plan.use(target.appRequests) }
        switch steps.pidSource {
        case nil: plan.owners = target.socketOwners
        case .proc?: plan.owners = target.socketOwners ?? SocketOwners(scope: .anyProcess)
        case .answer?: plan.owners = nil
        }
        plan.stopWhenMisrouted = true
        let resets = ResetTasks()
        if let count = steps.resetAfter {
            let target = self.target
            recorder.scheduleReset(afterAcknowledged: recorder.acknowledged + count, worker: steps.resetWorker) { [self] token in
                // On the load's event loop: hand the blocking request to a task.
                resets.add(Task {
                    let start = MonotonicClock.now()
                    let answer = await target.reset(through: token.worker, timeout: steps.resetTimeout)
                    self.recorder.endReset(token, outcome: answer.outcome, pid: answer.pid, error: answer.error)
                    self.noteApplied(answer, pid: nil, start: start)
                })
            }
        }
        let sampling = NIOLockedValueBox(true)
        let sampler = Task { [self] in
            var turn = 0
            // Bounded by the load: it ends when `sampling` turns false just after it.
            while sampling.withLockedValue({ $0 }) {
                if let read = await target.sampleRead(turn: turn), let adjusted = adjusted(read) { recorder.recordRead(adjusted) }
                turn += 1
                try? await Task.sleep(nanoseconds: Self.readInterval)
            }
        }
        events(.phase(.loading))
        let running = LoadGenerator(plan: plan, recorder: recorder)
        handle.attach(running)
        let faults = faultRunner(steps.faults, gate: running.gate, timeout: plan.timeout)
        let start = MonotonicClock.now()
        let faulting = Task { await faults?.run(loadStart: start) }
        let result: Result<LoadResult, Error>
        do {
            result = .success(try await running.run { [events] in events(.load($0)) })
        } catch {
            result = .failure(error)
        }
        faults?.loadEnded()
        if Task.isCancelled { faulting.cancel() }
        await faulting.value
        sampling.withLockedValue { $0 = false }
        await sampler.value
        await resets.waitAll()
        return try result.get()
    }

    /// The runner of a load's fault steps, or nil without any (a target that
    /// cannot take faults gets none, and the run fails saying why).
    private func faultRunner(_ steps: [FaultStep], gate: LoadGate, timeout: Double) -> FaultRunner? {
        guard !steps.isEmpty else { return nil }
        guard let target = target as? any FaultTarget else {
            recorder.missedFault("faults run against statelab's own app only, not \(target.label)")
            return nil
        }
        return FaultRunner(steps: steps, target: target, recorder: recorder, gate: gate, shared: sharing == .yes || sharing == .perHost,
                           drainTimeout: timeout + 1) { [self] in adjusted($0) }
    }

    /// Fires one fault step now, between loads (the dashboard's keys),
    /// through the `FaultRunner` a scenario's steps go through, so the step,
    /// its restart and the count before and after are in this history and the
    /// check judges them as it judges a scenario's. Throws, recording nothing,
    /// when the target takes no faults or the step cannot fire now.
    public func fire(_ step: FaultStep) async throws -> FaultRecord {
        let runner = try onDemandRunner()
        switch step.kind {
        case .killStore, .restartStore:
            if let problem = runner.target.storeProcessProblem { throw FaultError(problem) }
            if step.kind == .killStore, runner.storeDown { throw FaultError("the store is down already: U starts it again") }
            if step.kind == .restartStore, !runner.storeDown { throw FaultError("the store is running: K kills it first") }
        case .killWorker, .restartWorker, .restartApp:
            if runner.storeDown { throw FaultError("the store is down and a new worker is ready only once it reads the store: press U first") }
        case .pauseWorker, .resumeWorker, .killHost, .restartHost:
            break
        }
        return await runner.fire(step)
    }

    /// Restarts recorded in the history so far.
    public var restartCount: Int { recorder.restartCount }

    /// A kill_store was fired on demand and no restart_store after it yet.
    public var storeDown: Bool { onDemand.withLockedValue { $0 }?.storeDown ?? false }

    /// A user's app stopped from outside statelab's own faults (a pid killed
    /// through the dashboard): the kill and its pid's departure, in the history.
    public func recordKill(pid: Int32, outcome: String) {
        recorder.recordFault(FaultRecord(step: "kill_pid", atSeconds: recorder.secondsSinceOrigin(),
                                         acknowledged: recorder.acknowledged, pid: pid, outcome: outcome))
        recorder.departed(pid: pid, reason: "killed with SIGKILL from the dashboard")
    }

    private func onDemandRunner() throws -> FaultRunner {
        try onDemand.withLockedValue { runner in
            if let runner { return runner }
            guard let target = target as? any FaultTarget else {
                throw FaultError("faults run against statelab's own app only, not \(target.label)")
            }
            // No load runs meanwhile: a gate of its own, with nothing in flight.
            let made = FaultRunner(steps: [], target: target, recorder: recorder, gate: LoadGate(), shared: sharing == .yes || sharing == .perHost,
                                   drainTimeout: 5) { [self] in adjusted($0) }
            runner = made
            return made
        }
    }

    /// POST /reset through one worker (nil: whichever answers), recorded in the history.
    public func reset(through worker: Int?, pid: Int32? = nil, timeout: Double) async -> ResetAnswer {
        let token = recorder.beginReset(pid: pid, worker: worker)
        let start = MonotonicClock.now()
        let answer = await target.reset(through: worker, timeout: timeout)
        recorder.endReset(token, outcome: answer.outcome, pid: answer.pid, error: answer.error)
        noteApplied(answer, pid: pid, start: start)
        return answer
    }

    /// Reads every worker until two rounds in a row agree (answers that timed
    /// out may still land), then takes those as the history's final reads.
    @discardableResult
    public func settle(expecting pids: Set<Int32>) async -> [ReadRecord] {
        events(.phase(.reading))
        let expected = pids.union(baseline.withLockedValue { $0.pids })
        let final = await Self.settledReads(of: target, expecting: expected)
        let reads = final.reads.compactMap(adjusted)
        let unknown = Set(final.reads.map(\.pid)).subtracting(reads.map(\.pid)).sorted().map {
            UnreadWorker(pid: $0, reason: "not read before the load, so what it already counted is unknown")
        }
        recorder.recordFinal(reads: reads, unread: final.unread + unknown, settled: final.settled)
        return reads
    }

    /// The check of everything recorded so far. Sharing `auto` is decided
    /// here from the final reads, and the report says why.
    public func check() -> (check: CheckResult, notes: [String]) {
        var sentences = notes.withLockedValue { $0 }
        var shared: Bool
        var perHost = false
        switch sharing {
        case .yes: shared = true
        case .no: shared = false
        case .perHost: (shared, perHost) = (true, true)
        case .auto where !recorder.checksCounter:
            shared = true  // nothing is read: no counter to take either way
        case .auto:
            var (guess, reason) = RunPipeline.guessSharing(final: recorder.finalReads)
            shared = guess
            if recorder.views.contains(.perHost), let hosts = RunPipeline.perHostCandidate(final: recorder.finalReads) {
                // Each host's workers agree: one counter per host, or one for every host. One per
                // host is taken only when it explains the history with no anomaly at all and one
                // shared counter cannot: a shared store that lost updates is never excused by it.
                let asOne = checked(shared: true, perHost: false)
                let perHosts = checked(shared: true, perHost: true)
                if perHosts.anomalies == 0 && asOne.anomalies > 0 {
                    (shared, perHost) = (true, true)
                    reason = "checked as one counter per host: the workers of each of the \(hosts) hosts agree, and one counter per host explains every answer (one shared counter would have \(ReportNumbers.grouped(asOne.anomalies)) lost, unexpected or repeated); pass --shared yes or per-host to choose"
                } else {
                    (shared, perHost) = (true, false)
                    reason = "checked as one shared counter: the workers of each of the \(hosts) hosts agree, and one counter per host would not explain every answer either; pass --shared per-host to choose"
                }
            }
            lastGuess.withLockedValue { $0 = reason }
            sentences.append("--shared auto: " + reason)
        }
        var check = checked(shared: shared, perHost: perHost)
        check.step = target.appRequests.step
        sentences += check.resets.map(RunPipeline.describe)
        return (check, sentences)
    }

    /// The recorder's check of one view: the one place a history becomes a check.
    private func checked(shared: Bool, perHost: Bool) -> CheckResult {
        recorder.check(shared: shared, perHost: perHost)
    }

    /// What a report draws of the view `check` took; nil unless the session keeps evidence.
    public func evidence(for check: CheckResult) -> RunEvidence? { recorder.evidence(shared: check.shared, perHost: check.perHost) }

    /// The latest witnessed lost update of the view `check` took (the dashboard's race view).
    public func latestRace(for check: CheckResult) -> RaceTrace? { check.perHost ? nil : recorder.latestRace(shared: check.shared) }

    /// The run's last line in an exported history: statelab's own check.
    public func exportCheck(_ check: CheckResult) { recorder.export?.check(check) }

    /// With sharing auto: how the last check took the counter (one shared, or one per worker) and why.
    public var sharingGuess: String? { lastGuess.withLockedValue { $0 } }

    /// Steps that were due and never happened.
    public var missedSteps: [String] { recorder.missedSteps }

    /// A read with what the worker held before the first load taken off.
    /// Nil when the worker's count before the load is unknown, or a reset overlapped the read.
    public func adjusted(_ read: ReadRecord) -> ReadRecord? { baseline.withLockedValue { $0.apply(read) } }

    /// A reset that applied ends the baseline of the counters it reached.
    private func noteApplied(_ answer: ResetAnswer, pid: Int32?, start: UInt64) {
        guard answer.outcome == .ok else { return }
        let reset = Baseline.AppliedReset(pid: sharing == .yes ? nil : answer.pid ?? pid, start: start, end: MonotonicClock.now())
        baseline.withLockedValue { $0.resets.append(reset) }
    }

    private func note(_ text: String) { notes.withLockedValue { $0.append(text) } }

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
}

/// Stops a session's load from anywhere, before or after it has started.
public final class LoadHandle: Sendable {
    private let state = NIOLockedValueBox<(generator: LoadGenerator?, stopped: Bool)>((nil, false))

    public init() {}

    func attach(_ generator: LoadGenerator) {
        let stopped = state.withLockedValue { state in
            state.generator = generator
            return state.stopped
        }
        if stopped { generator.stop() }
    }

    /// The load stops issuing requests; those in flight end as usual.
    public func stop() {
        let generator = state.withLockedValue { state in
            state.stopped = true
            return state.generator
        }
        generator?.stop()
    }
}
