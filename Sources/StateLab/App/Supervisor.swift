import Foundation
import NIOConcurrencyHelpers
#if canImport(Glibc)
import Glibc
#endif

/// One worker process of the app.
public struct WorkerHandle: Sendable {
    public enum Status: String, Sendable { case alive, dead, restarting }
    public var index: Int
    public var pid: Int32
    public var status: Status
    public var socketPath: String
    let process: ChildProcess
    public var isRunning: Bool { process.isRunning }
}

/// Starts an app (its store and N workers sharing one port), watches it,
/// reads, resets and kills single workers, and stops all of it, removing the
/// run directory. Like gunicorn's arbiter, it restarts a worker that dies.
public final class Supervisor: @unchecked Sendable {
    public let config: AppConfig
    public let port: Int
    public let runDirectory: RunDirectory
    public let spec: WorkerSpec
    let resources: StrategyResources
    /// The listening socket every worker inherits (listen: shared); nil with reuseport.
    private let listener: PortReservation?
    private let state: NIOLockedValueBox<[WorkerHandle]>
    private let log: @Sendable (String) -> Void
    private let stopped = NIOLockedValueBox(false)
    /// Every worker was killed as a host going down (`killAll`): none is restarted until `restartApp`.
    private let held = NIOLockedValueBox(false)
    /// Restarts one at a time: the exit watch's, a fault's, `restart`'s and `restartApp`'s.
    private let restarting = NIOLock()
    private let exits = ExitWatch()

    public var url: String { "http://\(config.placement?.address ?? "127.0.0.1"):\(port)" }
    public var workers: [WorkerHandle] { state.withLockedValue { $0 } }
    /// The redis-server statelab started, if any.
    public var redisPID: Int32? { resources.redis?.pid }
    public var managerPID: Int32? { resources.manager?.pid }
    /// The PostgreSQL server statelab started, if any.
    public var postgresPID: Int32? { resources.postgres?.pid }
    public var postgresDataDirectory: String? { resources.postgres?.dataDirectory }
    /// The shm segment (strategy shm), for `Supervisor+Locks`.
    var sharedMemory: SharedMemoryCounter? { resources.sharedMemory }

    /// Starts everything and returns once every worker answers on its private
    /// socket. On failure, everything started so far is stopped again.
    public static func start(_ config: AppConfig, log: @escaping @Sendable (String) -> Void = { _ in }) throws -> Supervisor {
        if let problem = config.problems().first { throw StoreError(problem) }
        if let reason = config.unavailability() { throw StoreError(reason) }
        let runDirectory = try config.placement.map { try RunDirectory.create(in: $0.control, name: "host-\($0.index + 1)") }
            ?? RunDirectory.create()
        do {
            // A namespaced host's port is free on its own stack: its workers bind it themselves.
            let holder = config.placement == nil ? try PortReservation(port: config.port, listen: config.listen) : nil
            // With reuseport the workers hold the port once they run; a shared
            // listener is the supervisor's until it stops.
            let sharedListener = config.listen == .shared ? holder : nil
            var handedOver = false
            defer { if !handedOver { holder?.release() } }
            let port = holder?.port ?? config.port
            var spec = WorkerSpec(strategy: config.strategy, mode: config.mode, port: port,
                                  raceWindowMicros: config.raceWindowMicros, storeThreads: config.storeThreads,
                                  runDirectory: runDirectory.path, idleTimeoutMillis: config.idleTimeoutMillis,
                                  requestHeadTimeoutMillis: config.requestHeadTimeoutMillis, listen: config.listen)
            if config.trace { spec.trace = true }
            if let placement = config.placement {
                spec.bindHost = "0.0.0.0"
                spec.hostAddress = placement.address
                spec.stateDirectory = HostPlacement.stateDirectory
            }
            let resources = try StrategyResources(config: config, runDirectory: runDirectory, spec: &spec, log: log)
            do {
                try spec.write()
            } catch {
                resources.stop()
                throw error
            }
            let supervisor = Supervisor(config: config, port: port, runDirectory: runDirectory,
                                        spec: spec, resources: resources, listener: sharedListener, log: log)
            handedOver = sharedListener != nil
            do {
                try supervisor.launchAll()
            } catch {
                supervisor.stop()
                throw error
            }
            supervisor.exits.start(supervisor)
            return supervisor
        } catch {
            runDirectory.remove()
            throw error
        }
    }

