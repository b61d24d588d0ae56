import Foundation
import NIOConcurrencyHelpers
#if canImport(Glibc)
import Glibc
#endif

/// The user's own app command on several namespaced hosts behind nginx, as
/// `HostCluster` is for statelab's app: the command runs once per host (its
/// own process tree, port 8000 of the host's own stack, `{host}` the host's
/// address), redis-server or PostgreSQL on a store host when the command asks
/// for `{redis_url}` or `{postgres_url}`, and nginx on loopback in front.
public final class HostedCommand: @unchecked Sendable {
    public let spec: CommandSpec
    public let control: RunDirectory
    public let network: HostNetwork
    public let apps: [LaunchedApp]
    public let nginx: NginxProcess
    private let redis: RedisServerProcess?
    private let postgres: PostgresServerProcess?
    private let stopped = NIOLockedValueBox(false)
    private let knownHosts = NIOLockedValueBox<[Int32: Int]>([:])

    /// Why the command cannot run on hosts here, with the fix; nil when it can.
    public static func availability() -> String? {
        HostNetwork.availability() ?? NginxProcess.availability()
    }

    public static func start(_ spec: CommandSpec, hosts count: Int, executable: String = ChildProcess.currentExecutable,
                             redisURL: String? = nil, postgresURL: String? = nil,
                             cancelled: @escaping @Sendable () -> Bool = { false }) throws -> HostedCommand {
        if let problem = InputLimits.problem("--hosts", count, in: InputLimits.hosts) { throw StoreError(problem) }
        if let problem = HostCluster.loopbackServerProblem(redisURL: redisURL, postgresURL: postgresURL) { throw StoreError(problem) }
        if let reason = availability() { throw StoreError(reason) }
        _ = try spec.substituted(port: 0, redisURL: redisURL)  // bad placeholders before anything starts
        let needsRedis = redisURL == nil && spec.placeholdersUsed.contains("redis_url")
        let needsPostgres = postgresURL == nil && spec.placeholdersUsed.contains("postgres_url")
        let control = try RunDirectory.create()
        var network: HostNetwork?
        var redis: RedisServerProcess?
        var postgres: PostgresServerProcess?
        var apps: [LaunchedApp] = []
        do {
            let made = try HostNetwork.create(hosts: count, storeHost: needsRedis || needsPostgres, control: control.path,
                                              visible: spec.cwd.map { [$0] } ?? [])
            network = made
            var redisText = redisURL, postgresText = postgresURL
            if let storeHost = made.store {
                let placement = ServerPlacement(host: storeHost.address, namespaces: storeHost.namespaces,
                                                clients: "\(made.gateway)/\(made.prefixLength)")
                if needsRedis {
                    let server = try RedisServerProcess.launch(in: control.path, placement: placement)
                    redis = server
                    redisText = "redis://\(server.host):\(server.port)"
                }
                if needsPostgres {
                    let server = try PostgresServerProcess.launch(in: control.path, placement: placement)
                    postgres = server
                    postgresText = server.url.secretText
                }
            }
            for host in made.hosts {
                let placement = HostPlacement(index: host.index!, address: host.address, namespaces: host.namespaces,
                                              control: control.path)
                apps.append(try LaunchedApp.start(spec, executable: executable, redisURL: redisText, postgresURL: postgresText,
                                                  placement: placement, cancelled: cancelled))
            }
            let nginxDirectory = control.path + "/nginx"
            try FileManager.default.createDirectory(atPath: nginxDirectory, withIntermediateDirectories: false)
            let nginx = try NginxProcess.launch(upstreams: made.hosts.map { "\($0.address):\(HostPlacement.appPort)" },
                                                in: nginxDirectory)
            let hosted = HostedCommand(spec: spec, control: control, network: made, apps: apps, nginx: nginx,
                                       redis: redis, postgres: postgres)
            hosted.rememberAll()
            return hosted
        } catch {
            apps.forEach { $0.stop() }
            redis?.stop()
            postgres?.stop()
            network?.close()
            control.remove()
            throw error
        }
    }

    private init(spec: CommandSpec, control: RunDirectory, network: HostNetwork, apps: [LaunchedApp], nginx: NginxProcess,
                 redis: RedisServerProcess?, postgres: PostgresServerProcess?) {
        self.spec = spec
        self.control = control
        self.network = network
        self.apps = apps
        self.nginx = nginx
        self.redis = redis
        self.postgres = postgres
    }

    public var addresses: [String] { network.hosts.map(\.address) }

    /// Notes the processes of every host's command now (workers come and go).
    func rememberAll() {
        for (index, app) in apps.enumerated() {
            let pids = app.groupPids()
            knownHosts.withLockedValue { known in for pid in pids { known[pid] = index } }
        }
    }

