import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The user's own app, launched from a shell command for one run.
///
/// statelab → `statelab guard` → `/bin/sh -c COMMAND` in a process group of
/// its own. The guard stops the whole group when statelab stops it or dies
/// (see `ProcessGuard`); `stop()` does so on every normal exit path and
/// SIGKILLs the group itself as a backstop. The command's output goes to a
/// log in a private run directory, whose tail explains a failed start.
public final class LaunchedApp: @unchecked Sendable {
    public enum ProcessStatus: Sendable, Equatable { case alive, gone }

    public let spec: CommandSpec
    /// The shell line as run, placeholders replaced.
    public let commandLine: String
    public let port: Int
    /// Where it listens: 127.0.0.1, or its host's address on a --hosts network.
    public let address: String
    /// The namespaced host it runs on (`--hosts`); nil: this machine.
    public let placement: HostPlacement?
    /// The command's process group: the shell's pid.
    public let groupID: pid_t
    public var guardPID: pid_t { guardProcess.pid }
    /// The Redis the command was given through {redis_url}, if it used one.
    public let redisURL: String?

    private let guardProcess: ChildProcess
    private let runDirectory: RunDirectory
    private let redis: RedisServerProcess?
    private let postgres: PostgresServerProcess?
    private let lock = NSLock()
    private var stopped = false

    /// Seconds the command's group has to exit after SIGTERM before SIGKILL.
    static let stopGrace = 5.0

    private init(spec: CommandSpec, commandLine: String, port: Int, groupID: pid_t, redisURL: String?,
                 guardProcess: ChildProcess, runDirectory: RunDirectory, redis: RedisServerProcess?,
                 postgres: PostgresServerProcess?, placement: HostPlacement?) {
        self.placement = placement
        self.address = placement?.address ?? "127.0.0.1"
        self.spec = spec
        self.commandLine = commandLine
        self.port = port
        self.groupID = groupID
        self.redisURL = redisURL
        self.guardProcess = guardProcess
        self.runDirectory = runDirectory
        self.redis = redis
        self.postgres = postgres
    }

    deinit { stop() }

    var logPath: String { runDirectory.path + "/app.log" }

    // MARK: Starting

