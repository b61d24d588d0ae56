import Dispatch
import Foundation
import NIOConcurrencyHelpers
import StateLab

/// The dashboard's engine on real processes: it runs the app (a Supervisor),
/// fires bursts with the load generator, reads every worker through its
/// private socket a few times a second, and reports all of it as events.
/// Keys only enqueue work; app changes, resets and kills run on one serial
/// queue, bursts on their own task, reads on a timer queue, so the screen
/// never waits on any of them.
public final class LiveEngine: DashboardEngine, @unchecked Sendable {
    public struct Options: Sendable {
        public var settings: DashboardSettings
        public var burstSize: Int
        public var storeThreads: Int
        public var redisURL: String?
        public var executable: String
        /// Runs compared by `c`; empty: every strategy in the current mode.
        public var compareRuns: [RunSpec]

        public init(settings: DashboardSettings, burstSize: Int = 2_000, storeThreads: Int = 4,
                    redisURL: String? = nil, executable: String = ChildProcess.currentExecutable,
                    compareRuns: [RunSpec] = []) {
            self.settings = settings
            self.burstSize = burstSize
            self.storeThreads = storeThreads
            self.redisURL = redisURL
            self.executable = executable
            self.compareRuns = compareRuns
        }
    }

    /// How often workers are read (and the sparkline gets a sample).
    static let sampleInterval: DispatchTimeInterval = .milliseconds(250)

    private let options: Options
    private let events = DashboardEventQueue()
    private let control = DispatchQueue(label: "statelab.dashboard.control")
    private let sampling = DispatchQueue(label: "statelab.dashboard.sampling")
    private let state: NIOLockedValueBox<EngineState>
    private let app = NIOLockedValueBox<Supervisor?>(nil)
    private let stopping = NIOLockedValueBox(false)
    private var timer: DispatchSourceTimer?
    /// The compare run in progress, to cancel on shutdown.
    private let comparison = NIOLockedValueBox<Task<Void, Never>?>(nil)

    public init(options: Options) {
        self.options = options
        self.state = NIOLockedValueBox(EngineState(settings: options.settings, burstSize: options.burstSize))
    }

    /// Reports availability, launches the app and starts reading workers.
    public func start() {
        events.post(.availability(Self.unavailable(redisURL: options.redisURL)))
        control.async { self.launch(self.options.settings, relaunch: false) }
        let timer = DispatchSource.makeTimerSource(queue: sampling)
        timer.schedule(deadline: .now() + Self.sampleInterval, repeating: Self.sampleInterval)
        timer.setEventHandler { [weak self] in self?.sample() }
        timer.resume()
        self.timer = timer
    }

    public func drainEvents() -> [DashboardEvent] { events.drain() }

    public func perform(_ action: DashboardAction) {
        switch action {
        case .fireBurst:
            fireBurst(count: state.withLockedValue { $0.burstSize })
        case .chooseStrategy(let strategy):
            relaunch { $0.strategy = strategy; if !strategy.modes.contains($0.mode) { $0.mode = .naive } }
        case .chooseMode(let mode):
            relaunch { $0.mode = mode }
        case .changeConcurrency(let delta):
            let settings = state.withLockedValue { state in
                state.settings.concurrency = min(4096, max(1, state.settings.concurrency + delta))
                return state.settings
            }
            events.post(.settings(settings))
        case .changeWorkers(let delta):
            relaunch { $0.workers = min(64, max(1, $0.workers + delta)) }
        case .resetOne(let worker):
            control.async { self.reset(workers: [worker]) }
        case .resetAll:
            control.async { self.reset(workers: nil) }
        case .killWorker(let worker):
            control.async { self.kill(worker: worker) }
        case .compare:
            control.async { self.compare() }
        case .setPaused(let paused):
            setPaused(paused)
        case .quit:
            break
        }
    }

    /// Stops the burst, the timer and every process; bounded by the supervisor's own stop.
    public func shutdown() {
        stopping.withLockedValue { $0 = true }
        timer?.cancel()
        state.withLockedValue { $0.burst?.generator.stop() }
        // A compare run in progress stops its load at once (cancellation), so quitting never waits for it.
        comparison.withLockedValue { $0?.cancel() }
        control.sync {}
        app.withLockedValue { app in app?.stop(); app = nil }
    }

    // MARK: - The app