    /// The host of a process of one of the commands, current or gone; nil for any other pid.
    public func host(of pid: Int32) -> Int? {
        if let known = knownHosts.withLockedValue({ $0[pid] }) { return known }
        for (index, app) in apps.enumerated() where app.status(of: pid) == .alive {
            knownHosts.withLockedValue { $0[pid] = index }
            return index
        }
        return nil
    }

    /// What nginx logged about each host, in words.
    public func balancerEvents() -> [String] { nginx.describeHostEvents(network.hosts) }

    /// Stops nginx, every host's command, the store and the network. Idempotent.
    public func stop() {
        let first = stopped.withLockedValue { done in defer { done = true }; return !done }
        guard first else { return }
        nginx.stop()
        for app in apps { app.stop() }
        redis?.stop()
        postgres?.stop()
        network.close()
        control.remove()
    }

    deinit { stop() }
}

/// The user's command on several hosts, as a run drives it: the load through
/// nginx (the answers name their workers: /proc sees nginx), each host read on
/// its own address, every worker's row saying its host.
public struct HostedCommandTarget: RunTarget {
    public let hosted: HostedCommand
    public let requests: AppRequests
    private let targets: [CommandTarget]

    public init(hosted: HostedCommand, requests: AppRequests) {
        self.hosted = hosted
        self.requests = requests
        targets = hosted.apps.map { CommandTarget(app: $0, requests: requests) }
    }

    public var host: String { "127.0.0.1" }
    public var port: Int { hosted.nginx.port }
    public var workerCount: Int { targets.map(\.workerCount).reduce(0, +) }
    public var label: String { "\(hosted.spec.command) on \(targets.count) hosts behind nginx" }
    public var appRequests: AppRequests { requests }
    public var socketOwners: SocketOwners? { nil }
    public var hostOf: (@Sendable (Int32) -> Int?)? {
        let hosted = self.hosted
        return { hosted.host(of: $0) }
    }

    private func placed(_ reads: [ReadRecord], host: Int) -> [ReadRecord] {
        reads.map { read in
            var read = read
            read.host = host
            return read
        }
    }

    /// The pids of `pids` on host `index` (all of that host's workers when `pids` is empty).
    private func expected(_ pids: Set<Int32>, on index: Int) -> Set<Int32> {
        pids.isEmpty ? Set(hosted.apps[index].workerPids()) : pids.filter { hosted.host(of: $0) == index }
    }

    public func sampleRead(turn: Int) async -> ReadRecord? {
        let index = turn % targets.count
        return await targets[index].sampleRead(turn: turn / targets.count).map { placed([$0], host: index)[0] }
    }

    public func readAll(expecting pids: Set<Int32>, skipping: [UnreadWorker]) async -> (reads: [ReadRecord], unread: [UnreadWorker]) {
        hosted.rememberAll()
        var reads: [ReadRecord] = [], unread: [UnreadWorker] = []
        for (index, target) in targets.enumerated() {
            let result = await target.readAll(expecting: expected(pids, on: index), skipping: skipping)
            reads += placed(result.reads, host: index)
            unread += result.unread.map { UnreadWorker(pid: $0.pid, worker: $0.worker, reason: "host \(index + 1): \($0.reason)") }
        }
        return (reads, unread)
    }

    public func quickReads(expecting pids: Set<Int32>, timeout: Double) async -> [ReadRecord] {
        var reads: [ReadRecord] = []
        for (index, target) in targets.enumerated() {
            reads += placed(await target.quickReads(expecting: expected(pids, on: index), timeout: timeout), host: index)
        }
        return reads
    }

    /// The reset request on every host, one after another: a state kept on
    /// each host is reset on each. It reaches every counter (no pid); when
    /// some hosts applied it and another did not, what it did is uncertain.
    public func reset(through worker: Int?, timeout: Double) async -> ResetAnswer {
        var answers: [ResetAnswer] = []
        for target in targets { answers.append(await target.reset(through: nil, timeout: timeout)) }
        let failures = answers.enumerated().filter { $0.element.outcome != .ok }
        guard let first = failures.first else { return ResetAnswer(outcome: .ok, pid: nil, error: nil) }
        let applied = answers.contains { $0.outcome == .ok }
        let outcome: Outcome = applied || first.element.outcome == .indeterminate ? .indeterminate : .fail
        return ResetAnswer(outcome: outcome, pid: nil,
                           error: "host \(first.offset + 1): \(first.element.error ?? "not applied")"
                               + (applied ? " (the other hosts applied it)" : ""))
    }

    public func workers() async -> [TargetWorker] {
        hosted.rememberAll()
        var rows: [TargetWorker] = []
        for (index, target) in targets.enumerated() {
            for var row in await target.workers() {
                row.index = rows.count
                row.host = index
                rows.append(row)
            }
        }
        return rows
    }

    public func kill(pid: Int32) async -> String? {
        guard let index = hosted.host(of: pid) else { return "pid \(pid) is not a process of the app on any host" }
        return await targets[index].kill(pid: pid)
    }
}
