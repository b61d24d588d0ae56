/// How often a store's lock was freed because its holder died holding it, and
/// who died last: the proof a "kill the lock holder" fault worked. The shm
/// strategy's robust mutex reports it (EOWNERDEAD), and so does the manager
/// (a connection that closed holding the lock).
public struct LockRecoveries: Sendable, Equatable, CustomStringConvertible {
    public enum Lock: String, Sendable {
        /// shm: the next locker got EOWNERDEAD and made the mutex consistent.
        case robustMutex
        /// manager: the server released the lock of a connection that closed.
        case manager
    }

    public var lock: Lock
    /// Times a holder died holding the lock and the lock was freed.
    public var count: Int
    /// The pid of the last holder that died holding the lock; nil when none
    /// did, or when its pid was not known (see `description`).
    public var lastDeadHolder: Int32?

    public init(lock: Lock, count: Int, lastDeadHolder: Int32?) {
        self.lock = lock
        self.count = count
        self.lastDeadHolder = lastDeadHolder
    }

    /// One sentence, e.g. "the robust mutex was recovered from dead holder pid 123 (EOWNERDEAD), 1 time".
    public var description: String {
        let times = count == 1 ? "1 time" : "\(count) times"
        switch (lock, count, lastDeadHolder) {
        case (.robustMutex, 0, _):
            return "the robust mutex was never recovered from a dead holder"
        case (.robustMutex, _, let pid?):
            return "the robust mutex was recovered from dead holder pid \(pid) (EOWNERDEAD), \(times)"
        case (.robustMutex, _, nil):
            // The holder died just after locking or just before unlocking, with no pid in the segment.
            return "the robust mutex was recovered from a dead holder whose pid was not recorded (EOWNERDEAD), \(times)"
        case (.manager, 0, _):
            return "no client of the manager disconnected holding the lock"
        case (.manager, _, let pid?):
            return "the manager released the lock of pid \(pid), which disconnected holding it, \(times)"
        case (.manager, _, nil):
            return "the manager released the lock of a client that did not declare its pid and disconnected holding it, \(times)"
        }
    }
}
