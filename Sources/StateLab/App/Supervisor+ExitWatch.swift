import CSupport
import Foundation
import NIOConcurrencyHelpers
#if canImport(Glibc)
import Glibc
#endif

/// A worker that exited without statelab asking it to (killed from outside,
/// crashed), and what the supervisor did about it.
public struct WorkerExit: Sendable, Equatable {
    public var index: Int
    public var pid: Int32
    /// The replacement's pid; nil when it could not be started.
    public var newPid: Int32?
    /// "worker 0 (pid 123) was killed; restarted as pid 456".
    public var line: String
}

/// The supervisor learns of a worker's exit as it happens: one pidfd per
/// worker (readable once the process exits), waited on with poll(2) by one
/// thread, which then restarts the worker through `monitor()`, the one
/// restart path. Every front end that starts statelab's own app gets it.
/// The poll's timeout only bounds how soon a new worker's pidfd and a stop
/// are taken up; an exit wakes the thread at once.
final class ExitWatch: Sendable {
    private let finished = DispatchSemaphore(value: 0)
    private let observers = NIOLockedValueBox<[@Sendable (WorkerExit) -> Void]>([])
    /// Pids statelab itself is stopping or killing (faults, restarts): their exits are no news.
    private let expected = NIOLockedValueBox<Set<Int32>>([])

    func start(_ supervisor: Supervisor) {
        let thread = Thread { [weak supervisor, finished] in
            Self.watch { supervisor }
            finished.signal()
        }
        thread.name = "statelab-exit-watch"
        thread.start()
    }

    /// Waits (bounded) for the thread to end once the supervisor is stopped.
    func join() { _ = finished.wait(timeout: .now() + .seconds(5)) }

    func observe(_ handler: @escaping @Sendable (WorkerExit) -> Void) { observers.withLockedValue { $0.append(handler) } }

    func expect(_ pid: Int32) { _ = expected.withLockedValue { $0.insert(pid) } }

    /// Whether the exit of `pid` was statelab's doing (and forgets it).
    func wasExpected(_ pid: Int32) -> Bool { expected.withLockedValue { $0.remove(pid) != nil } }

    func report(_ exit: WorkerExit) {
        for observer in observers.withLockedValue({ $0 }) { observer(exit) }
    }

    /// Runs until the supervisor is stopped or gone. Each pass is bounded by the poll's 250 ms.
    private static func watch(_ supervisor: () -> Supervisor?) {
        var descriptors: [Int32: Int32] = [:]  // pid -> pidfd
        defer { descriptors.values.forEach { close($0) } }
        while true {
            var exited = false
            do {
                guard let current = supervisor(), !current.isStopped else { return }
                let pids = Set(current.workers.filter { $0.status != .dead }.map(\.pid))
                for (pid, fd) in descriptors where !pids.contains(pid) {
                    close(fd)
                    descriptors[pid] = nil
                }
                for pid in pids where descriptors[pid] == nil {
                    let fd = sl_pidfd_open(pid)
                    if fd >= 0 { descriptors[pid] = fd } else { exited = true }
                }
            }
            if !exited {
                var polled = descriptors.values.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
                let ready = poll(&polled, nfds_t(polled.count), 250)
                exited = ready > 0
            }
            if exited, let current = supervisor(), !current.isStopped {
                current.monitor()
                // A worker that cannot start again is left dead: the next exit or pass tries again, not a spin.
                if current.workers.contains(where: { $0.status == .dead }) { usleep(250_000) }
            }
        }
    }
}
