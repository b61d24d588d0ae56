import Foundation
import NIOConcurrencyHelpers
#if canImport(Glibc)
import Glibc
#endif

/// statelab's own app on several namespaced hosts behind a real nginx: one
/// supervisor per host (its workers and, for manager, shm and SQLite, its own
/// store), redis-server or PostgreSQL on a store host every host reaches over
/// the bridge, and nginx on loopback spreading the load over the hosts.
/// `stop()` takes it all down, namespaces and links included.
public final class HostCluster: @unchecked Sendable {
    public let config: AppConfig
    public let control: RunDirectory
    public let network: HostNetwork
    public let supervisors: [Supervisor]
    public let nginx: NginxProcess
    private let store: NIOLockedValueBox<StoreServer?>
    private let stopped = NIOLockedValueBox(false)
    /// Every pid ever seen as a worker of a host, with its host: answers of a
    /// worker that has since been replaced still count on its host.
    private let knownHosts = NIOLockedValueBox<[Int32: Int]>([:])

    enum StoreServer {
        case redis(RedisServerProcess)
        case postgres(PostgresServerProcess)
    }

    /// A server at a URL cannot serve the hosts: each has its own loopback,
    /// and statelab connects to nothing else. The line says so, with the fix.
    public static func loopbackServerProblem(redisURL: String?, postgresURL: String?) -> String? {
        if redisURL != nil {
            return "--redis-url does not apply with --hosts: each host has its own loopback; leave it out and statelab starts redis-server on a store host every host reaches"
        }
        if postgresURL != nil {
            return "--postgres-url does not apply with --hosts: each host has its own loopback; leave it out and statelab starts PostgreSQL on a store host every host reaches"
        }
        return nil
    }

    /// Why `hosts` cannot run here, with the fix; nil when it can.
    public static func availability(_ config: AppConfig) -> String? {
        HostNetwork.availability() ?? NginxProcess.availability() ?? config.unavailability()
    }

    /// Starts the network, the store host's server, every host's app and nginx;
    /// on failure, stops whatever it had started.
    /// nginx listens on `config.port` on loopback (0: a free port).
    public static func start(_ config: AppConfig, hosts count: Int,
                             log: @escaping @Sendable (String) -> Void = { _ in }) throws -> HostCluster {
        if let problem = config.problems().first { throw StoreError(problem) }
        if let problem = InputLimits.problem("--hosts", count, in: InputLimits.hosts) { throw StoreError(problem) }
        if let problem = loopbackServerProblem(redisURL: config.redisURL, postgresURL: config.postgres.url) {
            throw StoreError(problem)
        }
        if let reason = availability(config) { throw StoreError(reason) }
        let control = try RunDirectory.create()
        var network: HostNetwork?
        var store: StoreServer?
        var supervisors: [Supervisor] = []
        do {
            let needsStoreHost = (config.strategy == .redis && config.redisURL == nil)
                || (config.strategy == .postgres && config.postgres.url == nil)
            let made = try HostNetwork.create(hosts: count, storeHost: needsStoreHost, control: control.path)
            network = made
            var hostConfig = config
            hostConfig.hosts = nil
            hostConfig.port = HostPlacement.appPort
            hostConfig.listen = .reuseport
            if let storeHost = made.store {
                let placement = ServerPlacement(host: storeHost.address, namespaces: storeHost.namespaces,
                                                clients: "\(made.gateway)/\(made.prefixLength)")
                switch config.strategy {
                case .redis:
                    let server = try RedisServerProcess.launch(in: control.path, appendOnly: config.redisAppendOnly,
                                                               placement: placement)
                    store = .redis(server)
                    hostConfig.redisURL = "redis://\(server.host):\(server.port)"
                default:
                    let connections = max(100, count * config.workers * config.postgres.connections + 20)
                    let server = try PostgresServerProcess.launch(
                        in: control.path,
                        settings: PostgresServerSettings(fsync: config.postgres.fsync, maxConnections: connections),
                        placement: placement, log: log)
                    store = .postgres(server)
                    hostConfig.postgres.url = server.url.secretText
                }
            }
            for host in made.hosts {
                var one = hostConfig
                one.placement = HostPlacement(index: host.index!, address: host.address, namespaces: host.namespaces,
                                              control: control.path)
                supervisors.append(try Supervisor.start(one, log: log))
            }
            let nginxDirectory = control.path + "/nginx"
            try FileManager.default.createDirectory(atPath: nginxDirectory, withIntermediateDirectories: false)
            let nginx = try NginxProcess.launch(upstreams: made.hosts.map { "\($0.address):\(HostPlacement.appPort)" },
                                                in: nginxDirectory, port: config.port)
            let cluster = HostCluster(config: config, control: control, network: made, supervisors: supervisors,
                                      nginx: nginx, store: store)
            for (index, supervisor) in supervisors.enumerated() { cluster.remember(supervisor, host: index) }
            return cluster
        } catch {
            supervisors.forEach { $0.stop() }
            switch store {
            case .redis(let server): server.stop()
            case .postgres(let server): server.stop()
            case nil: break
            }
            network?.close()
            control.remove()
            throw error
        }
    }

