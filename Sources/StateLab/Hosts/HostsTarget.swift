import Foundation

/// statelab's own app on several hosts (`HostCluster`), as a run drives it:
/// the load goes through nginx; each worker is read through its own private
/// socket, on its host. Workers are numbered across hosts (host 1's first,
/// then host 2's), and every read names its host.
public struct HostsTarget: RunTarget, FaultTarget {
    public let cluster: HostCluster
    public var host: String { "127.0.0.1" }
    public var port: Int { cluster.nginx.port }
    public var workerCount: Int { cluster.supervisors.count * cluster.config.workers }
    public var label: String {
        "statelab \(cluster.config.strategy.rawValue)/\(cluster.config.mode.rawValue) on \(cluster.hostCount) hosts behind nginx"
    }

    public init(cluster: HostCluster) { self.cluster = cluster }

    private var perHost: Int { cluster.config.workers }

    /// Every worker with its host and its index across hosts.
    private func all() -> [(host: Int, global: Int, worker: WorkerHandle)] {
        cluster.supervisors.enumerated().flatMap { host, supervisor in
            supervisor.workers.map { (host, host * perHost + $0.index, $0) }
        }
    }

    private func placed(_ read: ReadRecord, host: Int, global: Int) -> ReadRecord {
        var read = read
        read.host = host
        read.worker = global
        return read
    }

    private func locate(_ global: Int) throws -> (supervisor: Supervisor, index: Int) {
        let host = global / perHost
        guard global >= 0, cluster.supervisors.indices.contains(host) else {
            throw StoreError("no worker \(global): \(cluster.hostCount) hosts of \(perHost) workers are 0-\(workerCount - 1)")
        }
        return (cluster.supervisors[host], global % perHost)
    }

    public func sampleRead(turn: Int) async -> ReadRecord? {
        let workers = all()
        guard !workers.isEmpty else { return nil }
        let chosen = workers[turn % workers.count]
        return await OffThread.run {
            (try? SupervisorTarget.read(chosen.worker, timeout: 2)).map { placed($0, host: chosen.host, global: chosen.global) }
        }
    }

    public func readAll(expecting pids: Set<Int32>, skipping: [UnreadWorker]) async -> (reads: [ReadRecord], unread: [UnreadWorker]) {
        cluster.rememberAll()
        let workers = all()
        return await OffThread.run {
            var reads: [ReadRecord] = [], unread: [UnreadWorker] = []
            for (host, global, worker) in workers {
                if let known = skipping.first(where: { $0.pid == worker.pid }) {
                    unread.append(known)
                    continue
                }
                do {
                    reads.append(placed(try SupervisorTarget.read(worker, timeout: 5), host: host, global: global))
                } catch {
                    unread.append(UnreadWorker(pid: worker.pid, worker: global, reason: "host \(host + 1): \(error)"))
                }
            }
            return (reads, unread)
        }
    }

    public func quickReads(expecting pids: Set<Int32>, timeout: Double) async -> [ReadRecord] {
        let workers = all().filter { $0.worker.status == .alive }
        return await OffThread.run {
            workers.compactMap { entry in
                (try? SupervisorTarget.read(entry.worker, timeout: timeout)).map { placed($0, host: entry.host, global: entry.global) }
            }
        }
    }

    public func reset(through worker: Int?, timeout: Double) async -> ResetAnswer {
        guard let (supervisor, index) = try? locate(worker ?? 0),
              let handle = supervisor.workers.first(where: { $0.index == index }) else {
            return ResetAnswer(outcome: .fail, error: "no worker \(worker ?? 0)")
        }
        return await OffThread.run { ControlExchange.reset(socketPath: handle.socketPath, pid: handle.pid, timeout: timeout) }
    }

    public func workers() async -> [TargetWorker] {
        cluster.rememberAll()
        return all().map { host, global, worker in
            let status: TargetWorker.Status = switch worker.status {
            case .alive: .alive
            case .dead: .dead
            case .restarting: .restarting
            }
            var row = TargetWorker(index: global, pid: worker.pid, status: status)
            row.host = host
            return row
        }
    }

