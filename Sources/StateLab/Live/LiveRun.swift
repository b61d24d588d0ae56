import Foundation
import NIOConcurrencyHelpers

/// One live run of a target, driven step by step (the dashboard's engine): the
/// target, its `RunSession` (the one history every burst, reset and fault goes
/// into), the burst in flight, faults fired on demand through the session's
/// fault runner, and a comparison on apps of its own. An actor: one step at a
/// time, in the phase `LivePhase` allows. Everything it learns goes out as
/// `LiveEvent`s; every verdict in them is `RunSession.check()`'s.
public actor LiveRun {
    public struct Options: Sendable {
        public var settings: LiveSettings
        public var burstSize: Int
        public var storeThreads: Int
        public var redisURL: String?
        public var executable: String
        /// Runs compared by `compare()`; empty: every strategy in the current mode.
        public var compareRuns: [RunSpec]
        public var target: LiveTarget
        /// How statelab's own app's workers share the port.
        public var listen: ListenMode
        /// The PostgreSQL server, pool and retries for postgres.
        public var postgres = PostgresOptions()
        /// The redis-server statelab starts keeps an append-only file, so a restart finds its count again.
        public var redisAppendOnly = false
        /// statelab's own app on this many namespaced hosts behind nginx (`--hosts`); nil: one.
        public var hosts: Int?

        public init(settings: LiveSettings, burstSize: Int = 2_000, storeThreads: Int = 4,
                    redisURL: String? = nil, executable: String = ChildProcess.currentExecutable,
                    compareRuns: [RunSpec] = [], target: LiveTarget = .ownApp, listen: ListenMode = .reuseport) {
            self.settings = settings
            self.listen = listen
            self.burstSize = burstSize
            self.storeThreads = storeThreads
            self.redisURL = redisURL
            self.executable = executable
            self.compareRuns = compareRuns
            self.target = target
        }
    }

    let options: Options
    let emit: @Sendable (LiveEvent) -> Void
    var settings: LiveSettings
    var machine = LivePhaseMachine()

    var target: (any RunTarget)?
    private var stopTarget: @Sendable () async -> Void = {}
    var session: RunSession?
    /// Bumped at every launch: a burst of an earlier app says nothing about this one.
    var generation = 0
    /// Bumped whenever what the workers hold changes at once (a burst ends, a
    /// reset, a fault, a launch): a row sample begun before that is stale and dropped.
    var epoch = 0
    var burst: Burst?
    var pausedRemaining: Int?
    private var comparison: Task<Void, Never>?
    /// The fault step being fired: `shutdown` waits for it (a stop racing a restart
    /// would miss the processes the restart starts).
    var faultTask: Task<FaultRecord, Error>?
    /// The latency probe taken when an app of the user's was started (for the diagnosis).
    private var probe: LatencyProbe.Result?

    /// Acknowledged increments per pid since the last reset, from finished bursts.
    var acknowledgedByPid: [Int32: Int] = [:]
    /// With a limit: each pid's refusals over the session.
    var refusedByPid: [Int32: Int] = [:]
    /// Row numbers for pids of a target that cannot number its workers, in the order first seen.
    var rowIndex: [Int32: Int] = [:]
    /// The sample in which each pid last answered a read, and what it read.
    var lastRead: [Int32: (sample: Int, value: Int)] = [:]
    var samples = 0
    /// Pids already named as not reached lately.
    var namedUnreached: Set<Int32> = []
    /// The live figures of the burst in flight, written from the load's progress callback.
    nonisolated let live = NIOLockedValueBox<LoadProgress?>(nil)
    /// The burst in flight's size, for its progress bar.
    private nonisolated let liveTotal = NIOLockedValueBox(0)
    /// Set at once by a pause, and the burst's handle, so a pause never queues behind an action.
    nonisolated let pausedNow = NIOLockedValueBox(false)
    private nonisolated let burstHandle = NIOLockedValueBox<LoadHandle?>(nil)

    struct Burst {
        var handle: LoadHandle
        var total: Int
        var task: Task<Void, Never>?
    }

    public init(options: Options, emit: @escaping @Sendable (LiveEvent) -> Void) {
        self.options = options
        self.emit = emit
        settings = options.settings
    }

    public var phase: LivePhase { machine.phase }
    var ownApp: Bool { options.target == .ownApp }
    var stopping: Bool { machine.phase == .stopping }

    /// Moves to `next`, or says in the log why the run is not in a phase that can.
    @discardableResult
    func enter(_ next: LivePhase) -> Bool {
        if machine.move(to: next) { return true }
        if let reason = machine.phase.busyReason { emit(.note(.info, reason)) }
        return false
    }

    /// Reports what cannot run here, then starts the target.
    public func start() async {
        emit(.availability(Self.unavailable(redisURL: options.redisURL, postgresURL: options.postgres.url)))
        await launch(settings, relaunch: false)
    }

    /// Stops the burst, the comparison, a fault under way, and the target. Bounded by their own timeouts.
    public func shutdown() async {
        machine.move(to: .stopping)
        burst?.handle.stop()
        // A compare run in progress stops its load at once (cancellation), so quitting never waits for it.
        comparison?.cancel()
        await burst?.task?.value
        await comparison?.value
        _ = try? await faultTask?.value
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

    /// s, m, w: statelab's own app started again with `change` applied to its settings.
    public func relaunch(_ change: @Sendable (inout LiveSettings) -> Void) async {
        guard ownApp else {
            emit(.note(.info, "s, m and the worker count change statelab's own app; this dashboard watches \(target?.label ?? "an app") as it is"))
            return
        }
        var next = settings
        change(&next)
        await launch(next, relaunch: true)
    }

    /// + and -: the connections the next burst uses.
    public func changeConcurrency(by delta: Int) {
        settings.concurrency = min(4096, max(1, settings.concurrency + delta))
        emit(.settings(settings, relaunched: false))
    }

    /// Stops the current target and its burst, and starts the one the options and `next` describe.
    private func launch(_ next: LiveSettings, relaunch: Bool) async {
        if ownApp, let reason = StrategyAvailability.reason(next.strategy, redisURL: options.redisURL,
                                                            postgresURL: options.postgres.url) {
            emit(.error("\(next.strategy.rawValue) cannot run here: \(reason)"))
            return
        }
        guard machine.phase == .starting || enter(.starting) else { return }
        burst?.handle.stop()
        await burst?.task?.value
        target = nil
        session = nil
        generation += 1
        epoch += 1
        await stopTarget()
        stopTarget = {}
        forgetCounts()
        do {
            let (started, stop, sharing, line) = try await startTarget(next)
            // Stopped while it started: stop it again at once.
            guard !stopping else { await stop(); return }
            target = started
            stopTarget = stop
            settings = next
            let session = newSession(on: started, sharing: sharing)
            if !ownApp { probe = await session.prepare(RunSteps(baseline: true, probe: true)).probe }
            self.session = session
            emit(.settings(next, relaunched: relaunch))
            emit(.cleared)
            emit(.note(.info, line))
        } catch {
            let what = ownApp ? "\(next.strategy.rawValue)/\(next.mode.rawValue)" : "the app"
            emit(.error("could not start \(what): \(error)"))
        }
        enter(.idle)
    }

    private func startTarget(_ next: LiveSettings) async throws
        -> (any RunTarget, @Sendable () async -> Void, Sharing, String) {
        switch options.target {
        case .ownApp:
            var config = AppConfig(strategy: next.strategy, mode: next.mode, workers: next.workers, port: 0,
                                   raceWindowMicros: next.raceWindowMicroseconds, storeThreads: options.storeThreads,
                                   redisURL: options.redisURL, executable: options.executable, listen: options.listen,
                                   postgres: options.postgres)
            config.redisAppendOnly = options.redisAppendOnly
            // Naive and locked workers then say when each increment read and wrote: the race view's inside view.
            config.trace = Self.recording.traces(next.mode)
            if let hosts = options.hosts {
                let (target, stop) = try await TargetStarter.hosts(config, hosts: hosts)
                let line = "\(next.strategy.rawValue)/\(next.mode.rawValue) on \(hosts) hosts behind nginx (127.0.0.1:\(target.port); hosts \(target.cluster.addresses.joined(separator: ", "))), \(next.workers) workers each"
                return (target, stop, target.sharing, line)
            }
            // No log callback: every step the supervisor would log comes back as an event here.
            let (target, stop) = try await TargetStarter.own(config)
            let line = "\(next.strategy.rawValue)/\(next.mode.rawValue): \(next.strategy.describe(next.mode)); \(next.workers) workers on \(target.supervisor.url)"
            return (target, stop, next.strategy.isShared ? .yes : .no, line)
        case .url(let host, let port, let sharing, let requests):
            let target = URLTarget(host: host, port: port, requests: requests,
                                   owners: LoopbackHost.isRemote(host) ? nil : SocketOwners(scope: .anyProcess))
            let read = requests.read.map { "reads go through \($0) on fresh connections" } ?? "nothing is read (a limit only)"
            return (target, {}, sharing,
                    "watching \(target.label): \(read); /proc names the worker of each connection, and the kernel picks it, so some pids may not be reached")
        case .command(let spec, let sharing, let requests):
            let (target, stop) = try await TargetStarter.start(.command(spec, sharing: sharing, requests: requests), label: spec.command,
                                                               redisURL: options.redisURL, postgresURL: options.postgres.url,
                                                               executable: options.executable, hosts: options.hosts)
            let workers = await target.workers()
            return (target, stop, sharing,
                    "launched \(spec.command) on port \(target.port): \(workers.count) worker pids found; k sends SIGKILL to the selected one")
        }
    }

    /// Every session keeps evidence: the race view draws the latest witnessed lost update.
    static let recording = RunRecording(evidence: true)

    private func newSession(on target: any RunTarget, sharing: Sharing) -> RunSession {
        RunSession(target: target, sharing: sharing, recording: Self.recording) { [emit, live, liveTotal] event in
            Self.forward(event, emit: emit, live: live, total: liveTotal)
        }
    }

    /// What a finished history knew about the workers: gone with it.
    private func forgetCounts() {
        acknowledgedByPid = [:]
        refusedByPid = [:]
        rowIndex = [:]
        lastRead = [:]
        namedUnreached = []
        pausedRemaining = nil
    }

    /// The session's events that need no state of the run, passed on as they come.
    private nonisolated static func forward(_ event: RunEvent, emit: @Sendable (LiveEvent) -> Void,
                                            live: NIOLockedValueBox<LoadProgress?>, total: NIOLockedValueBox<Int>) {
        switch event {
        case .workerExit(let exit):
            emit(.workerExit(exit))
        case .load(let progress):
            live.withLockedValue { $0 = progress }
            emit(.burstProgress(done: progress.completed, total: total.withLockedValue { $0 }))
            emit(.latency(p50Milliseconds: progress.p50, p99Milliseconds: progress.p99))
        case .phase:
            break
        }
    }

    // MARK: - Bursts

    /// space: a burst of the options' size.
    public func fireBurst() { fireBurst(count: options.burstSize) }

    func fireBurst(count: Int) {
        guard let session, let target else {
            emit(.error("no app is running yet"))
            return
        }
        guard enter(.loading) else { return }
        let plan = LoadPlan(host: target.host, port: target.port, stop: .count(count), concurrency: settings.concurrency)
        let handle = LoadHandle()
        let generation = self.generation
        live.withLockedValue { $0 = nil }
        liveTotal.withLockedValue { $0 = count }
        pausedNow.withLockedValue { $0 = false }
        burstHandle.withLockedValue { $0 = handle }
        pausedRemaining = nil
        burst = Burst(handle: handle, total: count)
        emit(.burstStarted(total: count))
        burst?.task = Task {
            let result = try? await session.load(plan: plan, handle: handle)
            await self.burstEnded(result, generation: generation, requested: count)
        }
    }

    private func burstEnded(_ result: LoadResult?, generation: Int, requested: Int) async {
        // The burst stays in place until its check is done: a new burst, a compare or a reset
        // meanwhile would change the store between the final reads and the check.
        defer {
            burst = nil
            // A relaunch or a stop that ended the burst has moved on already.
            if machine.phase == .loading || machine.phase == .settling { machine.move(to: .idle) }
        }
        live.withLockedValue { $0 = nil }
        burstHandle.withLockedValue { $0 = nil }
        // A burst of an app that was relaunched meanwhile says nothing about the new one.
        guard generation == self.generation, !stopping, let session else { return }
        guard let result else {
            emit(.error("the burst could not run"))
            return
        }
        enter(.settling)
        epoch += 1
        for (pid, tally) in result.perPid {
            acknowledgedByPid[pid, default: 0] += tally.acknowledged
            if tally.refused > 0 { refusedByPid[pid, default: 0] += tally.refused }
        }
        emit(.latency(p50Milliseconds: result.latency.p50, p99Milliseconds: result.latency.p99))
        emit(.burstProgress(done: result.attempted, total: requested))
        let finals = await session.settle(expecting: Set(acknowledgedByPid.keys).union(rowIndex.keys))
        let (check, notes) = session.check()
        guard generation == self.generation else { return }
        // Fresh worker rows before the verdict, so the table never shows mid-burst reads next to it.
        await postRows(reads: finals)
        let paused = pausedNow.withLockedValue { $0 }
        emit(.checked(check, witnesses: witnessRows(check), race: session.latestRace(for: check), afterBurst: !paused))
        if paused {
            pausedRemaining = max(0, requested - result.attempted)
            emit(.note(.burst, "paused after \(result.attempted) of \(requested) increments"))
        } else {
            emit(.note(.burst, String(format: "%.0f req/s, p50 %.2f ms, p99 %.2f ms",
                                      result.throughput, result.latency.p50, result.latency.p99)))
        }
        let outcome = RunOutcome(load: result, check: check, notes: notes, probe: probe, baselineByPid: session.baselineByPid)
        emit(.diagnosis(Diagnoser.diagnose(outcome: outcome, concurrency: settings.concurrency)))
        if !ownApp, let guess = session.sharingGuess { emit(.sharingGuess(guess)) }
    }

    /// The check's witnesses with their pids as worker rows.
    func witnessRows(_ check: CheckResult) -> [WorkerWitness] {
        check.witnesses.map { witness in
            WorkerWitness(count: witness.count, workers: witness.pids.compactMap { rowIndex[$0] })
        }
    }

    /// At once, not queued behind other steps: a pause stops the burst in flight.
    public nonisolated func pauseNow(_ paused: Bool) {
        pausedNow.withLockedValue { $0 = paused }
        if paused { burstHandle.withLockedValue { $0 }?.stop() }
    }

    /// p: pause or resume; a resumed burst fires what the paused one had left.
    public func setPaused(_ paused: Bool) {
        // Again here, in order: a burst fired after the key was pressed but before this turn stops too.
        pauseNow(paused)
        emit(.paused(paused))
        guard !paused, let remaining = pausedRemaining, remaining > 0 else { return }
        pausedRemaining = nil
        fireBurst(count: remaining)
    }

    // MARK: - Compare

    /// c: the same burst on every strategy (or the scenario's runs), each on an app of its own.
    public func compare() {
        guard enter(.comparing) else { return }
        let app = AppSettings(workers: settings.workers, raceWindowMicros: settings.raceWindowMicroseconds,
                              threads: options.storeThreads)
        let runs = options.compareRuns.isEmpty
            ? Strategy.allCases.map { RunSpec(strategy: $0, mode: settings.mode, app: app, expectations: [], line: 0) }
            : options.compareRuns
        emit(.compareStarted(mode: settings.mode, increments: options.burstSize, strategies: runs.map(\.strategy)))
        let load = LoadSettings(limit: .increments(options.burstSize), concurrency: settings.concurrency)
        let (emit, redisURL, postgres, executable) = (self.emit, options.redisURL, options.postgres, options.executable)
        comparison = Task {
            // A mode the strategy lacks is a row that says so; the rest run through the compare loop.
            let runnable = runs.filter { $0.strategy.modes.contains($0.mode) }
            for spec in runs where !spec.strategy.modes.contains(spec.mode) {
                emit(.compareRow(CompareRow(strategy: spec.strategy, mode: spec.mode,
                                            unavailableReason: "\(spec.strategy.rawValue) has no \(spec.mode.rawValue) mode")))
            }
            let interrupted = await ScenarioRunner.forEachRun(runnable, load: load, redisURL: redisURL, postgres: postgres,
                                                              executable: executable) { _, spec, outcome in
                switch outcome {
                case .success(let run) where run.isSkipped:
                    emit(.compareRow(CompareRow(strategy: spec.strategy, mode: spec.mode, unavailableReason: run.skipped)))
                case .success(let run):
                    emit(.compareRow(CompareRow(strategy: spec.strategy, mode: spec.mode, acknowledged: run.check.acknowledged,
                                                lost: run.check.lost, requestsPerSecond: run.throughputRPS)))
                case .failure(let error):
                    emit(.compareRow(CompareRow(strategy: spec.strategy, mode: spec.mode, unavailableReason: "\(error)")))
                }
            }
            if !interrupted { emit(.compareFinished) }
            self.compareEnded()
        }
    }

    private func compareEnded() {
        comparison = nil
        if !stopping { enter(.idle) }
    }
}

extension LiveRun.Options {
    /// A live run that starts from a scenario: its first run's app and its
    /// load's size and connections, and its runs for `compare()`. `burst` sizes
    /// a burst when the scenario's load is a duration. A first run that drives
    /// the user's app is refused: the dashboard takes that from --url or --app-command.
    public init(scenario: Scenario, name: String, burst: Int, redisURL: String?) throws {
        let first = scenario.runs[0]
        if let target = first.target {
            throw StoreError("\(name): the dashboard starts from the first run, and it drives your app (\(target.description)); use dashboard --app-command or --url for it")
        }
        let size: Int = switch scenario.load.limit {
        case .increments(let count): count
        case .duration: burst
        }
        self.init(settings: LiveSettings(strategy: first.strategy, mode: first.mode, workers: first.app.workers,
                                         concurrency: scenario.load.concurrency,
                                         raceWindowMicroseconds: first.app.raceWindowMicros),
                  burstSize: size, storeThreads: first.app.threads, redisURL: redisURL, compareRuns: scenario.runs,
                  listen: first.app.listen)
        redisAppendOnly = first.app.redisAppendOnly
    }
}
