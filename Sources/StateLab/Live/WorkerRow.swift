/// Whether a worker process is serving.
public enum WorkerStatus: String, Sendable, Equatable, CaseIterable {
    case alive, dead, restarting
    /// The worker runs but its store's process was killed (K): it answers 503 until U.
    case storeDown = "store down"
}

/// One worker process as the engine last sampled it.
public struct WorkerRow: Sendable, Equatable {
    /// 0-based worker index, stable across restarts.
    public var index: Int
    public var pid: Int32
    public var status: WorkerStatus
    /// Increments this worker answered 2xx since the last reset.
    public var acknowledged: Int
    /// The count this worker reports right now (nil before its first read or when it is down).
    public var currentRead: Int?
    /// With a limit and nothing read: the operations this worker refused (nil when the run reads a counter).
    public var refused: Int?
    /// Its host (`--hosts`, 0-based); nil on one host.
    public var host: Int?

    public init(index: Int, pid: Int32, status: WorkerStatus = .alive, acknowledged: Int = 0, currentRead: Int? = nil,
                refused: Int? = nil) {
        self.refused = refused
        self.index = index
        self.pid = pid
        self.status = status
        self.acknowledged = acknowledged
        self.currentRead = currentRead
    }
}
