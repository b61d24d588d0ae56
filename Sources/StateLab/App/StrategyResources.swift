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

    /// fds the workers inherit (parent fd -> child fd).
    var inheritedDescriptors: [(from: Int32, to: Int32)] {
        sharedMemory.map { [($0.fd, SharedMemoryCounter.inheritedFD)] } ?? []
    }

    init(config: AppConfig, runDirectory: RunDirectory, spec: inout WorkerSpec,
         log: (String) -> Void = { _ in }) throws {
        do {
            switch config.strategy {
            case .global:
                break
            case .shm:
                sharedMemory = try SharedMemoryCounter.create()
            case .sqlite:
                try SQLiteSession.createDatabase(at: spec.sqlitePath)
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

    private func startManager(config: AppConfig, spec: WorkerSpec) throws {
        let key = ManagerKey.generate()
        try ManagerKey.write(key, to: spec.managerKeyPath)
        let process = try ChildProcess.spawn(
            executable: config.executable,
            arguments: ["manager", "--socket", spec.managerSocketPath, "--key-file", spec.managerKeyPath],
            outputFile: spec.runDirectory + "/manager.log")
        manager = process
        // Ready once it authenticates a client.
        // Generous: a saturated machine can take seconds to start a debug process.
        let deadline = MonotonicClock.now() + 30_000_000_000
        while true {
            if let session = try? ManagerSession(socketPath: spec.managerSocketPath, key: key, timeout: 2) {
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
            let server = try RedisServerProcess.launch(in: runDirectory.path)
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
