/// Everything `statelab compare` found: one result per run of a scenario.
public struct CompareReport: Sendable, Equatable {
    public var scenarioName: String
    public var scenarioPath: String
    public var runs: [RunResult]
    /// A signal stopped the comparison: `runs` holds the ones that finished.
    public var interrupted: Bool

    public init(scenarioName: String, scenarioPath: String, runs: [RunResult], interrupted: Bool = false) {
        self.scenarioName = scenarioName
        self.scenarioPath = scenarioPath
        self.runs = runs
        self.interrupted = interrupted
    }

    /// Expectations of the runs that happened; a skipped run's are not counted.
    public var evaluatedExpectations: [ExpectationOutcome] {
        runs.filter { !$0.isSkipped }.flatMap(\.expectations)
    }

    public var heldCount: Int { evaluatedExpectations.filter(\.holds).count }

    public var skippedRuns: [RunResult] { runs.filter(\.isSkipped) }

    /// True when every expectation of every run that happened holds.
    public var allExpectationsHeld: Bool { evaluatedExpectations.allSatisfy(\.holds) }

    /// Runs that fail whatever their expectations say (a step that never happened, verdict unknown).
    public var failures: [String] { runs.flatMap { run in run.failures.map { "\(run.label): \($0)" } } }

    /// 0 when every expectation holds and no run failed, 1 otherwise. A
    /// skipped run never fails the report: a machine without redis still passes.
    public var exitCode: Int32 { allExpectationsHeld && failures.isEmpty ? 0 : 1 }
}