    private init(config: AppConfig, port: Int, runDirectory: RunDirectory, spec: WorkerSpec,
                 resources: StrategyResources, listener: PortReservation?, log: @escaping @Sendable (String) -> Void) {
        self.config = config
        self.port = port
        self.runDirectory = runDirectory
        self.spec = spec
        self.resources = resources
        self.listener = listener
        self.log = log
        self.state = NIOLockedValueBox([])
    }

    private func launchAll() throws {
        var started: [WorkerHandle] = []
        for index in 0..<config.workers {
            started.append(try spawnWorker(index))
            state.withLockedValue { $0 = started }
        }
        for worker in started { try waitReady(worker) }
    }

    private func spawnWorker(_ index: Int) throws -> WorkerHandle {
        let process = try ChildProcess.spawn(
            executable: config.executable,
            arguments: ["worker", "--spec", spec.specPath, "--index", String(index), "--parent-pid", String(getpid())],
            inherit: resources.inheritedDescriptors + (listener.map { [($0.fd, ListenMode.inheritedFD)] } ?? []),
            outputFile: spec.logPath(worker: index),
            options: SpawnOptions(namespaces: config.placement?.namespaces))
        return WorkerHandle(index: index, pid: process.pid, status: .restarting,
                            socketPath: spec.controlSocketPath(worker: index), process: process)
    }

    /// Bounded generously: four debug workers starting on a saturated 2-core machine took over 15 s.
    private func waitReady(_ worker: WorkerHandle, timeout: Double = 60) throws {
        let deadline = MonotonicClock.now() + UInt64(timeout * 1e9)
        while true {
            if let answer = try? ControlClient.request("GET", "/report", socketPath: worker.socketPath, timeout: 2),
               answer.status == 200 {
                setStatus(worker.index, .alive)
                return
            }
            if !worker.process.isRunning {
                let reason = LogTail.read(spec.logPath(worker: worker.index))
                throw StoreError("worker \(worker.index) exited at start\(reason.isEmpty ? "" : ": \(reason)")")
            }
            if MonotonicClock.now() > deadline {
                throw StoreError("worker \(worker.index) (pid \(worker.pid)) did not answer within \(Int(timeout))s")
            }
            usleepChecked(10_000)
        }
    }

    private func setStatus(_ index: Int, _ status: WorkerHandle.Status) {
        state.withLockedValue { $0[index].status = status }
    }

    var isStopped: Bool { stopped.withLockedValue { $0 } }

    /// Calls `handler` for each worker that exits without statelab asking it
    /// to, once the supervisor has restarted it (or failed to).
    public func observeExits(_ handler: @escaping @Sendable (WorkerExit) -> Void) { exits.observe(handler) }

    /// Restarts workers that died; returns one line per event. The exit watch
    /// calls it as soon as a worker exits; calling it again is harmless.
    @discardableResult
    public func monitor() -> [String] {
        restarting.withLock {
            guard !isStopped, !held.withLockedValue({ $0 }) else { return [] }
            var events: [String] = []
            for worker in workers where worker.status != .restarting && !worker.process.isRunning && !isStopped {
                let how = worker.process.exitCode.map { "exited with code \($0)" } ?? "was killed"
                let expected = exits.wasExpected(worker.pid)
                events.append("worker \(worker.index) (pid \(worker.pid)) \(how); restarting it")
                setStatus(worker.index, .dead)
                var exit = WorkerExit(index: worker.index, pid: worker.pid, newPid: nil, line: "")
                do {
                    let fresh = try spawnWorker(worker.index)
                    state.withLockedValue { $0[worker.index] = fresh }
                    try waitReady(fresh)
                    events.append("worker \(worker.index) is back as pid \(fresh.pid)")
                    exit.newPid = fresh.pid
                    exit.line = "worker \(worker.index) (pid \(worker.pid)) \(how); the supervisor restarted it as pid \(fresh.pid)"
                } catch {
                    // Marked dead, not restarting, so the next pass tries again.
                    setStatus(worker.index, .dead)
                    events.append("worker \(worker.index) could not restart: \(error)")
                    exit.line = "worker \(worker.index) (pid \(worker.pid)) \(how) and could not be restarted: \(error)"
                }
                if !expected { exits.report(exit) }
            }
            events.forEach(log)
            return events
        }
    }

