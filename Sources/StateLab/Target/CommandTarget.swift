/// An app statelab launched from a command (see `LaunchedApp`).
///
/// Like an app at a URL it is read through its read request on fresh connections,
/// best effort: a shared socket cannot address one pid, so the kernel picks
/// the worker. What launching adds: the workers are known from /proc, so a
/// read round tries until each of them has answered, and a worker that is
/// gone is told apart from one that never got a connection.
public struct CommandTarget: RunTarget {
    public let app: LaunchedApp
    public var host: String { app.address }
    public var port: Int { app.port }
    public var workerCount: Int { app.workerPids().count }
    public let requests: AppRequests
    /// Names the worker of each connection among the command's process group;
    /// nil on a --hosts host, whose sockets this namespace's table does not list (the answers name the workers).
    public let owners: SocketOwners?

    /// `requests`: the app's own; nil, the counter API with the command's field names.
    public init(app: LaunchedApp, requests: AppRequests? = nil) {
        self.app = app
        self.requests = requests ?? TargetSpec.command(app.spec, sharing: .auto).requests
        owners = app.placement == nil ? SocketOwners(scope: .group(app.groupID)) : nil
    }

    public var appRequests: AppRequests { requests }
    public var socketOwners: SocketOwners? { owners }

    public var label: String { app.spec.command }

    /// The workers /proc shows now (a killed one is replaced by a new pid).
    public func workers() async -> [TargetWorker] {
        let app = self.app
        return await OffThread.run {
            app.workerPids().sorted().enumerated().map { TargetWorker(index: $0.offset, pid: $0.element, status: .alive) }
        }
    }

    public func quickReads(expecting pids: Set<Int32>, timeout: Double) async -> [ReadRecord] {
        await url.quickReads(expecting: pids.isEmpty ? Set(app.workerPids()) : pids, timeout: timeout)
    }

    public func kill(pid: Int32) async -> String? {
        do {
            try app.kill(pid: pid)
            return nil
        } catch {
            return "\(error)"
        }
    }

    /// Reads and resets go through the port as to any app at a URL.
    private var url: URLTarget { URLTarget(host: host, port: port, requests: requests, owners: owners) }

    public func sampleRead(turn: Int) async -> ReadRecord? { await url.sampleRead(turn: turn) }

    public func readAll(expecting pids: Set<Int32>, skipping: [UnreadWorker]) async -> (reads: [ReadRecord], unread: [UnreadWorker]) {
        // Before the load nobody is expected yet: the running workers are.
        let expected = pids.isEmpty ? Set(app.workerPids()) : pids
        let (reads, unread) = await url.readAll(expecting: expected, skipping: skipping)
        // What /proc adds: a worker that is gone is told apart from one no connection reached.
        return (reads, unread.map { app.status(of: $0.pid) == .gone ? UnreadWorker(pid: $0.pid, reason: "the process is gone") : $0 })
    }

    public func reset(through worker: Int?, timeout: Double) async -> ResetAnswer {
        await url.reset(through: worker, timeout: timeout)
    }
}
