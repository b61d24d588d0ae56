/// Runs every run of a scenario, each on a fresh app, one after the other.
public enum ScenarioRunner {
    public static func run(_ scenario: Scenario, redisURL: String? = nil,
                           executable: String = ChildProcess.currentExecutable,
                           progress: @escaping @Sendable (RunProgress) -> Void = { _ in }) async throws -> CompareReport {
        var results: [RunResult] = []
        for (index, spec) in scenario.runs.enumerated() {
            try Task.checkCancellation()
            let plan = RunPlan(spec: spec, load: scenario.load, redisURL: redisURL, executable: executable)
            results.append(try await AppRun.run(plan, index: index, count: scenario.runs.count, progress: progress))
        }
        return CompareReport(scenarioName: scenario.name, scenarioPath: scenario.sourcePath, runs: results)
    }
}