    /// Kills one worker with SIGKILL (the monitor restarts it).
    public func kill(worker index: Int) {
        guard let worker = workers.first(where: { $0.index == index }) else { return }
        exits.expect(worker.pid)
        worker.process.send(SIGKILL)
        worker.process.wait(timeout: 5)
        setStatus(index, .dead)
        log("killed worker \(index) (pid \(worker.pid)) with SIGKILL")
    }

    /// Stops one worker with SIGTERM (SIGKILL after 3 s) and starts a new one
    /// in its place; returns the new pid once it answers.
    @discardableResult
    public func restart(worker index: Int) throws -> Int32 {
        try restarting.withLock { try restartLocked(worker: index) }
    }

    private func restartLocked(worker index: Int) throws -> Int32 {
        guard let worker = workers.first(where: { $0.index == index }) else { throw StoreError("no worker \(index)") }
        setStatus(index, .restarting)
        exits.expect(worker.pid)
        worker.process.send(SIGCONT)  // a paused worker would never see the SIGTERM
        worker.process.stop(grace: 3)
        do {
            return try respawn(index, replacing: worker, why: "restarted")
        } catch {
            // Dead, not restarting: the monitor tries again.
            setStatus(index, .dead)
            throw error
        }
    }

    /// Stops every worker (SIGTERM, SIGKILL after 3 s) and starts them all
    /// again; the store is left alone. Returns each worker's old and new pid.
    @discardableResult
    public func restartApp() throws -> [(index: Int, old: Int32, new: Int32)] {
        try restarting.withLock { try restartAppLocked() }
    }

    /// SIGKILL to every worker at once, as when their host goes down. They
    /// stay down (the exit watch leaves them) until `restartApp()`. Returns their pids.
    @discardableResult
    public func killAll() -> [Int32] {
        restarting.withLock {
            held.withLockedValue { $0 = true }
            let all = workers
            for worker in all {
                exits.expect(worker.pid)
                worker.process.send(SIGKILL)
            }
            for worker in all {
                worker.process.wait(timeout: 5)
                setStatus(worker.index, .dead)
            }
            log("killed every worker (\(all.map { "pid \($0.pid)" }.joined(separator: ", "))) with SIGKILL; they stay down")
            return all.map(\.pid)
        }
    }

    /// Whether `killAll` took the workers down and nothing has started them since.
    public var isHeldDown: Bool { held.withLockedValue { $0 } }

    private func restartAppLocked() throws -> [(index: Int, old: Int32, new: Int32)] {
        held.withLockedValue { $0 = false }
        let old = workers
        for worker in old {
            setStatus(worker.index, .restarting)
            exits.expect(worker.pid)
        }
        for worker in old {
            worker.process.send(SIGTERM)
            worker.process.send(SIGCONT)
        }
        for worker in old { worker.process.stop(grace: 3) }
        log("stopped every worker (\(old.map { "pid \($0.pid)" }.joined(separator: ", "))); starting them again")
        var fresh: [WorkerHandle] = []
        do {
            for worker in old {
                let started = try spawnWorker(worker.index)
                state.withLockedValue { $0[worker.index] = started }
                fresh.append(started)
            }
            for worker in fresh { try waitReady(worker) }
        } catch {
            // Dead, not restarting: the monitor tries again (a live one is restarted after it dies).
            for worker in old where workers.first(where: { $0.index == worker.index })?.status != .alive {
                setStatus(worker.index, .dead)
            }
            throw error
        }
        return zip(old, fresh).map { ($0.index, $0.pid, $1.pid) }
    }

