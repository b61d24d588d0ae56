import Foundation
import NIOConcurrencyHelpers
import StateLab

/// What the dashboard watches.
public enum DashboardTarget: Sendable, Equatable {
    /// statelab's own app, with the settings' strategy, mode and workers.
    case ownApp
    /// An app already running at a loopback URL.
    case url(host: String, port: Int, sharing: Sharing)
    /// An app statelab launches from a command, and stops on quit.
    case command(CommandSpec, sharing: Sharing)
}

/// The engine's state and every step it takes, one at a time (an actor): the
/// target, its session, the burst in flight, and what the rows show.
actor LiveController {
    private let options: LiveEngine.Options
    private let events: DashboardEventQueue
    private var settings: DashboardSettings
    private var burstSize: Int

    private var target: (any RunTarget)?
    private var stopTarget: @Sendable () async -> Void = {}
    private var session: RunSession?
    /// Bumped at every launch: a burst of an earlier app says nothing about this one.
    private var generation = 0
    /// Bumped whenever what the workers hold changes at once (a burst ends, a
    /// reset, a launch): a row sample begun before that is stale and dropped.
    private var epoch = 0
    /// Resets sent and not answered yet: a read taken meanwhile may come from
    /// either side of the reset, so no sample is posted until they are done.
    private var resetsInFlight = 0
    private var stopping = false
    /// Every worker is being stopped and started again (A): every row says so.
    private var appRestarting = false
    /// A fault step is being fired (k, K, U, A): `shutdown` waits for it, since a
    /// stop racing a restart would miss the processes the restart starts.
    private var faulting = false
    /// The step being fired: while U brings the store back, the rows still say it is down.
    private var faultingStep: FaultStep.Kind?

    private var burst: Burst?
    /// A burst's final reads and check are being taken.
    private var settling = false
    private var pausedRemaining: Int?
    private var comparison: Task<Void, Never>?
    /// The latency probe taken when an app of the user's was started (for the diagnosis).
    private var probe: LatencyProbe.Result?

    /// Acknowledged increments per pid since the last reset, from finished bursts.
    private var acknowledgedByPid: [Int32: Int] = [:]
    /// Row numbers for pids of a target that cannot number its workers, in the order first seen.
    private var rowIndex: [Int32: Int] = [:]
    /// The sample in which each pid last answered a read, and what it read.
    private var lastRead: [Int32: (sample: Int, value: Int)] = [:]
    private var samples = 0
    /// Pids already named as not reached lately.
    private var namedUnreached: Set<Int32> = []
    /// The live figures of the burst in flight, written from the load's progress callback.
    private nonisolated let live = NIOLockedValueBox<LoadProgress?>(nil)
    /// The burst in flight's size, for its progress bar.
    private nonisolated let liveTotal = NIOLockedValueBox(0)
    /// Set at once by the pause key, and the burst's handle, so a pause never queues behind an action.
    private nonisolated let pausedNow = NIOLockedValueBox(false)
    private nonisolated let burstHandle = NIOLockedValueBox<LoadHandle?>(nil)

    private struct Burst {
        var handle: LoadHandle
        var total: Int
        var task: Task<Void, Never>?
    }

    init(options: LiveEngine.Options, events: DashboardEventQueue) {
        self.options = options
        self.events = events
        settings = options.settings
        burstSize = options.burstSize
    }

    private var ownApp: Bool { options.target == .ownApp }

    func start() async {
        events.post(.availability(Self.unavailable(redisURL: options.redisURL, postgresURL: options.postgres.url)))
        await launch(settings, relaunch: false)
    }

    func handle(_ action: DashboardAction) async {
        guard !stopping else { return }
        switch action {
        case .fireBurst:
            fireBurst(count: burstSize)
        case .chooseStrategy(let strategy):
            await relaunch { $0.strategy = strategy; if !strategy.modes.contains($0.mode) { $0.mode = .naive } }
        case .chooseMode(let mode):
            await relaunch { $0.mode = mode }
        case .changeConcurrency(let delta):
            settings.concurrency = min(4096, max(1, settings.concurrency + delta))
            events.post(.settings(settings))
        case .changeWorkers(let delta):
            await relaunch { $0.workers = min(64, max(1, $0.workers + delta)) }
        case .resetOne(let worker):
            await reset(rows: [worker])
        case .resetAll:
            await reset(rows: nil)
        case .killWorker(let worker):
            await kill(row: worker)
        case .killStore:
            await fault(FaultStep(.killStore), key: "K")
        case .restartStore:
            await fault(FaultStep(.restartStore), key: "U")
        case .restartApp:
            await fault(FaultStep(.restartApp), key: "A")
        case .compare:
            compare()
        case .setPaused(let paused):
            // Again here, in order: a burst fired after the key was pressed but before this turn stops too.
            pauseNow(paused)
            resumeIfUnpaused(paused)
        case .quit:
            break
        }
    }

    func shutdown() async {
        stopping = true
        burst?.handle.stop()
        // A compare run in progress stops its load at once (cancellation), so quitting never waits for it.
        comparison?.cancel()
        await burst?.task?.value
        await comparison?.value
        // Bounded by the restart's own timeouts (a worker's stop grace, its start); this is a backstop.
        let deadline = MonotonicClock.now() + 60_000_000_000
        while faulting, MonotonicClock.now() < deadline { try? await Task.sleep(nanoseconds: 20_000_000) }
        await stopTarget()
        stopTarget = {}
        target = nil
        session = nil
    }

    // MARK: - The target

    static func unavailable(redisURL: String?, postgresURL: String? = nil) -> [Strategy: String] {
        var map: [Strategy: String] = [:]
        for strategy in Strategy.allCases {
            if let reason = StrategyAvailability.reason(strategy, redisURL: redisURL, postgresURL: postgresURL) { map[strategy] = reason }
        }
        return map
    }

    private func relaunch(_ change: (inout DashboardSettings) -> Void) async {
        guard ownApp else {
            events.post(.log(.info, "s, m and the worker count change statelab's own app; this dashboard watches \(target?.label ?? "an app") as it is"))
            return
        }
        var next = settings
        change(&next)
        await launch(next, relaunch: true)
    }

    /// Stops the current target and its burst, and starts the one the options and `next` describe.
    private func launch(_ next: DashboardSettings, relaunch: Bool) async {
        if ownApp, let reason = StrategyAvailability.reason(next.strategy, redisURL: options.redisURL,
                                                            postgresURL: options.postgres.url) {
            events.post(.error("\(next.strategy.rawValue) cannot run here: \(reason)"))
            return
        }
        burst?.handle.stop()
        await burst?.task?.value
        target = nil
        session = nil
        generation += 1
        epoch += 1
        await stopTarget()
        stopTarget = {}
        forgetCounts()
        appRestarting = false
        do {
            let (started, stop, sharing, line) = try await startTarget(next)
            // Quit while it started: stop it again at once.
            guard !stopping else { await stop(); return }
            target = started
            stopTarget = stop
            settings = next
            let session = newSession(on: started, sharing: sharing)
            if !ownApp { probe = await session.prepare(RunSteps(baseline: true, probe: true)).probe }
            self.session = session
            events.post(relaunch ? .relaunched(next) : .settings(next))
            events.post(.totals(RunTotals()))
            events.post(.log(.info, line))
        } catch {
            let what = ownApp ? "\(next.strategy.rawValue)/\(next.mode.rawValue)" : "the app"
            events.post(.error("could not start \(what): \(error)"))
        }
    }

    private func startTarget(_ next: DashboardSettings) async throws
        -> (any RunTarget, @Sendable () async -> Void, Sharing, String) {
        switch options.target {
        case .ownApp:
            var config = AppConfig(strategy: next.strategy, mode: next.mode, workers: next.workers, port: 0,
                                   raceWindowMicros: next.raceWindowMicroseconds, storeThreads: options.storeThreads,
                                   redisURL: options.redisURL, executable: options.executable, listen: options.listen,
                                   postgres: options.postgres)
            config.redisAppendOnly = options.redisAppendOnly
            let started = config
            // No log callback: everything the supervisor would log follows a call made here (kill,
            // monitor) that reports it, and the engine logs each of those once, in its own words.
            let (target, stop) = try await TargetStarter.own(started)
            let line = "\(next.strategy.rawValue)/\(next.mode.rawValue): \(next.strategy.describe(next.mode)); \(next.workers) workers on \(target.supervisor.url)"
            return (target, stop, next.strategy.isShared ? .yes : .no, line)
        case .url(let host, let port, let sharing):
            let target = URLTarget(host: host, port: port)
            return (target, {}, sharing,
                    "watching \(target.label): reads go through GET /report on fresh connections; the kernel picks the worker, so some pids may not be reached")
        case .command(let spec, let sharing):
            let (target, stop) = try await TargetStarter.start(.command(spec, sharing: sharing), label: spec.command,
                                                         redisURL: options.redisURL, postgresURL: options.postgres.url,
                                                         executable: options.executable)
            let workers = await target.workers()
            return (target, stop, sharing,
                    "launched \(spec.command) on port \(target.port): \(workers.count) worker pids found; k sends SIGKILL to the selected one")
        }
    }

    private func newSession(on target: any RunTarget, sharing: Sharing) -> RunSession {
        RunSession(target: target, sharing: sharing) { [events, live, liveTotal] event in
            Self.forward(event, events: events, live: live, total: liveTotal)
        }
    }

    /// What a finished history knew about the workers: gone with it.
    private func forgetCounts() {
        acknowledgedByPid = [:]
        rowIndex = [:]
        lastRead = [:]
        namedUnreached = []
        pausedRemaining = nil
    }

    /// The session's events that need no state of the controller, posted as they come.
    private nonisolated static func forward(_ event: RunEvent, events: DashboardEventQueue,
                                            live: NIOLockedValueBox<LoadProgress?>, total: NIOLockedValueBox<Int>) {
        if case .workerExit(let exit) = event { events.post(.log(.kill, exit.line)) }
        guard case .load(let progress) = event else { return }
        live.withLockedValue { $0 = progress }
        events.post(.burstProgress(done: progress.completed, total: total.withLockedValue { $0 }))
        events.post(.latency(p50Milliseconds: progress.p50, p99Milliseconds: progress.p99))
    }

    // MARK: - Bursts

    private func fireBurst(count: Int) {
        guard let session, let target else {
            events.post(.error("no app is running yet"))
            return
        }
        guard burst == nil, comparison == nil else {
            events.post(.log(.info, comparison == nil ? "a burst is already running" : "wait for the compare to finish"))
            return
        }
        let plan = LoadPlan(host: target.host, port: target.port, stop: .count(count), concurrency: settings.concurrency)
        let handle = LoadHandle()
        let generation = self.generation
        live.withLockedValue { $0 = nil }
        liveTotal.withLockedValue { $0 = count }
        pausedNow.withLockedValue { $0 = false }
        burstHandle.withLockedValue { $0 = handle }
        pausedRemaining = nil
        burst = Burst(handle: handle, total: count)
        events.post(.burstStarted(total: count))
        burst?.task = Task {
            let result = try? await session.load(plan: plan, handle: handle)
            await self.burstEnded(result, generation: generation, requested: count)
        }
    }

    private func burstEnded(_ result: LoadResult?, generation: Int, requested: Int) async {
        // The burst stays in place until its check is done: a new burst, a compare or a reset
        // meanwhile would change the store between the final reads and the check.
        defer { burst = nil; settling = false }
        settling = true
        live.withLockedValue { $0 = nil }
        burstHandle.withLockedValue { $0 = nil }
        // A burst of an app that was relaunched meanwhile says nothing about the new one.
        guard generation == self.generation, !stopping, let session else { return }
        guard let result else {
            events.post(.error("the burst could not run"))
            return
        }
        epoch += 1
        for (pid, tally) in result.perPid { acknowledgedByPid[pid, default: 0] += tally.acknowledged }
        events.post(.latency(p50Milliseconds: result.latency.p50, p99Milliseconds: result.latency.p99))
        events.post(.burstProgress(done: result.attempted, total: requested))
        let finals = await session.settle(expecting: Set(acknowledgedByPid.keys).union(rowIndex.keys))
        let (check, notes) = session.check()
        guard generation == self.generation else { return }
        // Fresh worker rows before the verdict, so the table never shows mid-burst reads next to it.
        await postRows(reads: finals)
        let totals = totals(of: check)
        if pausedNow.withLockedValue({ $0 }) {
            pausedRemaining = max(0, requested - result.attempted)
            events.post(.totals(totals))
            events.post(.log(.burst, "paused after \(result.attempted) of \(requested) increments"))
        } else {
            events.post(.burstFinished(totals))
            events.post(.log(.burst, String(format: "%.0f req/s, p50 %.2f ms, p99 %.2f ms",
                                              result.throughput, result.latency.p50, result.latency.p99)))
        }
        let outcome = RunOutcome(load: result, check: check, notes: notes, probe: probe, baselineByPid: session.baselineByPid)
        let diagnosis = Diagnoser.diagnose(outcome: outcome, concurrency: settings.concurrency)
        events.post(.diagnosis(diagnosis.map(\.text)))
        if !ownApp, let guess = notes.first(where: { $0.hasPrefix("--shared auto") }) {
            events.post(.log(.info, guess.replacingOccurrences(of: "--shared auto: ", with: "")))
        }
    }

    /// The check as the box shows it: the check itself, its witnesses' pids as rows.
    private func totals(of check: CheckResult) -> RunTotals {
        let witnesses = check.witnesses.map { witness in
            WorkerWitness(count: witness.count, workers: witness.pids.compactMap { rowIndex[$0] })
        }
        return RunTotals(check: check, witnesses: witnesses)
    }

    /// After a reset or a fault: the workers' reads settled and the whole
    /// history checked again, and that check shown, as after a burst.
    @discardableResult
    private func checkNow() async -> CheckResult? {
        guard let session, !stopping, !settling else { return nil }
        settling = true
        defer { settling = false }
        let generation = self.generation
        epoch += 1
        let finals = await session.settle(expecting: Set(acknowledgedByPid.keys).union(rowIndex.keys))
        let (check, _) = session.check()
        guard generation == self.generation, !stopping else { return nil }
        await postRows(reads: finals)
        events.post(.totals(totals(of: check)))
        return check
    }

    /// Called by the engine at once (not queued behind other actions): a pause stops the burst.
    nonisolated func pauseNow(_ paused: Bool) {
        pausedNow.withLockedValue { $0 = paused }
        if paused { burstHandle.withLockedValue { $0 }?.stop() }
    }

    private func resumeIfUnpaused(_ now: Bool) {
        events.post(.paused(now))
        guard !now, let remaining = pausedRemaining, remaining > 0 else { return }
        pausedRemaining = nil
        fireBurst(count: remaining)
    }

    // MARK: - Resets and kills

    private func reset(rows: [Int]?) async {
        guard let session, let target else { return }
        guard !settling else {
            events.post(.log(.info, "the burst is being checked; reset once its verdict is in"))
            return
        }
        guard ownApp else {
            // A shared socket cannot address one worker: the reset goes to whichever answers.
            epoch += 1
            resetsInFlight += 1
            let answer = await session.reset(through: nil, timeout: 5)
            resetsInFlight -= 1
            epoch += 1
            if answer.outcome == .ok {
                let pid = answer.pid.map { "pid \($0)" } ?? "a worker"
                events.post(.log(.reset, "POST /reset answered by \(pid): an app with a counter per worker reset that worker only (the kernel picks which)"))
                if let pid = answer.pid { acknowledgedByPid[pid] = 0 }
                if session.sharing == .yes { acknowledgedByPid = [:] }
            } else {
                events.post(.error("POST /reset: \(answer.error ?? answer.outcome.rawValue)"))
            }
            await checkNow()
            return
        }
        let workers = await target.workers()
        let shared = settings.strategy.isShared
        for worker in workers where rows?.contains(worker.index) ?? true {
            epoch += 1
            resetsInFlight += 1
            let answer = await session.reset(through: worker.index, pid: worker.pid, timeout: 5)
            resetsInFlight -= 1
            epoch += 1
            guard answer.outcome == .ok else {
                events.post(.error("reset through worker \(worker.index) failed: \(answer.error ?? answer.outcome.rawValue)"))
                continue
            }
            if shared { acknowledgedByPid = [:] } else { acknowledgedByPid[worker.pid] = 0 }
            let pid = " (pid \(answer.pid ?? worker.pid))"
            let reach = shared ? "every worker shares the store" : "only that worker's own counter"
            events.post(.log(.reset, rows == nil ? "reset through worker \(worker.index)\(pid)" : "reset through worker \(worker.index)\(pid): \(reach)"))
        }
        await checkNow()
    }

    /// k: statelab's own worker through the fault path (`kill_worker`); a
    /// launched command's pid by SIGKILL, recorded in the history, then
    /// watched in /proc for the server's replacement.
    private func kill(row: Int) async {
        guard let target else { return }
        if ownApp {
            await fault(FaultStep(.killWorker, worker: .index(row)), key: "k")
            return
        }
        guard let session, let pid = rowIndex.first(where: { $0.value == row })?.key else { return }
        await endBurst()
        let before = Set(await target.workers().map(\.pid))
        if let refusal = await target.kill(pid: pid) {
            events.post(.error(refusal))
            return
        }
        epoch += 1
        session.recordKill(pid: pid, outcome: "SIGKILL to pid \(pid)")
        events.post(.log(.kill, "SIGKILL to pid \(pid): its count dies with it"))
        // The user's server starts a new worker, or does not: watch /proc for a while.
        var fresh: [Int32] = []
        for _ in 0..<50 where fresh.isEmpty && !stopping {
            try? await Task.sleep(nanoseconds: 200_000_000)
            fresh = Set(await target.workers().map(\.pid)).subtracting(before).sorted()
        }
        events.post(.log(.kill, fresh.isEmpty
            ? "no new worker appeared within 10 s (does the server start a new worker when one dies?)"
            : "pid \(pid) was replaced by pid \(fresh.map(String.init).joined(separator: ", "))"))
        await checkNow()
    }

    // MARK: - Store and app faults

    /// k, K, U and A on statelab's own app: the fault step a scenario would
    /// run, fired now through `RunSession.fire` (the `FaultRunner`), so it is in
    /// the history with its outcome, and a restart is judged durable or not by
    /// the check. A burst in flight is stopped and checked first; the history
    /// is checked again once the step is done, and the box shows that check.
    private func fault(_ step: FaultStep, key: String) async {
        guard let session, let target else {
            events.post(.error("no app is running yet"))
            return
        }
        guard ownApp, target is any FaultTarget else {
            events.post(.error("\(key): faults go to statelab's own app only, not to \(target.label)"))
            return
        }
        await endBurst()
        guard !stopping else { return }
        faulting = true
        faultingStep = step.kind
        epoch += 1
        if step.kind == .restartApp { appRestarting = true; await postRows(reads: []) }
        let restartsBefore = session.restartCount
        let record: FaultRecord
        do {
            record = try await session.fire(step)
        } catch {
            faulting = false
            faultingStep = nil
            appRestarting = false
            events.post(.error("\(key): \(error)"))
            return
        }
        faulting = false
        faultingStep = nil
        appRestarting = false
        epoch += 1
        guard !stopping else { return }
        events.post(record.failed ? .error("\(key) \(step): \(record.outcome)") : .log(.kill, "\(key) \(step): \(record.outcome)"))
        for line in record.events { events.post(.log(.kill, line)) }
        // With the store down, the check says what cannot be known until U.
        guard let check = await checkNow() else { return }
        // The restart this step ended, judged by the check in the report's words.
        for restart in check.restarts.dropFirst(restartsBefore) {
            events.post(.log(restart.durable == false ? .error : .relaunch, restart.sentence))
        }
    }

    /// Stops a burst in flight and waits for its check, which sees the store as it was.
    private func endBurst() async {
        guard let burst else { return }
        burst.handle.stop()
        await burst.task?.value
    }

    // MARK: - Compare

    private func compare() {
        guard burst == nil, comparison == nil else {
            events.post(.log(.info, "wait for the burst to finish before comparing"))
            return
        }
        let app = AppSettings(workers: settings.workers, raceWindowMicros: settings.raceWindowMicroseconds,
                              threads: options.storeThreads)
        let runs = options.compareRuns.isEmpty
            ? Strategy.allCases.map { RunSpec(strategy: $0, mode: settings.mode, app: app, expectations: [], line: 0) }
            : options.compareRuns
        events.post(.compareStarted(mode: settings.mode, increments: burstSize, strategies: runs.map(\.strategy)))
        let load = LoadSettings(limit: .increments(burstSize), concurrency: settings.concurrency)
        let (events, redisURL, postgres, executable) = (self.events, options.redisURL, options.postgres, options.executable)
        comparison = Task {
            for spec in runs {
                guard !Task.isCancelled else { break }
                if !spec.strategy.modes.contains(spec.mode) {
                    events.post(.compareRow(CompareRow(strategy: spec.strategy, mode: spec.mode,
                                                       unavailableReason: "\(spec.strategy.rawValue) has no \(spec.mode.rawValue) mode")))
                    continue
                }
                let plan = RunPlan(spec: spec, load: load, redisURL: redisURL, postgres: postgres, executable: executable)
                do {
                    let run = try await AppRun.run(plan)
                    if run.isSkipped {
                        events.post(.compareRow(CompareRow(strategy: spec.strategy, mode: spec.mode, unavailableReason: run.skipped)))
                    } else {
                        events.post(.compareRow(CompareRow(strategy: spec.strategy, mode: spec.mode,
                                                           acknowledged: run.check.acknowledged, lost: run.check.lost,
                                                           requestsPerSecond: run.throughputRPS)))
                    }
                } catch where Task.isCancelled {
                    break
                } catch {
                    events.post(.compareRow(CompareRow(strategy: spec.strategy, mode: spec.mode, unavailableReason: "\(error)")))
                }
            }
            if !Task.isCancelled { events.post(.compareFinished) }
            self.compareEnded()
        }
    }

    private func compareEnded() { comparison = nil }

    // MARK: - Reading workers

    /// Reads every worker (bounded) and posts their rows.
    func sample() async {
        guard !stopping, !pausedNow.withLockedValue({ $0 }), let target else { return }
        let (epoch, generation) = (self.epoch, self.generation)
        let expected = Set(acknowledgedByPid.keys).union(rowIndex.keys)
        // What each worker held before the session's baseline taken off, as the final reads are.
        let reads = await target.quickReads(expecting: expected, timeout: 0.5).compactMap { read in
            session.map { $0.adjusted(read) } ?? read
        }
        // Only if nothing changed what the workers hold meanwhile: reads taken mid-burst must
        // not land after the burst's verdict, nor reads from before a reset after it.
        guard epoch == self.epoch, generation == self.generation, resetsInFlight == 0, !stopping else { return }
        guard await postRows(reads: reads, epoch: epoch, generation: generation) else { return }
        if let live = live.withLockedValue({ $0 }) {
            events.post(.throughput(requestsPerSecond: live.currentRate))
            let acknowledged = acknowledgedByPid.values.reduce(0, +) + live.ok
            let values = reads.map(\.value)
            let shared = ownApp ? settings.strategy.isShared : session?.sharing != .no && Set(values).count <= 1
            let store = StoreCount.of(values, shared: shared)
            events.post(.live(LiveFigures(acknowledged: acknowledged, failed: live.fail, indeterminate: live.indeterminate,
                                          storeRead: store)))
        } else {
            events.post(.throughput(requestsPerSecond: 0))
        }
    }

    /// Posts the rows, unless the workers' state changed (`epoch`, `generation`) while
    /// they were being put together; says whether it posted. `reads` have the session's
    /// baseline taken off already (the final reads come so from `settle`).
    @discardableResult
    private func postRows(reads: [ReadRecord], epoch: Int? = nil, generation: Int? = nil) async -> Bool {
        guard let target else { return false }
        samples += 1
        for read in reads { lastRead[read.pid] = (samples, read.value) }
        let liveAcks = live.withLockedValue { $0?.acknowledgedByPid } ?? [:]
        var rows: [WorkerRow] = []
        if ownApp {
            for worker in await target.workers() {
                rowIndex[worker.pid] = worker.index
                let read = reads.first { $0.pid == worker.pid }?.value
                let status: WorkerStatus = switch worker.status {
                case .dead: .dead
                case .restarting: .restarting
                case .alive where appRestarting: .restarting
                // Its reads fail with 503 because its store is gone, not because it is.
                case .alive where session?.storeDown == true || faultingStep == .restartStore: .storeDown
                case .alive: read == nil ? .dead : .alive
                }
                rows.append(WorkerRow(index: worker.index, pid: worker.pid, status: status,
                                      acknowledged: (acknowledgedByPid[worker.pid] ?? 0) + (liveAcks[worker.pid] ?? 0),
                                      currentRead: read))
            }
        } else {
            // A launched command's workers come from /proc: a pid no longer there is dead, and
            // a new one takes the row of a dead one (the server replaced it). An app at a URL
            // has only the pids seen in its answers.
            let running = Set(await target.workers().map(\.pid))
            let known = !running.isEmpty
            var dead = rowIndex.filter { known && !running.contains($0.key) }.map(\.value).sorted()
            let seen = Set(acknowledgedByPid.keys).union(liveAcks.keys).union(lastRead.keys)
            for pid in (known ? running : seen).sorted() where rowIndex[pid] == nil {
                if !dead.isEmpty, let old = rowIndex.first(where: { $0.value == dead[0] })?.key {
                    rowIndex[old] = nil
                    rowIndex[pid] = dead.removeFirst()
                } else {
                    rowIndex[pid] = (rowIndex.values.max() ?? -1) + 1
                }
            }
            var unreached: [Int32] = []
            for (pid, index) in rowIndex.sorted(by: { $0.value < $1.value }) {
                // A shared socket cannot address one pid: a read older than two seconds is not shown as current.
                let recent = lastRead[pid].flatMap { samples - $0.sample <= 8 ? $0.value : nil }
                let gone = known && !running.contains(pid)
                if recent == nil, !gone, !namedUnreached.contains(pid) { unreached.append(pid) }
                rows.append(WorkerRow(index: index, pid: pid, status: gone ? .dead : recent == nil ? .restarting : .alive,
                                      acknowledged: (acknowledgedByPid[pid] ?? 0) + (liveAcks[pid] ?? 0),
                                      currentRead: gone ? nil : recent))
            }
            if !unreached.isEmpty, samples > 8 {
                namedUnreached.formUnion(unreached)
                events.post(.log(.info, "GET /report has not reached pid \(unreached.map(String.init).joined(separator: ", ")) lately: the kernel picks the worker for each connection"))
            }
        }
        guard epoch.map({ $0 == self.epoch }) ?? true, generation.map({ $0 == self.generation }) ?? true,
              epoch == nil || resetsInFlight == 0, !stopping else {
            return false
        }
        events.post(.workers(rows))
        return true
    }
}