    static func unavailable(redisURL: String?) -> [Strategy: String] {
        var map: [Strategy: String] = [:]
        for strategy in Strategy.allCases {
            if let reason = StrategyAvailability.reason(strategy, redisURL: redisURL) { map[strategy] = reason }
        }
        return map
    }

    private func relaunch(_ change: @escaping @Sendable (inout DashboardSettings) -> Void) {
        control.async {
            var settings = self.state.withLockedValue { $0.settings }
            change(&settings)
            self.launch(settings, relaunch: true)
        }
    }

    /// On the control queue: stops the current app and its burst, starts one with `settings`.
    private func launch(_ settings: DashboardSettings, relaunch: Bool) {
        guard !stopping.withLockedValue({ $0 }) else { return }
        if let reason = StrategyAvailability.reason(settings.strategy, redisURL: options.redisURL) {
            events.post(.error("\(settings.strategy.rawValue) cannot run here: \(reason)"))
            return
        }
        state.withLockedValue { $0.burst?.generator.stop() }
        let old = app.withLockedValue { app in defer { app = nil }; return app }
        old?.stop()
        let config = AppConfig(strategy: settings.strategy, mode: settings.mode, workers: settings.workers, port: 0,
                               raceWindowMicros: settings.raceWindowMicroseconds, storeThreads: options.storeThreads,
                               redisURL: options.redisURL, executable: options.executable)
        do {
            // No log callback: everything the supervisor would log follows a call made here (kill,
            // monitor) that reports it, and the engine logs each of those once, in its own words.
            let supervisor = try Supervisor.start(config)
            app.withLockedValue { $0 = supervisor }
            state.withLockedValue { state in
                state.settings = settings
                state.forgetHistory()
                state.pausedRemaining = nil
            }
            events.post(relaunch ? .relaunched(settings) : .settings(settings))
            events.post(.totals(RunTotals()))
            events.post(.log(.info, "\(settings.strategy.rawValue)/\(settings.mode.rawValue): \(settings.strategy.describe(settings.mode)); \(settings.workers) workers on \(supervisor.url)"))
        } catch {
            events.post(.error("could not start \(settings.strategy.rawValue)/\(settings.mode.rawValue): \(error)"))
        }
    }

    /// Runs on the sampling queue, so no worker sample spans a reset: one begun before it would
    /// pair reads taken after the reset with acknowledgements from before it, and the epoch is
    /// bumped only once the worker has answered, too late to drop that sample.
    private func reset(workers indexes: [Int]?) {
        guard let supervisor = app.withLockedValue({ $0 }) else { return }
        let targets = indexes ?? supervisor.workers.map(\.index)
        sampling.sync {
            for index in targets {
                do {
                    let record = try supervisor.reset(through: index)
                    state.withLockedValue { $0.noteReset(record, shared: supervisor.config.strategy.isShared) }
                    let pid = record.pid.map { " (pid \($0))" } ?? ""
                    let reach = supervisor.config.strategy.isShared ? "every worker shares the store" : "only that worker's own counter"
                    events.post(.log(.reset, indexes == nil ? "reset through worker \(index)\(pid)" : "reset through worker \(index)\(pid): \(reach)"))
                } catch {
                    events.post(.error("reset through worker \(index) failed: \(error)"))
                }
            }
            sample()
        }
    }

    private func kill(worker index: Int) {
        guard let supervisor = app.withLockedValue({ $0 }),
              let pid = supervisor.workers.first(where: { $0.index == index })?.pid else { return }
        supervisor.kill(worker: index)
        events.post(.log(.kill, "SIGKILL to worker \(index) (pid \(pid))\(supervisor.config.strategy.isShared ? "" : ": its count dies with it")"))
        sampling.sync { sample() }
        for line in supervisor.monitor() { events.post(.log(.kill, line)) }
    }

    // MARK: - Bursts

