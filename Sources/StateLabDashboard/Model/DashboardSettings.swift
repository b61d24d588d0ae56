import StateLab

/// How the app under test is running: the header's first line.
public struct DashboardSettings: Sendable, Equatable {
    public var strategy: Strategy
    public var mode: Mode
    public var workers: Int
    /// Keep-alive connections the load uses.
    public var concurrency: Int
    /// Microseconds slept between read and write (0: the real race only).
    public var raceWindowMicroseconds: Int

    public init(strategy: Strategy, mode: Mode, workers: Int, concurrency: Int, raceWindowMicroseconds: Int = 0) {
        self.strategy = strategy
        self.mode = mode
        self.workers = workers
        self.concurrency = concurrency
        self.raceWindowMicroseconds = raceWindowMicroseconds
    }
}
