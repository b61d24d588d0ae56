/// The manager's whole state: one counter, and one lock with a FIFO queue of
/// waiting connections. It lives on the server's single event loop and is only
/// touched there, so it needs no locks of its own.
final class ManagerState {
    enum LockRequestOutcome: Equatable {
        case granted
        case queued
        case alreadyHolding
    }

    private struct Waiter {
        let connection: Int
        let grant: () -> Void
    }

    var counter = 0
    private(set) var lockHolder: Int?
    private var waiters: [Waiter] = []
    private var lastConnectionID = 0
    /// The process ids connections declared (`pid N`), by connection.
    private var declaredPIDs: [Int: Int32] = [:]
    /// Times a connection closed holding the lock, and the last one's pid
    /// (`ManagerProtocol.undeclaredPID` when it declared none).
    private(set) var releasedCount = 0
    private(set) var lastReleasedPID: Int32 = 0

    /// Numbers connections in accept order, for the log.
    func nextConnectionID() -> Int {
        lastConnectionID += 1
        return lastConnectionID
    }

    /// Takes the lock for `connection` now, or queues it; `grant` runs when a queued request gets the lock.
    func requestLock(for connection: Int, grant: @escaping () -> Void) -> LockRequestOutcome {
        if lockHolder == connection || waiters.contains(where: { $0.connection == connection }) {
            return .alreadyHolding
        }
        if lockHolder == nil {
            lockHolder = connection
            return .granted
        }
        waiters.append(Waiter(connection: connection, grant: grant))
        return .queued
    }

    /// Releases the lock if `connection` holds it; false otherwise.
    func unlock(by connection: Int) -> Bool {
        guard lockHolder == connection else { return false }
        handOver()
        return true
    }

    /// Records the process id `connection` declared; false when it already declared one.
    func declare(pid: Int32, for connection: Int) -> Bool {
        guard declaredPIDs[connection] == nil else { return false }
        declaredPIDs[connection] = pid
        return true
    }

    /// The pid `connection` declared, or `ManagerProtocol.undeclaredPID`.
    func pid(of connection: Int) -> Int32 {
        declaredPIDs[connection] ?? ManagerProtocol.undeclaredPID
    }

    /// The declared pid of the lock's holder: 0 when the lock is free.
    var lockHolderPID: Int32 {
        lockHolder.map(pid(of:)) ?? 0
    }

    /// A connection is gone: drops its place in the queue and its declared
    /// pid, and releases the lock if it held it. Returns true when it held the
    /// lock; the release is then counted with its pid.
    func forget(_ connection: Int) -> Bool {
        waiters.removeAll { $0.connection == connection }
        defer { declaredPIDs[connection] = nil }
        guard lockHolder == connection else { return false }
        releasedCount += 1
        lastReleasedPID = pid(of: connection)
        handOver()
        return true
    }

    /// Gives the lock to the oldest waiter, or leaves it free.
    private func handOver() {
        guard !waiters.isEmpty else {
            lockHolder = nil
            return
        }
        let next = waiters.removeFirst()
        lockHolder = next.connection
        next.grant()
    }
}