    private func fireBurst(count: Int) {
        guard let supervisor = app.withLockedValue({ $0 }) else {
            events.post(.error("no app is running yet"))
            return
        }
        let plan = state.withLockedValue { state -> LoadPlan? in
            guard state.burst == nil, !state.comparing else { return nil }
            return LoadPlan(port: supervisor.port, stop: .count(count), concurrency: state.settings.concurrency)
        }
        guard let plan else {
            events.post(.log(.info, "a burst is already running"))
            return
        }
        let generator = LoadGenerator(plan: plan)
        state.withLockedValue { state in
            state.burst = EngineState.BurstState(generator: generator, total: count)
            state.pausedRemaining = nil
            state.paused = false
        }
        events.post(.burstStarted(total: count))
        Task.detached { [self] in
            let result = try? await generator.run { progress in
                self.state.withLockedValue { $0.burst?.progress = progress; $0.currentRate = progress.currentRate }
                self.events.post(.burstProgress(done: progress.completed, total: count))
                self.events.post(.latency(p50Milliseconds: progress.p50, p99Milliseconds: progress.p99))
            }
            self.finishBurst(result, supervisor: supervisor, requested: count)
        }
    }

    private func finishBurst(_ result: LoadResult?, supervisor: Supervisor, requested: Int) {
        // A burst of an app that was relaunched meanwhile says nothing about the new one.
        guard app.withLockedValue({ $0 === supervisor }) else {
            state.withLockedValue { $0.burst = nil }
            return
        }
        guard let result else {
            state.withLockedValue { $0.burst = nil }
            events.post(.error("the burst could not run"))
            return
        }
        let paused = state.withLockedValue { state -> Bool in
            state.absorb(result)
            state.currentRate = 0
            if state.paused { state.pausedRemaining = max(0, requested - result.increments.count) }
            return state.paused
        }
        events.post(.latency(p50Milliseconds: result.latency.p50, p99Milliseconds: result.latency.p99))
        let totals = check(supervisor: supervisor)
        // Fresh worker rows before the verdict, so the table never shows mid-burst reads next to it.
        sampling.sync { sample() }
        if paused {
            events.post(.totals(totals))
            events.post(.log(.burst, "paused after \(result.increments.count) of \(requested) increments"))
        } else {
            events.post(.burstFinished(totals))
            events.post(.log(.burst, String(format: "%.0f req/s, p50 %.2f ms, p99 %.2f ms",
                                              result.throughput, result.latency.p50, result.latency.p99)))
        }
    }

    private func setPaused(_ paused: Bool) {
        let (burst, remaining) = state.withLockedValue { state -> (LoadGenerator?, Int?) in
            state.paused = paused
            return (state.burst?.generator, state.pausedRemaining)
        }
        events.post(.paused(paused))
        if paused {
            burst?.stop()
        } else if let remaining, remaining > 0 {
            fireBurst(count: remaining)
        }
    }

    /// Runs the checker on everything since the last reset, with every worker's read now.
    private func check(supervisor: Supervisor) -> RunTotals {
        let reads = supervisor.readAll()
        let history = state.withLockedValue {
            History(increments: $0.increments, reads: reads, finalReads: reads, resets: $0.resets)
        }
        let result = Checker.check(history, shared: supervisor.config.strategy.isShared)
        let indexOf = Dictionary(supervisor.workers.map { ($0.pid, $0.index) }, uniquingKeysWith: { first, _ in first })
        let witnesses = result.witnesses.map { witness in
            WorkerWitness(count: witness.count, workers: witness.pids.compactMap { indexOf[$0] })
        }
        return RunTotals(acknowledged: result.acknowledgedSinceReset, failed: result.failed,
                         indeterminate: result.indeterminate, storeValue: reads.isEmpty ? nil : result.final,
                         lost: result.lost, duplicates: result.duplicates, witnesses: witnesses)
    }

    // MARK: - Compare