    private func respawn(_ index: Int, replacing old: WorkerHandle, why: String) throws -> Int32 {
        let fresh = try spawnWorker(index)
        state.withLockedValue { $0[index] = fresh }
        try waitReady(fresh)
        log("worker \(index) (pid \(old.pid)) \(why); back as pid \(fresh.pid)")
        return fresh.pid
    }

    /// SIGSTOP (pause) or SIGCONT (resume) one worker; returns its pid. A
    /// pause returns once every thread of the worker has stopped (at most 2 s).
    @discardableResult
    public func pause(worker index: Int, _ paused: Bool) throws -> Int32 {
        guard let worker = workers.first(where: { $0.index == index }) else { throw StoreError("no worker \(index)") }
        worker.process.send(paused ? SIGSTOP : SIGCONT)
        if paused {
            let deadline = MonotonicClock.now() + 2_000_000_000
            while !ProcessTree.isStopped(worker.pid) {
                guard MonotonicClock.now() < deadline, worker.process.isRunning else {
                    worker.process.send(SIGCONT)  // never left half-stopped
                    throw StoreError("worker \(index) (pid \(worker.pid)) did not stop within 2 s of SIGSTOP")
                }
                usleepChecked(200)
            }
        }
        log("\(paused ? "paused" : "resumed") worker \(index) (pid \(worker.pid)) with \(paused ? "SIGSTOP" : "SIGCONT")")
        return worker.pid
    }

    /// SIGKILLs the store's process (manager, redis-server, postgres); the
    /// workers answer 503 until `restartStore()`. Throws, with the reason, for
    /// a store with no process of statelab's.
    @discardableResult
    public func killStore() throws -> Int32 {
        let pid = try resources.killStore()
        log("killed the \(config.strategy.rawValue) store (pid \(pid)) with SIGKILL")
        return pid
    }

    /// Starts the store's process again on the same socket, port or data directory.
    @discardableResult
    public func restartStore() throws -> Int32 {
        let pid = try resources.restartStore()
        log("restarted the \(config.strategy.rawValue) store as pid \(pid)")
        return pid
    }

    /// Why this app's store cannot be killed or restarted; nil when it can.
    public var storeProcessProblem: String? { resources.storeProcessProblem }

    /// Reads every worker through its private socket.
    public func readAll(timeout: Double = 5) -> [ReadRecord] {
        workers.compactMap { worker in
            let start = MonotonicClock.now()
            guard let answer = try? ControlClient.request("GET", "/report", socketPath: worker.socketPath, timeout: timeout),
                  answer.status == 200, let count = answer.count
            else { return nil }
            return ReadRecord(pid: answer.pid ?? worker.pid, worker: worker.index, value: count,
                              start: start, end: MonotonicClock.now(), retries: answer.retries)
        }
    }

    /// POST /reset through one worker.
    public func reset(through index: Int) throws -> ResetRecord {
        guard let worker = workers.first(where: { $0.index == index }) else {
            throw StoreError("no worker \(index)")
        }
        let start = MonotonicClock.now()
        let answer = try ControlClient.request("POST", "/reset", socketPath: worker.socketPath)
        guard answer.status == 200 else {
            throw StoreError("reset through worker \(index) failed: \(answer.error ?? "HTTP \(answer.status)")")
        }
        return ResetRecord(pid: worker.pid, start: start, end: MonotonicClock.now())
    }

    /// Stops every worker and helper process by pid and removes the run directory. Idempotent.
    public func stop() {
        let first = stopped.withLockedValue { done in defer { done = true }; return !done }
        guard first else { return }
        let all = workers
        all.forEach { $0.process.send(SIGTERM) }
        // A paused worker (pause_worker) acts on its SIGTERM only once it runs again.
        all.forEach { $0.process.send(SIGCONT) }
        all.forEach { $0.process.stop(grace: 3) }
        exits.join()
        // A restart that was under way when the stop came started a worker after the list above was taken.
        restarting.withLock {
            for late in workers where !all.contains(where: { $0.pid == late.pid }) { late.process.stop(grace: 3) }
        }
        listener?.release()
        resources.stop()
        runDirectory.remove()
    }

    deinit { stop() }
}