    /// Launches the command and returns once GET `spec.readyPath` answers 2xx.
    /// Blocks (up to `spec.readyTimeout`); `cancelled` is asked while it
    /// waits, and a true answer stops everything and throws CancellationError.
    /// `executable` is the statelab binary that runs the guard.
    /// With `placement` it runs on that namespaced host, on port 8000 of the
    /// host's own stack ({host} is the host's address); the servers it asks
    /// for must then be given (the store host's).
    public static func start(_ spec: CommandSpec, executable: String = ChildProcess.currentExecutable,
                             redisURL: String? = nil, postgresURL: String? = nil, placement: HostPlacement? = nil,
                             cancelled: @Sendable () -> Bool = { false }) throws -> LaunchedApp {
        // Bad input is told before anything starts.
        _ = try spec.substituted(port: 0, redisURL: redisURL)
        if let cwd = spec.cwd {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: cwd, isDirectory: &isDirectory) else {
                throw StoreError("the app directory \(cwd) does not exist; name the directory to run the command in")
            }
            guard isDirectory.boolValue else {
                throw StoreError("the app directory \(cwd) is a file, not a directory; name the directory that holds it")
            }
        }
        let directory = try placement.map { try RunDirectory.create(in: $0.control, name: "host-\($0.index + 1)") }
            ?? RunDirectory.create()
        var redis: RedisServerProcess?
        var postgres: PostgresServerProcess?
        var guardProcess: ChildProcess?
        func abandon() {
            guardProcess?.stop(grace: stopGrace + 5)
            redis?.stop()
            postgres?.stop()
            directory.remove()
        }
        let launched: (line: String, port: Int, group: pid_t, redisURL: String?)
        // The app's ready timeout starts once the servers it asked for are up (initdb takes seconds).
        var deadline = MonotonicClock.now() + UInt64(max(spec.readyTimeout, 0) * 1e9)
        do {
            var url = redisURL
            if url == nil, spec.placeholdersUsed.contains("redis_url") {
                let server = try RedisServerProcess.launch(in: directory.path)
                redis = server
                url = server.url.description
            }
            var databaseURL = postgresURL
            if databaseURL == nil, spec.placeholdersUsed.contains("postgres_url") {
                let server = try PostgresServerProcess.launch(in: directory.path)
                postgres = server
                databaseURL = server.url.secretText
            }
            deadline = MonotonicClock.now() + UInt64(max(spec.readyTimeout, 0) * 1e9)
            // A namespaced host's port is free on its own stack.
            let reservation = placement == nil ? try PortReservation(port: 0) : nil
            let port = reservation?.port ?? HostPlacement.appPort
            let host = placement?.address ?? "127.0.0.1"
            let line = try spec.substituted(port: port, redisURL: url, runDirectory: directory.path,
                                            postgresURL: databaseURL, host: host)
            var environment = ProcessInfo.processInfo.environment
            environment.merge(spec.environment(port: port, redisURL: url, runDirectory: directory.path,
                                               postgresURL: databaseURL, host: host)) { $1 }
            let groupFile = directory.path + "/group"
            var arguments = ["guard", "--grace", String(stopGrace), "--parent-pid", String(getpid()), "--group-file", groupFile]
            if let cwd = spec.cwd { arguments += ["--cwd", cwd] }
            arguments += ["--", "/bin/sh", "-c", line]
            // The port is free from here until the command binds it.
            reservation?.release()
            guardProcess = try ChildProcess.spawn(executable: executable, arguments: arguments, environment: environment,
                                                  outputFile: directory.path + "/app.log",
                                                  options: SpawnOptions(namespaces: placement?.namespaces))
            let group = try waitForGroup(file: groupFile, guardProcess: guardProcess!, deadline: deadline,
                                         spec: spec, log: directory.path + "/app.log")
            launched = (line, port, group, url)
        } catch {
            abandon()
            throw error
        }
        let app = LaunchedApp(spec: spec, commandLine: launched.line, port: launched.port, groupID: launched.group,
                              redisURL: launched.redisURL, guardProcess: guardProcess!, runDirectory: directory, redis: redis,
                              postgres: postgres, placement: placement)
        try app.waitUntilReady(deadline: deadline, cancelled: cancelled)
        return app
    }

    /// The group id the guard writes once the command started.
    private static func waitForGroup(file: String, guardProcess: ChildProcess, deadline: UInt64,
                                     spec: CommandSpec, log: String) throws -> pid_t {
        while true {
            if let text = try? String(contentsOfFile: file, encoding: .utf8),
               let group = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), group > 0 {
                return group
            }
            if guardProcess.poll() != nil {
                throw StoreError(failure(spec, Self.exitText(guardProcess), tail: tail(of: log, lines: 10)))
            }
            guard MonotonicClock.now() < deadline else {
                throw StoreError(failure(spec, "did not start within \(ReportNumbers.plain(spec.readyTimeout) ?? "\(spec.readyTimeout)") s",
                                         tail: tail(of: log, lines: 10)))
            }
            usleepChecked(10_000)
        }
    }

    private func waitUntilReady(deadline: UInt64, cancelled: @Sendable () -> Bool) throws {
        var last = "no answer yet"
        var answeredAt: UInt64?
        while true {
            if cancelled() {
                stop()
                throw CancellationError()
            }
            if guardProcess.poll() != nil {
                let what = Self.exitText(guardProcess) + " before GET \(spec.readyPath) on \(address):\(port) answered"
                let message = Self.failure(spec, what, tail: outputTail(lines: 10))
                stop()
                throw StoreError(message)
            }
            let now = MonotonicClock.now()
            guard now < deadline else {
                let seconds = ReportNumbers.plain(spec.readyTimeout) ?? "\(spec.readyTimeout)"
                var what = "was not ready within \(seconds) s: GET \(spec.readyPath) on \(address):\(port) gave \(last)"
                if placement != nil {
                    what += " (on a --hosts host the app must listen on its host's address: --host {host} or 0.0.0.0, not 127.0.0.1)"
                }
                let message = Self.failure(spec, what, tail: outputTail(lines: 10))
                stop()
                throw StoreError(message)
            }
            let remaining = Double(deadline - now) / 1e9
            switch ReadyProbe.status(host: address, port: port, path: spec.readyPath, timeout: min(2, max(remaining, 0.05))) {
            case .success(let code) where (200..<300).contains(code):
                // Ready once /proc shows a worker too: reads and kills go by the workers found there. A
                // server /proc cannot see (in a container) gets 2 s, then runs with its workers unknown.
                let now = MonotonicClock.now()
                answeredAt = answeredAt ?? now
                if !workerPids().isEmpty || now - answeredAt! > 2_000_000_000 { return }
                last = "HTTP \(code), but no process of the command's group holds a socket listening on port \(port) yet"
            case .success(let code) where code == 404 || code == 405:
                // The app answers, so it started: waiting will not make the path appear.
                let message = "the app command `\(spec.command)` answered GET \(spec.readyPath) with HTTP \(code) "
                    + (code == 404 ? "(no such path)" : "(method not allowed)")
                    + "; name a path it serves with GET, e.g. --ready-path / (in a scenario: ready: {path: /})"
                stop()
                throw StoreError(message)
            case .success(let code):
                last = "HTTP \(code)"
            case .failure(let error):
                last = error.message
            }
            usleepChecked(50_000)
        }
    }

    /// One line: the command, what happened, and the end of its output.
    private static func failure(_ spec: CommandSpec, _ what: String, tail: String) -> String {
        let output = tail.isEmpty
            ? "; it printed nothing"
            : "; its output ends with: " + tail.split(separator: "\n").joined(separator: " | ")
        return "the app command `\(spec.command)` \(what)\(output)"
    }

    /// How the guard ended: it exits with the command's own status.
    private static func exitText(_ guardProcess: ChildProcess) -> String {
        guard let status = guardProcess.poll() else { return "is still running" }
        if (status & 0x7f) != 0 { return "was stopped by signal \(status & 0x7f)" }
        let code = (status >> 8) & 0xff
        switch code {
        case 125: return "could not be started"
        case 124: return "could not join its host's namespaces (statelab's --hosts network)"
        case 129...159: return "exited on signal \(code - 128)"
        default: return "exited with code \(code)"
        }
    }

    // MARK: The running app

    /// The workers serving the port: processes of the command's group holding
    /// its listening socket, a pre-fork master left out (see `ProcessTree`).
    public func workerPids() -> [Int32] {
        ProcessTree.workers(ofGroup: groupID, port: port, inNamespaceOf: placement?.namespaces.holder.pid)
    }

    /// Every live process of the command's group.
    public func groupPids() -> [Int32] {
        ProcessTree.members(ofGroup: groupID).map(\.pid).sorted()
    }

    /// Alive while `pid` runs in the command's process group.
    public func status(of pid: Int32) -> ProcessStatus {
        guard let entry = ProcessTree.entry(of: pid), entry.group == groupID, entry.isLive else { return .gone }
        return .alive
    }

    /// SIGKILL to one process of the command's group; any other pid is refused.
    public func kill(pid: Int32) throws {
        guard pid > 0, let entry = ProcessTree.entry(of: pid), entry.isLive else {
            throw StoreError("pid \(pid) is not running")
        }
        guard entry.group == groupID else {
            throw StoreError("pid \(pid) is not in the app command's process group \(groupID); statelab kills only processes it launched")
        }
        guard Glibc.kill(pid, SIGKILL) == 0 else {
            throw StoreError("kill -9 \(pid): \(String(cString: strerror(errno)))")
        }
    }

    /// The last `lines` non-empty lines the command (and the guard) printed.
    public func outputTail(lines: Int) -> String {
        Self.tail(of: logPath, lines: lines)
    }

    static func tail(of path: String, lines: Int) -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { return "" }
        defer { try? handle.close() }
        // An app that logs every request can write megabytes: read the end only.
        let size = (try? handle.seekToEnd()) ?? 0
        try? handle.seek(toOffset: size > 65_536 ? size - 65_536 : 0)
        let data = (try? handle.readToEnd()) ?? Data()
        let text = String(decoding: data, as: UTF8.self)
        return text.split(separator: "\n").suffix(max(lines, 0)).joined(separator: "\n")
    }

    // MARK: Stopping

    /// Stops the command's whole group through the guard (SIGTERM, then
    /// SIGKILL after the grace period), SIGKILLs the guard and the group as a
    /// backstop, stops a Redis it started and removes the run directory.
    /// Idempotent; bounded (about 20 s at worst).
    public func stop() {
        lock.lock()
        let first = !stopped
        stopped = true
        lock.unlock()
        guard first else { return }
        guardProcess.send(SIGTERM)
        let guardFinished = guardProcess.wait(timeout: Self.stopGrace + 5)
        if !guardFinished {
            guardProcess.send(SIGKILL)
            guardProcess.wait(timeout: 5)
        }
        // Only when the guard could not finish (a guard that exited emptied the group first, and
        // by now its id may belong to someone else): the id is not reused while a member is alive.
        if !guardFinished, !ProcessTree.members(ofGroup: groupID).isEmpty {
            Glibc.kill(-groupID, SIGKILL)
            let deadline = MonotonicClock.now() + 5_000_000_000
            while MonotonicClock.now() < deadline, !ProcessTree.members(ofGroup: groupID).isEmpty {
                usleepChecked(20_000)
            }
        }
        redis?.stop()
        postgres?.stop()
        runDirectory.remove()
    }
}
