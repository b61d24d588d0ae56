import Foundation
import NIOConcurrencyHelpers

/// Runs one plan: a fresh app, the load, reads during the run and of every
/// worker at the end, and the check of the whole history.
public enum AppRun {
    /// How often a worker is read while the load runs (for the read-bounds check).
    static let readInterval: UInt64 = 50_000_000

    public static func run(_ plan: RunPlan, index: Int = 0, count: Int = 1,
                           progress: @escaping @Sendable (RunProgress) -> Void = { _ in }) async throws -> RunResult {
        let spec = plan.spec
        let report: @Sendable (RunProgress.Phase, LoadProgress?) -> Void = { phase, load in
            progress(RunProgress(index: index, count: count, label: spec.label, phase: phase, load: load))
        }
        if let reason = StrategyAvailability.reason(spec.strategy, redisURL: plan.redisURL) {
            report(.skipped, nil)
            return RunResult.skipped(strategy: spec.strategy, mode: spec.mode, workers: spec.app.workers,
                                     reason: reason, expectations: spec.expectations)
        }
        report(.starting, nil)
        let supervisor: Supervisor
        do {
            let config = plan.appConfig
            supervisor = try await OffThread.run { try Supervisor.start(config) }
        } catch {
            throw RunError(label: spec.label, reason: "\(error)")
        }
        do {
            let run = try await load(plan, on: supervisor, report: report)
            await OffThread.run { supervisor.stop() }
            return run
        } catch {
            await OffThread.run { supervisor.stop() }
            throw error
        }
    }

    private static func load(_ plan: RunPlan, on supervisor: Supervisor,
                             report: @escaping @Sendable (RunProgress.Phase, LoadProgress?) -> Void) async throws -> RunResult {
        let spec = plan.spec
        let generator = LoadGenerator(plan: plan.loadPlan(port: supervisor.port))
        let observer = RunObserver(supervisor: supervisor, resetAfter: plan.load.resetAfter)
        let sampler = Task.detached { await observer.sampleReads() }
        let result: LoadResult
        do {
            result = try await generator.run { load in
                observer.loadProgressed(load)
                report(.loading, load)
            }
        } catch {
            // The sampler ends with the load, whichever way the load ended.
            observer.finish()
            await sampler.value
            throw error
        }
        observer.finish()
        await sampler.value
        report(.reading, nil)

        let finalReads = await OffThread.run { supervisor.readAll() }
        let history = History(increments: result.increments, reads: observer.reads + finalReads,
                              finalReads: finalReads, resets: observer.resets)
        let check = Checker.check(history, shared: spec.strategy.isShared)
        let run = RunResult(strategy: spec.strategy, mode: spec.mode, workers: spec.app.workers,
                            raceWindowMicros: spec.app.raceWindowMicros, concurrency: plan.load.concurrency,
                            targetRate: result.targetRate, achievedRate: result.achievedRate, elapsed: result.elapsed,
                            check: check, throughputRPS: result.throughput, latency: result.latency)
        report(.done, nil)
        return run.evaluating(spec.expectations)
    }
}

/// Watches a run from the side: reads workers while the load runs, and sends
/// the scenario's mid-run reset once enough increments are acknowledged. Its
/// blocking calls happen on its own task, never on the load's event loops.
final class RunObserver: Sendable {
    private struct State {
        var reads: [ReadRecord] = []
        var resets: [ResetRecord] = []
        var acknowledged = 0
        var resetDue = false
        var finished = false
    }

    private let supervisor: Supervisor
    private let resetAfter: Int?
    private let state = NIOLockedValueBox(State())

    init(supervisor: Supervisor, resetAfter: Int?) {
        self.supervisor = supervisor
        self.resetAfter = resetAfter
    }

    var reads: [ReadRecord] { state.withLockedValue { $0.reads } }
    var resets: [ResetRecord] { state.withLockedValue { $0.resets } }

    /// Called from the load's progress callback: only notes what to do.
    func loadProgressed(_ load: LoadProgress) {
        state.withLockedValue { state in
            state.acknowledged = load.ok
            if let resetAfter, state.resets.isEmpty, load.ok >= resetAfter { state.resetDue = true }
        }
    }

    func finish() { state.withLockedValue { $0.finished = true } }

    func sampleReads() async {
        var next = 0
        // Bounded by the run: it ends when finish() is called (the load itself is bounded).
        while !state.withLockedValue({ $0.finished }) {
            let turn = next
            next += 1
            await OffThread.run { self.samplePass(turn) }
            try? await Task.sleep(nanoseconds: AppRun.readInterval)
        }
    }

    /// One pass, blocking (on a Dispatch thread): the reset if it is due, then one worker's read.
    private func samplePass(_ turn: Int) {
        let workers = supervisor.workers
        if state.withLockedValue({ state in defer { state.resetDue = false }; return state.resetDue }),
           let record = try? supervisor.reset(through: 0) {
            state.withLockedValue { $0.resets.append(record) }
        }
        guard !workers.isEmpty else { return }
        let worker = workers[turn % workers.count]
        let start = MonotonicClock.now()
        if let answer = try? ControlClient.request("GET", "/report", socketPath: worker.socketPath, timeout: 2),
           answer.status == 200, let count = answer.count {
            let read = ReadRecord(pid: answer.pid ?? worker.pid, worker: worker.index, value: count,
                                  start: start, end: MonotonicClock.now())
            state.withLockedValue { $0.reads.append(read) }
        }
    }
}
