import Foundation

/// The shared store an app's workers use, set up before they start and torn
/// down after they stop: the shm segment, the SQLite file, the manager
/// process, the redis-server.
final class StrategyResources: @unchecked Sendable {
    private(set) var sharedMemory: SharedMemoryCounter?
    private(set) var manager: ChildProcess?
    private(set) var redis: RedisServerProcess?
    private(set) var redisAddress: (host: String, port: Int)?
    private(set) var postgres: PostgresServerProcess?
    private let config: AppConfig
    private var spec: WorkerSpec

    /// fds the workers inherit (parent fd -> child fd).
    var inheritedDescriptors: [(from: Int32, to: Int32)] {
        sharedMemory.map { [($0.fd, SharedMemoryCounter.inheritedFD)] } ?? []
    }

    init(config: AppConfig, runDirectory: RunDirectory, spec: inout WorkerSpec,
         log: (String) -> Void = { _ in }) throws {
        self.config = config
        self.spec = spec
        defer { self.spec = spec }
        do {
            switch config.strategy {
            case .global:
                break
            case .shm:
                sharedMemory = try SharedMemoryCounter.create()
            case .sqlite:
                try SQLiteSession.createDatabase(at: outside(spec.sqlitePath))
            case .manager:
                try startManager(config: config, spec: spec)
            case .redis:
                try startRedis(config: config, runDirectory: runDirectory, spec: &spec)
            case .postgres:
                try startPostgres(config: config, runDirectory: runDirectory, spec: &spec, log: log)
            }
        } catch {
            stop()
            throw error
        }
    }

    /// A path of the workers' as statelab sees it (through /proc/PID/root on a namespaced host).
    func outside(_ path: String) -> String { config.placement.map { $0.namespaces.outside(path) } ?? path }

    private func startManager(config: AppConfig, spec: WorkerSpec) throws {
        let key = ManagerKey.generate()
        try ManagerKey.write(key, to: outside(spec.managerKeyPath))
        try launchManager(key: key, config: config, spec: spec)
    }

    /// The manager on the run's socket with `key`; returns once it authenticates a client.
    private func launchManager(key: [UInt8], config: AppConfig, spec: WorkerSpec) throws {
        let process = try ChildProcess.spawn(
            executable: config.executable,
            arguments: ["manager", "--socket", spec.managerSocketPath, "--key-file", spec.managerKeyPath],
            outputFile: spec.runDirectory + "/manager.log",
            options: SpawnOptions(namespaces: config.placement?.namespaces))
        manager = process
        // Ready once it authenticates a client.
        // Generous: a saturated machine can take seconds to start a debug process.
        let deadline = MonotonicClock.now() + 30_000_000_000
        while true {
            if let session = try? ManagerSession(socketPath: outside(spec.managerSocketPath), key: key, timeout: 2) {
                session.close()
                return
            }
            if !process.isRunning || MonotonicClock.now() > deadline {
                let log = LogTail.read(spec.runDirectory + "/manager.log")
                throw StoreError("the manager process did not start\(log.isEmpty ? "" : ": \(log)")")
            }
            usleepChecked(20_000)
        }
    }

    private func startRedis(config: AppConfig, runDirectory: RunDirectory, spec: inout WorkerSpec) throws {
        let url: RedisURL
        if let text = config.redisURL {
            url = try RedisURL(parsing: text)
        } else {
            let server = try RedisServerProcess.launch(in: runDirectory.path, appendOnly: config.redisAppendOnly)
            redis = server
            url = server.url
        }
        // Every run starts from 0, also on a server the user named. Connecting
        // authenticates and selects the database, so a wrong password or db fails here.
        let session: RedisSession
        do {
            session = try RedisSession(url: url, timeout: 5)
        } catch let error as StoreError where config.redisURL != nil && RedisConnection.isUnreachable(error) {
            throw StoreError("\(error.message); check that Redis runs at \(url), or leave out --redis-url to let statelab start one")
        }
        defer { session.close() }
        try session.reset()
        spec.useRedis(url)
        redisAddress = (url.host, url.port)
    }

