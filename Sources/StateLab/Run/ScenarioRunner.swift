/// Runs every run of a scenario, each on a fresh app, one after the other.
/// Cancellation ends it early with the runs that finished, marked interrupted.
public enum ScenarioRunner {
    public static func run(_ scenario: Scenario, redisURL: String? = nil, postgres: PostgresOptions = PostgresOptions(),
                           executable: String = ChildProcess.currentExecutable, recording: RunRecording = RunRecording(),
                           watching: ProgressDetail = .latency,
                           progress: @escaping @Sendable (RunProgress) -> Void = { _ in }) async throws -> CompareReport {
        var results: [RunResult] = []
        let interrupted = try await forEachRun(scenario.runs, load: scenario.load, redisURL: redisURL, postgres: postgres,
                                               executable: executable, recording: recording, watching: watching,
                                               progress: progress) { _, _, outcome in
            results.append(try outcome.get())
        }
        return CompareReport(scenarioName: scenario.name, scenarioPath: scenario.sourcePath, runs: results,
                             interrupted: interrupted)
    }

    /// The comparison loop, for `compare` and the dashboard's `c`: each run on
    /// a fresh app (`AppRun`), in order, its result or error handed to `each`
    /// as it ends. Returns true when a cancellation ended it early; the run
    /// under way then has its app stopped and is not handed on. `watching`:
    /// what of the load's progress `progress` shows.
    public static func forEachRun(_ runs: [RunSpec], load: LoadSettings, redisURL: String?, postgres: PostgresOptions,
                                  executable: String, recording: RunRecording = RunRecording(),
                                  watching: ProgressDetail = .latency,
                                  progress: @escaping @Sendable (RunProgress) -> Void = { _ in },
                                  _ each: (Int, RunSpec, Result<RunResult, Error>) throws -> Void) async rethrows -> Bool {
        for (index, spec) in runs.enumerated() {
            if Task.isCancelled { return true }
            var plan = RunPlan(spec: spec, load: load, redisURL: redisURL, postgres: postgres, executable: executable,
                               recording: recording)
            plan.progress = watching
            let outcome: Result<RunResult, Error>
            do {
                outcome = .success(try await AppRun.run(plan, index: index, count: runs.count, progress: progress))
            } catch where Task.isCancelled {
                // Cancelled (a signal, a quit): AppRun has stopped that run's app.
                return true
            } catch {
                outcome = .failure(error)
            }
            try each(index, spec, outcome)
        }
        return false
    }
}
