/// Runs one plan on statelab's own app: a fresh app, then the run pipeline,
/// then the app stopped again, whichever way the run ended.
public enum AppRun {
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
        let outcome = try await RunPipeline.run(
            target: SupervisorTarget(supervisor: supervisor), plan: plan.loadPlan(port: supervisor.port),
            steps: RunSteps(resetAfter: plan.load.resetAfter, resetTimeout: plan.load.timeout.seconds),
            sharing: spec.strategy.isShared ? .yes : .no, progress: report)
        let run = RunResult(strategy: spec.strategy, mode: spec.mode, workers: spec.app.workers,
                            raceWindowMicros: spec.app.raceWindowMicros, concurrency: plan.load.concurrency,
                            outcome: outcome)
        return run.evaluating(spec.expectations)
    }
}
