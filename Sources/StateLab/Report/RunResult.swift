/// One run of `statelab compare` or `statelab load`: what was run, what the
/// load generator measured and what the checker concluded. The runner fills
/// it; `ReportWriter` turns it into text.
public struct RunResult: Sendable, Codable, Equatable {
    /// How the run is named in reports; "shm/naive" unless the runner says otherwise.
    public var label: String
    public var strategy: Strategy
    public var mode: Mode
    public var workers: Int
    public var raceWindowMicros: Int
    /// Keep-alive connections the load generator used.
    public var concurrency: Int
    /// The open model's target rate; nil for the closed model.
    public var targetRate: Double?
    /// Requests attempted per second.
    public var achievedRate: Double
    /// Seconds the load ran.
    public var elapsed: Double
    public var check: CheckResult
    /// Ok answers per second.
    public var throughputRPS: Double
    public var latency: LatencySummary
    public var expectations: [ExpectationOutcome]
    /// Why the run did not happen (its strategy can't run here), in one line;
    /// nil for a run that happened. A skipped run has no numbers.
    public var skipped: String?
    /// Workers of an external app that the final reads could not reach.
    public var unreachedPids: [Int32]
    /// An app statelab did not launch (`load --url`): its strategy and mode are
    /// unknown, and reports leave them out instead of naming statelab's.
    public var isExternal: Bool = false
    /// What the run did besides the load, in sentences: baselines, resets, the sharing guess.
    public var notes: [String] = []
    /// The run was stopped by a signal before it finished.
    public var interrupted = false
    /// What `Diagnoser` found: printed under the table, a list in JSON.
    public var diagnosis: [Diagnosis] = []
    /// The concurrency-1 probe before the load, when there was one.
    public var probe: LatencyProbe.Result?
    /// Transactions the workers ran again after a conflicting write (postgres serializable, redis locked).
    public var retries: Int?
    /// The run over time, its reads and its witnessed races, for the HTML report; nil unless one was asked for.
    public var evidence: RunEvidence?

    public init(
        label: String? = nil, strategy: Strategy, mode: Mode, workers: Int, raceWindowMicros: Int = 0,
        concurrency: Int = 0, targetRate: Double? = nil, achievedRate: Double = 0, elapsed: Double = 0,
        check: CheckResult, throughputRPS: Double = 0, latency: LatencySummary = LatencySummary(),
        expectations: [ExpectationOutcome] = [], skipped: String? = nil, unreachedPids: [Int32] = [],
        external: Bool = false
    ) {
        self.label = label ?? "\(strategy.rawValue)/\(mode.rawValue)"
        self.strategy = strategy
        self.mode = mode
        self.workers = workers
        self.raceWindowMicros = raceWindowMicros
        self.concurrency = concurrency
        self.targetRate = targetRate
        self.achievedRate = achievedRate
        self.elapsed = elapsed
        self.check = check
        self.throughputRPS = throughputRPS
        self.latency = latency
        self.expectations = expectations
        self.skipped = skipped
        self.unreachedPids = unreachedPids
        self.isExternal = external
    }

    /// A run that could not happen here: its expectations are listed but not
    /// evaluated, and it does not fail the report.
    public static func skipped(
        label: String? = nil, strategy: Strategy, mode: Mode, workers: Int, reason: String,
        expectations: [Expectation] = []
    ) -> RunResult {
        RunResult(
            label: label, strategy: strategy, mode: mode, workers: workers, check: .empty,
            expectations: expectations.map { ExpectationOutcome(expectation: $0, fields: [:]) },
            skipped: reason)
    }

    public var isSkipped: Bool { skipped != nil }

    /// The run's result as named fields, for expectations.
    public func fields() -> [String: ResultValue] {
        var fields = check.fields(
            workers: workers, throughputRPS: throughputRPS, p50Ms: latency.p50, p90Ms: latency.p90,
            p99Ms: latency.p99, p999Ms: latency.p999, maxMs: latency.max)
        if let retries { fields["retries"] = .number(Double(retries)) }
        return fields
    }

    /// A run that went through the pipeline.
    public init(label: String? = nil, strategy: Strategy, mode: Mode, workers: Int, raceWindowMicros: Int = 0,
                concurrency: Int, outcome: RunOutcome, external: Bool = false) {
        self.init(label: label, strategy: strategy, mode: mode, workers: workers, raceWindowMicros: raceWindowMicros,
                  concurrency: concurrency, targetRate: outcome.load.targetRate, achievedRate: outcome.load.achievedRate,
                  elapsed: outcome.load.elapsed, check: outcome.check, throughputRPS: outcome.load.throughput,
                  latency: outcome.load.latency, unreachedPids: outcome.check.counterChecked ? outcome.check.unread.map(\.pid) : [],
                  external: external)
        notes = outcome.notes
        diagnosis = outcome.diagnosis
        probe = outcome.probe
        retries = outcome.retries
        evidence = outcome.evidence
    }

    /// This run with `expectations` checked against its fields.
    public func evaluating(_ expectations: [Expectation]) -> RunResult {
        var run = self
        let fields = fields()
        run.expectations = expectations.map { ExpectationOutcome(expectation: $0, fields: fields) }
        return run
    }

    /// Expectations of a run that happened and did not hold.
    public var failedExpectations: [ExpectationOutcome] {
        isSkipped ? [] : expectations.filter { !$0.holds }
    }

    /// Why the run fails whatever its expectations say: a step that never
    /// happened, or a check that could not read any worker.
    public var failures: [String] {
        guard !isSkipped else { return [] }
        var reasons = check.missedSteps
        if check.verdict == .unknown { reasons.append("verdict unknown: \(check.inconclusive ?? "no worker was read")") }
        if interrupted { reasons.append("interrupted before it finished") }
        return reasons
    }
}

extension CheckResult {
    /// The check of a run that never happened: nothing sent, nothing read.
    public static let empty = CheckResult(
        shared: true, acknowledged: 0, failed: 0, indeterminate: 0, acknowledgedSinceReset: 0,
        finalMin: 0, finalMax: 0, final: 0, lost: 0, unexpected: 0, duplicates: 0, witnesses: [],
        divergent: false, readViolations: [], readViolationCount: 0, perWorker: [], verdict: .ok)
}
