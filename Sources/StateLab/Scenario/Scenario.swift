/// The counter app's settings for a run; every key of a scenario's `app:`.
public struct AppSettings: Sendable, Equatable, Codable {
    public var workers: Int
    /// Microseconds slept between read and write, to widen the race for demos.
    public var raceWindowMicros: Int
    /// Store threads per worker.
    public var threads: Int
    /// How the workers share the port.
    public var listen: ListenMode
    /// redis-server keeps an append-only file (appendfsync everysec) for the redis strategy.
    public var redisAppendOnly = false
    /// The app on this many namespaced hosts behind nginx (`HostCluster`); nil: one host, this machine.
    public var hosts: Int?

    public init(workers: Int = 4, raceWindowMicros: Int = 0, threads: Int = 4, listen: ListenMode = .reuseport,
                redisAppendOnly: Bool = false) {
        self.redisAppendOnly = redisAppendOnly
        self.workers = workers
        self.raceWindowMicros = raceWindowMicros
        self.threads = threads
        self.listen = listen
    }

    public static let defaults = AppSettings()
}

/// How a run fires its increments; every key of a scenario's `load:`.
public struct LoadSettings: Sendable, Equatable {
    /// When the load stops: after a number of increments, or after a while.
    public enum Limit: Sendable, Equatable {
        case increments(Int)
        case duration(Duration)
    }

    public var limit: Limit
    /// Keep-alive connections.
    public var concurrency: Int
    /// Open model at this many increments per second; nil for the closed model.
    public var rate: Double?
    /// After this many acknowledged increments, POST /reset through worker 0.
    public var resetAfter: Int?
    /// Per-request timeout.
    public var timeout: Duration

    public init(limit: Limit, concurrency: Int = 32, rate: Double? = nil, resetAfter: Int? = nil,
                timeout: Duration = .seconds(5)) {
        self.limit = limit
        self.concurrency = concurrency
        self.rate = rate
        self.resetAfter = resetAfter
        self.timeout = timeout
    }
}

/// What a run drives when it is not statelab's own app: a command statelab
/// launches, or an app already running at a loopback URL.
public enum TargetSpec: Sendable, Equatable {
    case command(CommandSpec, sharing: Sharing, requests: AppRequests = .counterAPI)
    case url(host: String, port: Int, sharing: Sharing, requests: AppRequests = .counterAPI)

    public var sharing: Sharing {
        switch self {
        case .command(_, let sharing, _), .url(_, _, let sharing, _): return sharing
        }
    }

    /// The app's requests: its own, or the counter API with the command's field names.
    public var requests: AppRequests {
        switch self {
        case .command(let spec, _, let requests):
            var named = requests
            if requests == .counterAPI { named.name(spec.answerFields) }
            return named
        case .url(_, _, _, let requests):
            return requests
        }
    }

    /// The answer's field names.
    public var answerFields: AnswerFields { requests.answerFields }

    /// The command line, or the URL.
    public var description: String {
        switch self {
        case .command(let spec, _, _): return spec.command
        case .url(let host, let port, _, _): return LoopbackURL(host: host, port: port).description
        }
    }
}

/// One run of a scenario, with the scenario's settings already merged in.
public struct RunSpec: Sendable, Equatable {
    /// Statelab's own app's strategy and mode (unused when `target` is set).
    public var strategy: Strategy
    public var mode: Mode
    /// The run's own name (`name:`), shown instead of strategy/mode.
    public var name: String?
    /// The user's app, when the run drives one instead of statelab's own.
    public var target: TargetSpec?
    /// The scenario's app settings with this run's overrides applied.
    public var app: AppSettings
    /// The scenario's expectations with this run's added or overriding them.
    public var expectations: [Expectation]
    /// Where the run starts in the scenario file (1-based).
    public var line: Int
    /// Faults fired in order while the load runs (the scenario's, unless the run lists its own).
    public var faults: [FaultStep] = []
    /// The run listed its own `faults:` (an empty list too: no faults for it).
    var ownFaults = false

    public init(strategy: Strategy, mode: Mode, app: AppSettings, expectations: [Expectation], line: Int,
                name: String? = nil, target: TargetSpec? = nil) {
        self.strategy = strategy
        self.mode = mode
        self.name = name
        self.target = target
        self.app = app
        self.expectations = expectations
        self.line = line
    }

    /// "shm/naive", or the run's name, or its target's command or URL.
    public var label: String { name ?? target?.description ?? "\(strategy.rawValue)/\(mode.rawValue)" }
}

/// A scenario file, validated: what to run and what to expect. See Scenarios/README.md.
public struct Scenario: Sendable, Equatable {
    public var name: String
    public var description: String?
    /// The file it came from, as given to the loader.
    public var sourcePath: String
    public var app: AppSettings
    public var load: LoadSettings
    /// The scenario-wide expectations (each run's are already merged into it).
    public var expectations: [Expectation]
    public var runs: [RunSpec]

    public init(name: String, description: String?, sourcePath: String, app: AppSettings, load: LoadSettings,
                expectations: [Expectation], runs: [RunSpec]) {
        self.name = name
        self.description = description
        self.sourcePath = sourcePath
        self.app = app
        self.load = load
        self.expectations = expectations
        self.runs = runs
    }
}
