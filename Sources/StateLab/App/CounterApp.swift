import Atomics
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif

/// What a worker's HTTP handlers share: the spec, who this worker is, its store
/// sessions and the threads that make store calls.
public final class CounterApp: Sendable {
    public let spec: WorkerSpec
    public let worker: Int
    public let pid: Int32
    let sessions: SessionPool
    let storeThreads: NIOThreadPool
    let handledIncrements = ManagedAtomic<Int>(0)

    public init(spec: WorkerSpec, worker: Int, sessions: SessionPool, storeThreads: NIOThreadPool) {
        self.spec = spec
        self.worker = worker
        self.pid = getpid()
        self.sessions = sessions
        self.storeThreads = storeThreads
    }

    /// The JSON fields every answer names this worker with.
    var identity: String { "\"pid\":\(pid),\"worker\":\(worker)" }
}
