import StateLab

/// What a key asks the engine to do. The engine performs it elsewhere and
/// reports the outcome as `DashboardEvent`s.
public enum DashboardAction: Sendable, Equatable {
    case fireBurst
    case chooseStrategy(Strategy)
    case chooseMode(Mode)
    /// Add (positive) or remove (negative) load connections.
    case changeConcurrency(by: Int)
    /// Add or remove workers; the app is relaunched.
    case changeWorkers(by: Int)
    /// POST /reset through this one worker (index), as a user hitting one replica would.
    case resetOne(worker: Int)
    /// Reset through every worker.
    case resetAll
    /// SIGKILL this worker (index).
    case killWorker(worker: Int)
    /// SIGKILL the store's process (statelab's own app): the workers answer 503 until `restartStore`.
    case killStore
    /// Start the store's process again, on the same socket, port or data directory.
    case restartStore
    /// Stop every worker and start them again; the store is left alone.
    case restartApp
    /// The same burst on every strategy in the current mode.
    case compare
    case setPaused(Bool)
    case quit
}

/// The seam between the screen and everything that does work. The dashboard
/// calls these from its one UI thread every frame, so none may block:
/// `perform` only enqueues, `drainEvents` only takes what is already there.
public protocol DashboardEngine: Sendable {
    /// Starts doing what a key asked; returns at once.
    func perform(_ action: DashboardAction)
    /// Every event reported since the last call, oldest first; never waits.
    func drainEvents() -> [DashboardEvent]
    /// Stops the load and the app; called once, after the terminal is restored.
    func shutdown()
}
