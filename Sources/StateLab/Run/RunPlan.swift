/// One run of a comparison: an app to launch and the load to fire at it.
public struct RunPlan: Sendable {
    public var spec: RunSpec
    public var load: LoadSettings
    public var redisURL: String?
    /// The PostgreSQL server, pool and retries for postgres runs (and {postgres_url}).
    public var postgres: PostgresOptions
    public var executable: String
    /// What the run keeps for a report or an exported history.
    public var recording: RunRecording
    /// What of the load's progress someone shows.
    public var progress = ProgressDetail.latency

    public init(spec: RunSpec, load: LoadSettings, redisURL: String? = nil, postgres: PostgresOptions = PostgresOptions(),
                executable: String = ChildProcess.currentExecutable, recording: RunRecording = RunRecording()) {
        self.recording = recording
        self.spec = spec
        self.load = load
        self.redisURL = redisURL
        self.postgres = postgres
        self.executable = executable
    }

    var appConfig: AppConfig {
        var config = AppConfig(strategy: spec.strategy, mode: spec.mode, workers: spec.app.workers, port: 0,
                               raceWindowMicros: spec.app.raceWindowMicros, storeThreads: spec.app.threads,
                               redisURL: redisURL, executable: executable, listen: spec.app.listen, postgres: postgres)
        config.redisAppendOnly = spec.app.redisAppendOnly
        config.trace = recording.traces(spec.mode)
        return config
    }

    /// Why this run's faults cannot run here (one line each); empty when they can.
    public var faultProblems: [String] {
        guard !spec.faults.isEmpty else { return [] }
        if spec.target != nil {
            return ["faults run against statelab's own app only; remove faults: from a run with a target"]
        }
        let external = (spec.strategy == .redis && redisURL != nil) || (spec.strategy == .postgres && postgres.url != nil)
        return FaultPlan.problems(spec.faults, strategy: spec.strategy, mode: spec.mode, workers: spec.app.workers,
                                  externalStore: external, load: load.faultLoad, hosts: spec.app.hosts)
    }

    func loadPlan(host: String = "127.0.0.1", port: Int, fields: AnswerFields = .standard) -> LoadPlan {
        let stop: StopCondition
        switch load.limit {
        case .increments(let count): stop = .count(count)
        case .duration(let duration): stop = .duration(duration.seconds)
        }
        var plan = LoadPlan(host: host, port: port, stop: stop, concurrency: load.concurrency, rate: load.rate,
                            timeout: load.timeout.seconds, answerFields: fields)
        plan.progress = progress
        return plan
    }
}

extension Duration {
    /// The duration in seconds, as a Double.
    public var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}

/// Where a comparison is, for progress lines and the dashboard.
public struct RunProgress: Sendable {
    public enum Phase: String, Sendable { case starting, loading, reading, done, skipped }
    public var index: Int
    public var count: Int
    public var label: String
    public var phase: Phase
    public var load: LoadProgress?
}

/// A run that could not start (as opposed to one whose strategy is unavailable here, which is skipped).
public struct RunError: Error, CustomStringConvertible {
    public var label: String
    public var reason: String
    public var description: String { "\(label) could not start: \(reason)" }
}

extension LoadSettings {
    /// What the fault plan needs to know of this load.
    public var faultLoad: FaultLoad {
        switch limit {
        case .increments(let total): return FaultLoad(increments: total, rate: rate, resetAfter: resetAfter)
        case .duration(let duration): return FaultLoad(duration: duration.seconds, rate: rate, resetAfter: resetAfter)
        }
    }
}