    public func kill(pid: Int32) async -> String? {
        guard let entry = all().first(where: { $0.worker.pid == pid }) else { return "pid \(pid) is not a worker of any host" }
        let supervisor = cluster.supervisors[entry.host]
        await OffThread.run { supervisor.kill(worker: entry.worker.index) }
        return nil
    }

    public func monitor() async -> [String] {
        let cluster = self.cluster
        return await OffThread.run {
            let events = cluster.supervisors.enumerated().flatMap { host, supervisor in
                supervisor.monitor().map { "host \(host + 1): \($0)" }
            }
            cluster.rememberAll()
            return events
        }
    }

    /// Each pid's host, for the check of a store each host has its own of
    /// (manager, shm, SQLite: `sharing` per-host).
    public var hostOf: (@Sendable (Int32) -> Int?)? {
        let cluster = self.cluster
        return { cluster.host(of: $0) }
    }

    /// How the check takes this app's counter: one per host for a store on
    /// each host, one for a store every host reaches, one per worker for global.
    public var sharing: Sharing {
        let strategy = cluster.config.strategy
        return strategy.isPerHost ? .perHost : strategy.isShared ? .yes : .no
    }

    // MARK: Faults

    public func killWorker(_ global: Int) async throws -> (old: Int32, new: Int32) {
        let (supervisor, index) = try locate(global)
        let pids = try await SupervisorTarget(supervisor: supervisor).killWorker(index)
        cluster.rememberAll()
        return pids
    }

    public func restartWorker(_ global: Int) async throws -> (old: Int32, new: Int32) {
        let (supervisor, index) = try locate(global)
        let pids = try await SupervisorTarget(supervisor: supervisor).restartWorker(index)
        cluster.rememberAll()
        return pids
    }

    public func pauseWorker(_ global: Int, _ paused: Bool) async throws -> Int32 {
        let (supervisor, index) = try locate(global)
        return try await SupervisorTarget(supervisor: supervisor).pauseWorker(index, paused)
    }

    public func restartApp() async throws -> [(index: Int, old: Int32, new: Int32)] {
        var all: [(index: Int, old: Int32, new: Int32)] = []
        for host in 0..<cluster.hostCount {
            all += try await restartHost(host)
        }
        return all
    }

    public func killHost(_ host: Int) async throws -> [Int32] {
        let cluster = self.cluster
        return try await OffThread.run { try cluster.killHost(host) }
    }

    public func restartHost(_ host: Int) async throws -> [(index: Int, old: Int32, new: Int32)] {
        let cluster = self.cluster
        let perHost = self.perHost
        return try await OffThread.run {
            try cluster.restartHost(host).map { (host * perHost + $0.index, $0.old, $0.new) }
        }
    }

    public func killStore() async throws -> Int32 {
        let cluster = self.cluster
        return try await OffThread.run { try cluster.killStore() }
    }

    public func restartStore() async throws -> Int32 {
        let cluster = self.cluster
        return try await OffThread.run { try cluster.restartStore() }
    }

    public var storeProcessProblem: String? { cluster.storeProcessProblem }

    public func lockHolder(timeout: Double) async -> Int32? {
        let supervisors = cluster.supervisors
        return await OffThread.run {
            // Each host has its own lock: the first host whose lock is held.
            let deadline = MonotonicClock.now() + UInt64(timeout * 1e9)
            repeat {
                for supervisor in supervisors {
                    if let pid = supervisor.waitForLockHolder(timeout: 0.05) { return pid }
                }
            } while MonotonicClock.now() < deadline
            return nil
        }
    }

    public func lockRecovery() async -> LockRecoveries? {
        nil
    }

    public func workerIndex(of pid: Int32) async -> Int? {
        all().first { $0.worker.pid == pid }?.global
    }
}
