/// Which worker holds the counter's lock, and whether a lock was freed after
/// its holder died: what a "kill the worker that holds the lock" fault needs
/// before the kill and as proof after it. Two stores have a lock statelab can
/// see: shm (its segment names the robust mutex's holder and counts
/// EOWNERDEAD recoveries) and the manager (clients declare their pid; the
/// server names the holder and counts the locks of clients that disconnected
/// holding them). Every method blocks briefly: call them off the event loops
/// and off Swift's cooperative threads.
extension Supervisor {
    /// Bounds each send and reply of a manager query, in seconds.
    static let lockQueryTimeout = 2.0

    /// Why this app has no lock holder to name; nil for shm and manager in locked mode.
    public var lockHolderProblem: String? {
        let need = "kill_worker: holder needs a lock statelab can see: shm or manager in locked mode"
        switch (config.strategy, config.mode) {
        case (.shm, .locked), (.manager, .locked):
            return nil
        case (.shm, let mode), (.manager, let mode):
            return "\(need); \(config.strategy.rawValue) \(mode.rawValue) never takes the lock to increment"
        default:
            return "\(need); \(config.strategy.rawValue) has no lock statelab can see"
        }
    }

    /// The pid holding the counter's lock now: nil when it is free, for a
    /// strategy with no lock statelab can see, or when the manager cannot be
    /// asked. A manager client that declared no pid holds it as
    /// `ManagerProtocol.undeclaredPID` (-1); statelab's workers always declare.
    /// For shm the pid may be a worker that died holding the mutex, until the
    /// next locker recovers it.
    public func lockHolder() -> Int32? {
        switch config.strategy {
        case .shm:
            return sharedMemory?.lockHolder
        case .manager:
            guard let session = try? openManagerSession() else { return nil }
            defer { session.close() }
            return try? session.lockHolder()
        default:
            return nil
        }
    }

    /// How often the lock was freed because its holder died, and who died
    /// last; nil for a strategy with no lock statelab can see, or when the
    /// manager cannot be asked.
    public func lockRecoveries() -> LockRecoveries? {
        switch config.strategy {
        case .shm:
            return sharedMemory?.recoveries
        case .manager:
            guard let session = try? openManagerSession() else { return nil }
            defer { session.close() }
            return try? session.lockReleases()
        default:
            return nil
        }
    }

    /// Polls every millisecond until a live worker of this app holds the lock
    /// and returns its pid; nil when none does within `timeout` seconds, or
    /// at once when `lockHolderProblem` says none ever will. For the manager
    /// one session serves every poll (reopened only after an error).
    public func waitForLockHolder(timeout: Double) -> Int32? {
        guard lockHolderProblem == nil else { return nil }
        let deadline = MonotonicClock.now() + UInt64(max(0, timeout) * 1e9)
        var session: ManagerSession?
        defer { session?.close() }
        while true {
            if let pid = currentLockHolder(reusing: &session),
               workers.contains(where: { $0.pid == pid && $0.isRunning }) {
                return pid
            }
            if MonotonicClock.now() >= deadline { return nil }
            usleepChecked(1_000)
        }
    }

    /// One poll of `waitForLockHolder`.
    private func currentLockHolder(reusing session: inout ManagerSession?) -> Int32? {
        guard config.strategy == .manager else { return lockHolder() }
        do {
            if session == nil { session = try openManagerSession() }
            return try session?.lockHolder()
        } catch {
            // A failed session is closed and unusable: the next poll opens another.
            session = nil
            return nil
        }
    }

    private func openManagerSession() throws -> ManagerSession {
        try ManagerSession(socketPath: resources.outside(spec.managerSocketPath), key: ManagerKey.read(from: resources.outside(spec.managerKeyPath)),
                           timeout: Self.lockQueryTimeout)
    }
}
