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
    /// The store's process was killed (K) and not started again (U): every row says so.
    private var storeDown = false
    /// Every worker is being stopped and started again (A): every row says so.
    private var appRestarting = false
    /// The store's count read just before K, for the line U logs.
    private var countAtKill: Int?
    /// A store or app fault is being taken by the supervisor (K, U, A).
    private var supervisorBusy = false

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
            await killStore()
        case .restartStore:
            await restartStore()
        case .restartApp:
            await restartApp()
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
        while supervisorBusy, MonotonicClock.now() < deadline { try? await Task.sleep(nanoseconds: 20_000_000) }
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
        storeDown = false
        appRestarting = false
        countAtKill = nil
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
            let supervisor = try await OffThread.run { try Supervisor.start(started) }
            let line = "\(next.strategy.rawValue)/\(next.mode.rawValue): \(next.strategy.describe(next.mode)); \(next.workers) workers on \(supervisor.url)"
            return (SupervisorTarget(supervisor: supervisor), { await OffThread.run { supervisor.stop() } },
                    next.strategy.isShared ? .yes : .no, line)
        case .url(let host, let port, let sharing):
            let target = URLTarget(host: host, port: port)
            return (target, {}, sharing,
                    "watching \(target.label): reads go through GET /report on fresh connections; the kernel picks the worker, so some pids may not be reached")
        case .command(let spec, let sharing):
            let (target, stop) = try await UserApp.start(.command(spec, sharing: sharing), label: spec.command,
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

    private func totals(of check: CheckResult) -> RunTotals {
        let witnesses = check.witnesses.map { witness in
            WorkerWitness(count: witness.count, workers: witness.pids.compactMap { rowIndex[$0] })
        }
        return RunTotals(acknowledged: check.acknowledgedSinceReset, failed: check.failed,
                         indeterminate: check.indeterminate, storeValue: check.perWorker.isEmpty ? nil : check.final,
                         lost: check.lost, duplicates: check.duplicates, witnesses: witnesses)
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
            await sample()
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
        await sample()
    }

    private func kill(row: Int) async {
        guard let target else { return }
        guard !storeDown else {
            // Its replacement would wait a minute to read the store, holding every key behind it.
            events.post(.error("the store is down and a new worker is ready only once it reads the store: press U first"))
            return
        }
        let pid: Int32?
        if ownApp {
            pid = await target.workers().first { $0.index == row }?.pid
        } else {
            pid = rowIndex.first { $0.value == row }?.key
        }
        guard let pid else { return }
        let before = Set(await target.workers().map(\.pid))
        if let refusal = await target.kill(pid: pid) {
            events.post(.error(refusal))
            return
        }
        epoch += 1
        let name = ownApp ? "worker \(row) (pid \(pid))" : "pid \(pid)"
        let dies = ownApp && settings.strategy.isShared ? "" : ": its count dies with it"
        events.post(.log(.kill, "SIGKILL to \(name)\(dies)"))
        await sample()
        if ownApp {
            // The supervisor restarts it, as gunicorn's arbiter would.
            for line in await target.monitor() { events.post(.log(.kill, line)) }
        } else {
            // The user's server starts a new worker, or does not: watch /proc for a while.
            var fresh: [Int32] = []
            for _ in 0..<50 where fresh.isEmpty && !stopping {
                try? await Task.sleep(nanoseconds: 200_000_000)
                fresh = Set(await target.workers().map(\.pid)).subtracting(before).sorted()
            }
            events.post(.log(.kill, fresh.isEmpty
                ? "no new worker appeared within 10 s (does the server start a new worker when one dies?)"
                : "pid \(pid) was replaced by pid \(fresh.map(String.init).joined(separator: ", "))"))
        }
        await sample()
    }

    // MARK: - Store and app faults

    /// K: SIGKILL the store's process. A burst in flight goes on: its increments
    /// fail with 503, and its check counts them as failed.
    private func killStore() async {
        guard let target = faultTarget("K kills the store") else { return }
        if let problem = target.storeProcessProblem {
            events.post(.error("K: \(problem)"))
            return
        }
        let held = storeCount(await target.quickReads(expecting: [], timeout: 0.5))
        let wasDown = storeDown
        // Marked first: a row sampled during the kill says "store down", not "dead".
        storeDown = true
        do {
            let pid = try await supervising { try await target.killStore() }
            countAtKill = held
            epoch += 1
            events.post(.log(.kill, "SIGKILL to the \(storeName) (pid \(pid)): workers answer 503 until U"))
        } catch {
            storeDown = wasDown
            events.post(.error("K: \(error)"))
            return
        }
        await postRows(reads: [])
    }

    /// U: start the store's process again. A burst in flight is stopped and checked
    /// first, as a relaunch does; then counting starts again from what the store kept.
    private func restartStore() async {
        guard let target = faultTarget("U starts the store") else { return }
        if let problem = target.storeProcessProblem {
            events.post(.error("U: \(problem)"))
            return
        }
        await endBurst()
        let pid: Int32
        do {
            pid = try await supervising { try await target.restartStore() }
        } catch {
            events.post(.error("U: \(error)"))
            return
        }
        guard !stopping else { return }
        events.post(.log(.relaunch, "the \(storeName) is back as pid \(pid)"))
        // Each worker reconnects on its own backoff (at most a second); the rows say
        // "store down" until then.
        let reads = await readEveryWorker(target)
        storeDown = false
        await rebase(target)
        events.post(.log(.relaunch, storeReturn(storeCount(reads), held: countAtKill)))
        countAtKill = nil
        await sample()
    }

    /// A: stop every worker and start them again; the store is left alone. A burst in
    /// flight is stopped and checked first; the new workers start a fresh count.
    private func restartApp() async {
        guard let target = faultTarget("A restarts") else { return }
        guard !storeDown else {
            events.post(.error("A: the store is down and a new worker is ready only once it reads the store: press U first"))
            return
        }
        await endBurst()
        appRestarting = true
        epoch += 1
        await postRows(reads: [])
        let pids: [(index: Int, old: Int32, new: Int32)]
        do {
            // Off the actor's turn: the sampler goes on showing the rows restarting meanwhile.
            pids = try await supervising { try await target.restartApp() }
        } catch {
            appRestarting = false
            events.post(.error("A: \(error)"))
            await sample()
            return
        }
        appRestarting = false
        guard !stopping else { return }
        events.post(.log(.relaunch, "restarted every worker: " + pids.map { "pid \($0.old) -> \($0.new)" }.joined(separator: ", ")))
        let count = storeCount(await readEveryWorker(target))
        await rebase(target)
        let kept = count.map(Format.count) ?? "a count that could not be read"
        events.post(.log(.relaunch, settings.strategy.isShared
            ? "the \(storeName) kept its count through the restart: \(kept); rows and verdict count on from there"
            : "the workers came back at \(kept): each count lived in its own worker's process"))
        await sample()
    }

    /// statelab's own app, which takes store and app faults; for any other, a refusal is logged.
    private func faultTarget(_ doing: String) -> (any FaultTarget)? {
        guard let target else {
            events.post(.error("no app is running yet"))
            return nil
        }
        guard let faults = target as? any FaultTarget else {
            events.post(.error("\(doing) of statelab's own app only, not of \(target.label)"))
            return nil
        }
        return faults
    }

    /// "the manager store", "the redis store"...
    private var storeName: String { "\(settings.strategy.rawValue) store" }

    /// What the store holds, from raw reads: a shared counter's highest read, or the workers' sum.
    private func storeCount(_ reads: [ReadRecord]?) -> Int? {
        guard let values = reads?.map(\.value), !values.isEmpty else { return nil }
        return settings.strategy.isShared ? values.max() : values.reduce(0, +)
    }

    /// "the manager store came back at 0: its count lived only in its process ..."
    private func storeReturn(_ back: Int?, held: Int?) -> String {
        guard let back else { return "the \(storeName)'s count could not be read after it came back" }
        let at = "the \(storeName) came back at \(Format.count(back))"
        guard let held else { return "\(at); rows and verdict count on from there" }
        if back == 0, held > 0 {
            return "\(at): its count lived only in its process (it held \(Format.count(held)) when killed); counting starts again from 0"
        }
        if back >= held { return "\(at): it kept its count (\(Format.count(held)) when killed); rows and verdict count on from there" }
        return "\(at) of the \(Format.count(held)) it held when killed: the rest had not reached its disk; rows and verdict count on from there"
    }

    /// Runs a supervisor's kill or restart, marked so that `shutdown` waits for it: a stop
    /// racing a restart would miss the processes the restart starts.
    private func supervising<T: Sendable>(_ step: () async throws -> T) async rethrows -> T {
        supervisorBusy = true
        defer { supervisorBusy = false }
        return try await step()
    }

    /// Stops a burst in flight and waits for its check, which sees the store as it was.
    private func endBurst() async {
        guard let burst else { return }
        burst.handle.stop()
        await burst.task?.value
    }

    /// Reads every worker until all answer (bounded); the reads, or nil if some never did.
    private func readEveryWorker(_ target: any RunTarget, timeout: Double = 30) async -> [ReadRecord]? {
        let deadline = MonotonicClock.now() + UInt64(timeout * 1e9)
        while !stopping {
            let (reads, unread) = await target.readAll(expecting: [], skipping: [])
            if unread.isEmpty, !reads.isEmpty { return reads }
            if MonotonicClock.now() > deadline {
                events.post(.error("\(unread.count) of the workers could not be read within \(Int(timeout)) s of the restart"))
                return nil
            }
            try? await Task.sleep(nanoseconds: 50_000_000)
        }
        return nil
    }

    /// A fresh session on the running app, its baseline what the workers read now. The
    /// old history would check increments acknowledged before a restart against a count
    /// the restart changed, or against pids it replaced, and call them lost: that is the
    /// restart's doing, not a race. (The same reset of what the rows know as a relaunch,
    /// without stopping the app.)
    private func rebase(_ target: any RunTarget) async {
        guard let sharing = session?.sharing else { return }
        let fresh = newSession(on: target, sharing: sharing)
        await fresh.prepare(RunSteps(baseline: true))
        guard !stopping else { return }
        session = fresh
        // A sample begun on the old session is stale.
        generation += 1
        epoch += 1
        forgetCounts()
        events.post(.totals(RunTotals()))
        events.post(.diagnosis([]))
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
            let store = values.isEmpty ? nil : (shared ? values.max() : values.reduce(0, +))
            events.post(.totals(RunTotals(acknowledged: acknowledged, failed: live.fail, indeterminate: live.indeterminate,
                                          storeValue: store, lost: max(0, acknowledged - (store ?? acknowledged)))))
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
                case .alive where storeDown: .storeDown
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
