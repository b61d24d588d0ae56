/// Everything `statelab compare` found: one result per run of a scenario.
public struct CompareReport: Sendable, Equatable {
    public var scenarioName: String
    public var scenarioPath: String
    public var runs: [RunResult]

    public init(scenarioName: String, scenarioPath: String, runs: [RunResult]) {
        self.scenarioName = scenarioName
        self.scenarioPath = scenarioPath
        self.runs = runs
    }

    /// Expectations of the runs that happened; a skipped run's are not counted.
    public var evaluatedExpectations: [ExpectationOutcome] {
        runs.filter { !$0.isSkipped }.flatMap(\.expectations)
    }

    public var heldCount: Int { evaluatedExpectations.filter(\.holds).count }

    public var skippedRuns: [RunResult] { runs.filter(\.isSkipped) }

    /// True when every expectation of every run that happened holds.
    public var allExpectationsHeld: Bool { evaluatedExpectations.allSatisfy(\.holds) }

    /// 0 when every expectation holds, 1 when one does not. A skipped run
    /// never fails the report: a machine without redis still passes.
    public var exitCode: Int32 { allExpectationsHeld ? 0 : 1 }
}