    private func startPostgres(config: AppConfig, runDirectory: RunDirectory, spec: inout WorkerSpec,
                               log: (String) -> Void) throws {
        let url: PostgresURL
        if let text = config.postgres.url {
            url = try PostgresURL(parsing: text)
            // Every run starts from 0, also on a server the user named.
            do {
                try PostgresCounterTable.prepare(url: url, timeout: 5)
            } catch let error as StoreError {
                throw StoreError("\(error.message); check that PostgreSQL runs at \(url), or leave out --postgres-url to let statelab start one")
            }
        } else {
            // Room for every worker's pool, the table setup and a psql or two.
            let connections = max(100, config.workers * config.postgres.connections + 20)
            let server = try PostgresServerProcess.launch(
                in: runDirectory.path,
                settings: PostgresServerSettings(fsync: config.postgres.fsync, maxConnections: connections),
                log: log)
            postgres = server
            url = server.url
        }
        spec.postgres = PostgresWorkerSettings(url: url, connections: config.postgres.connections,
                                               retries: config.postgres.retries)
    }

    // MARK: The store's process, for faults

    /// SIGKILLs the store's process (manager, redis-server, postgres) and
    /// returns its pid. The workers see the store gone; `restartStore` brings it back.
    func killStore() throws -> pid_t {
        if let manager, manager.isRunning {
            manager.send(SIGKILL)
            manager.wait(timeout: 10)
            return manager.pid
        }
        if let redis, redis.isRunning {
            redis.kill()
            return redis.pid
        }
        if let postgres, postgres.isRunning {
            postgres.kill()
            return postgres.pid
        }
        throw StoreError(storeProcessProblem ?? "the store's process is not running; restart it first")
    }

    /// Starts the store's process again on the same socket, port or data
    /// directory (redis without persistence comes back empty, as the manager
    /// does; PostgreSQL comes back with what it committed). Returns the new pid.
    func restartStore() throws -> pid_t {
        if let problem = storeProcessProblem { throw StoreError(problem) }
        if let old = manager {
            guard !old.isRunning else { throw StoreError("the manager (pid \(old.pid)) is running; kill it first") }
            try launchManager(key: ManagerKey.read(from: outside(spec.managerKeyPath)), config: config, spec: spec)
            return manager!.pid
        }
        if let old = redis {
            guard !old.isRunning else { throw StoreError("redis-server (pid \(old.pid)) is running; kill it first") }
            let fresh = try old.restarted()
            redis = fresh
            return fresh.pid
        }
        if let old = postgres {
            guard !old.isRunning else { throw StoreError("postgres (pid \(old.pid)) is running; kill it first") }
            let fresh = try old.restarted()
            postgres = fresh
            return fresh.pid
        }
        throw StoreError("no store process to restart")
    }

    /// Why this app's store has no process statelab can kill and restart; nil when it has one.
    var storeProcessProblem: String? {
        switch config.strategy {
        case .global, .shm, .sqlite:
            return "\(config.strategy.rawValue) has no store process to kill or restart (\(config.strategy.summary))"
        case .redis where redis == nil:
            return "redis runs at --redis-url, a server statelab did not start; it kills and restarts only its own"
        case .postgres where postgres == nil:
            return "postgres runs at --postgres-url, a server statelab did not start; it kills and restarts only its own"
        default:
            return nil
        }
    }

    func stop() {
        manager?.stop()
        manager = nil
        redis?.stop()
        redis = nil
        postgres?.stop()
        postgres = nil
        sharedMemory = nil
    }
}

/// The last line of a log file, for error messages.
enum LogTail {
    static func read(_ path: String, lines: Int = 1) -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return "" }
        return text.split(separator: "\n").suffix(lines).joined(separator: " | ")
    }
}