    private init(config: AppConfig, control: RunDirectory, network: HostNetwork, supervisors: [Supervisor],
                 nginx: NginxProcess, store: StoreServer?) {
        self.config = config
        self.control = control
        self.network = network
        self.supervisors = supervisors
        self.nginx = nginx
        self.store = NIOLockedValueBox(store)
    }

    private func remember(_ supervisor: Supervisor, host: Int) {
        let pids = supervisor.workers.map(\.pid)
        knownHosts.withLockedValue { known in for pid in pids { known[pid] = host } }
    }

    /// The host of a worker's pid, current or replaced; nil for a pid no host ever had.
    public func host(of pid: Int32) -> Int? {
        if let known = knownHosts.withLockedValue({ $0[pid] }) { return known }
        for (index, supervisor) in supervisors.enumerated() where supervisor.workers.contains(where: { $0.pid == pid }) {
            knownHosts.withLockedValue { $0[pid] = index }
            return index
        }
        return nil
    }

    /// Notes the current workers of every host (after restarts).
    func rememberAll() {
        for (index, supervisor) in supervisors.enumerated() { remember(supervisor, host: index) }
    }

    public var hostCount: Int { supervisors.count }
    public var addresses: [String] { network.hosts.map(\.address) }
    public var storeAddress: String? { network.store?.address }
    public var url: String { "http://127.0.0.1:\(nginx.port)" }

    /// The store host's server pid (redis-server, postgres), if statelab started one.
    public var storePID: Int32? {
        switch store.withLockedValue({ $0 }) {
        case .redis(let server)?: return server.pid
        case .postgres(let server)?: return server.pid
        case nil: return nil
        }
    }

    // MARK: Faults

    /// SIGKILL to every worker of one host; they stay down until `restartHost`.
    public func killHost(_ index: Int) throws -> [Int32] {
        guard supervisors.indices.contains(index) else { throw StoreError("no host \(index + 1): the run has \(supervisors.count)") }
        rememberAll()
        return supervisors[index].killAll()
    }

    /// Every worker of one host stopped (if running) and started again.
    public func restartHost(_ index: Int) throws -> [(index: Int, old: Int32, new: Int32)] {
        guard supervisors.indices.contains(index) else { throw StoreError("no host \(index + 1): the run has \(supervisors.count)") }
        rememberAll()
        let pids = try supervisors[index].restartApp()
        rememberAll()
        return pids
    }

    /// The store host's server process, for kill_store and restart_store.
    public var storeProcessProblem: String? {
        if store.withLockedValue({ $0 }) != nil { return nil }
        switch config.strategy {
        case .redis, .postgres:
            return "\(config.strategy.rawValue) runs at a URL, a server statelab did not start; it kills and restarts only its own"
        default:
            return "with --hosts, \(config.strategy.rawValue) is on each host (\(config.strategy.summary)); kill_host and restart_host act on a host's workers"
        }
    }

    public func killStore() throws -> Int32 {
        switch store.withLockedValue({ $0 }) {
        case .redis(let server)?: server.kill(); return server.pid
        case .postgres(let server)?: server.kill(); return server.pid
        case nil: throw StoreError(storeProcessProblem ?? "no store process")
        }
    }

    public func restartStore() throws -> Int32 {
        switch store.withLockedValue({ $0 }) {
        case .redis(let server)?:
            guard !server.isRunning else { throw StoreError("redis-server (pid \(server.pid)) is running; kill it first") }
            let fresh = try server.restarted()
            store.withLockedValue { $0 = .redis(fresh) }
            return fresh.pid
        case .postgres(let server)?:
            guard !server.isRunning else { throw StoreError("postgres (pid \(server.pid)) is running; kill it first") }
            let fresh = try server.restarted()
            store.withLockedValue { $0 = .postgres(fresh) }
            return fresh.pid
        case nil:
            throw StoreError(storeProcessProblem ?? "no store process")
        }
    }

    /// What nginx logged about each host, in words ("nginx: host 2 (ADDRESS): 3 connects failed, marked down twice").
    public func balancerEvents() -> [String] { nginx.describeHostEvents(network.hosts) }

    /// Stops nginx, every host's app, the store and the network; removes the
    /// control directory. Idempotent.
    public func stop() {
        let first = stopped.withLockedValue { done in defer { done = true }; return !done }
        guard first else { return }
        nginx.stop()
        for supervisor in supervisors { supervisor.stop() }
        switch store.withLockedValue({ $0 }) {
        case .redis(let server)?: server.stop()
        case .postgres(let server)?: server.stop()
        case nil: break
        }
        network.close()
        control.remove()
    }

    deinit { stop() }
}