    private func compare() {
        let (settings, burstSize, busy) = state.withLockedValue { state -> (DashboardSettings, Int, Bool) in
            let busy = state.burst != nil || state.comparing
            if !busy { state.comparing = true }
            return (state.settings, state.burstSize, busy)
        }
        if busy {
            events.post(.log(.info, "wait for the burst to finish before comparing"))
            return
        }
        defer { state.withLockedValue { $0.comparing = false } }
        let app = AppSettings(workers: settings.workers, raceWindowMicros: settings.raceWindowMicroseconds,
                              threads: options.storeThreads)
        let runs = options.compareRuns.isEmpty
            ? Strategy.allCases.map { RunSpec(strategy: $0, mode: settings.mode, app: app, expectations: [], line: 0) }
            : options.compareRuns
        events.post(.compareStarted(mode: settings.mode, increments: burstSize, strategies: runs.map(\.strategy)))
        let load = LoadSettings(limit: .increments(burstSize), concurrency: settings.concurrency)
        for spec in runs {
            guard !stopping.withLockedValue({ $0 }) else { return }
            if !spec.strategy.modes.contains(spec.mode) {
                events.post(.compareRow(CompareRow(strategy: spec.strategy, mode: spec.mode,
                                                   unavailableReason: "\(spec.strategy.rawValue) has no \(spec.mode.rawValue) mode")))
                continue
            }
            let plan = RunPlan(spec: spec, load: load, redisURL: options.redisURL, executable: options.executable)
            let outcome = BlockingTask.run(register: { task in self.comparison.withLockedValue { $0 = task } }) {
                try await AppRun.run(plan)
            }
            comparison.withLockedValue { $0 = nil }
            switch outcome {
            case .success(let run) where run.isSkipped:
                events.post(.compareRow(CompareRow(strategy: spec.strategy, mode: spec.mode, unavailableReason: run.skipped)))
            case .success(let run):
                events.post(.compareRow(CompareRow(strategy: spec.strategy, mode: spec.mode,
                                                   acknowledged: run.check.acknowledged, lost: run.check.lost,
                                                   requestsPerSecond: run.throughputRPS)))
            case .failure(let error):
                events.post(.compareRow(CompareRow(strategy: spec.strategy, mode: spec.mode, unavailableReason: "\(error)")))
            }
        }
        events.post(.compareFinished)
    }

    // MARK: - Reading workers

    /// On the sampling queue: reads every worker (bounded per read) and posts a snapshot.
    private func sample() {
        guard !stopping.withLockedValue({ $0 }), let supervisor = app.withLockedValue({ $0 }) else { return }
        // The acknowledgements are taken before the reads, so a correct store never shows a false loss.
        let (acknowledgedByPid, acknowledged, rate, live, paused, epoch) = state.withLockedValue { state in
            var byPid = state.acknowledgedByPid
            for (pid, count) in state.burst?.progress?.acknowledgedByPid ?? [:] { byPid[pid, default: 0] += count }
            return (byPid, state.acknowledged, state.currentRate, state.burst?.progress, state.paused, state.epoch)
        }
        guard !paused else { return }
        var rows: [WorkerRow] = []
        var reads: [Int] = []
        for worker in supervisor.workers {
            var read: Int?
            if worker.status == .alive,
               let answer = try? ControlClient.request("GET", "/report", socketPath: worker.socketPath, timeout: 0.5),
               answer.status == 200 {
                read = answer.count
            }
            if let read { reads.append(read) }
            let status: WorkerStatus = worker.status == .alive ? (read == nil ? .dead : .alive)
                : worker.status == .dead ? .dead : .restarting
            rows.append(WorkerRow(index: worker.index, pid: worker.pid, status: status,
                                  acknowledged: acknowledgedByPid[worker.pid] ?? 0, currentRead: read))
        }
        // Posted under the lock, and only if no burst ended and no reset or relaunch happened
        // meanwhile: reads taken mid-burst must not land after the burst's verdict (they would
        // show a correct store as divergent, and replace the checker's totals with live ones).
        state.withLockedValue { state in
            guard state.epoch == epoch else { return }
            events.post(.workers(rows))
            events.post(.throughput(requestsPerSecond: rate))
            if let live {
                let store = supervisor.config.strategy.isShared ? reads.max() : reads.reduce(0, +)
                events.post(.totals(RunTotals(acknowledged: acknowledged, failed: live.fail, indeterminate: live.indeterminate,
                                              storeValue: store, lost: max(0, acknowledged - (store ?? acknowledged)))))
            }
        }
    }
}

/// Runs async work to completion from a blocking context (the engine's control queue).
enum BlockingTask {
    static func run<T: Sendable>(register: (Task<Void, Never>) -> Void = { _ in },
                                 _ body: @escaping @Sendable () async throws -> T) -> Result<T, Error> {
        let done = DispatchSemaphore(value: 0)
        let box = NIOLockedValueBox<Result<T, Error>?>(nil)
        let task = Task.detached {
            let result: Result<T, Error>
            do { result = .success(try await body()) } catch { result = .failure(error) }
            box.withLockedValue { $0 = result }
            done.signal()
        }
        register(task)
        // AppRun is bounded by its load's stop condition and per-request timeouts; this is a backstop.
        if done.wait(timeout: .now() + .seconds(600)) == .timedOut {
            return .failure(StoreError("gave up after 600 s"))
        }
        return box.withLockedValue { $0! }
    }
}
