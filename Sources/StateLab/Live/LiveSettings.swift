/// How a live run's app runs (the dashboard's header line): what `s`, `m`,
/// `w` and `+`/`-` change.
public struct LiveSettings: Sendable, Equatable {
    public var strategy: Strategy
    public var mode: Mode
    public var workers: Int
    /// Keep-alive connections the load uses.
    public var concurrency: Int
    /// Microseconds slept between read and write (0: the real race only).
    public var raceWindowMicroseconds: Int
    /// The app watched when it is not statelab's own ("http://127.0.0.1:8000", a command line).
    public var targetLabel: String?

    public init(strategy: Strategy, mode: Mode, workers: Int, concurrency: Int, raceWindowMicroseconds: Int = 0,
                targetLabel: String? = nil) {
        self.targetLabel = targetLabel
        self.strategy = strategy
        self.mode = mode
        self.workers = workers
        self.concurrency = concurrency
        self.raceWindowMicroseconds = raceWindowMicroseconds
    }
}
