/// Runs every run of a scenario, each on a fresh app, one after the other.
/// Cancellation ends it early with the runs that finished, marked interrupted.
public enum ScenarioRunner {
    public static func run(_ scenario: Scenario, redisURL: String? = nil, postgres: PostgresOptions = PostgresOptions(),
                           executable: String = ChildProcess.currentExecutable,
                           progress: @escaping @Sendable (RunProgress) -> Void = { _ in }) async throws -> CompareReport {
        var results: [RunResult] = []
        var interrupted = false
        for (index, spec) in scenario.runs.enumerated() {
            if Task.isCancelled {
                interrupted = true
                break
            }
            let plan = RunPlan(spec: spec, load: scenario.load, redisURL: redisURL, postgres: postgres, executable: executable)
            do {
                results.append(try await AppRun.run(plan, index: index, count: scenario.runs.count, progress: progress))
            } catch where Task.isCancelled {
                // Cancelled (a signal): AppRun has stopped that run's app; report the runs that finished.
                interrupted = true
                break
            }
        }
        return CompareReport(scenarioName: scenario.name, scenarioPath: scenario.sourcePath, runs: results,
                             interrupted: interrupted)
    }
}
