import Atomics
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif

/// What a worker's HTTP handlers share: the spec, who this worker is, and its
/// way to the counter.
public final class CounterApp: Sendable {
    public let spec: WorkerSpec
    public let worker: Int
    public let pid: Int32
    let backend: any CounterBackend
    let handledIncrements = ManagedAtomic<Int>(0)
    let answers: WorkerAnswers
    /// Increments answer with when they read and wrote (`X-Statelab-Trace`): a report draws the race.
    let traces: Bool

    public init(spec: WorkerSpec, worker: Int, backend: any CounterBackend) {
        self.spec = spec
        self.traces = spec.trace == true
        self.worker = worker
        self.pid = getpid()
        self.answers = WorkerAnswers(pid: pid, worker: worker, host: spec.hostAddress)
        self.backend = backend
    }

}
