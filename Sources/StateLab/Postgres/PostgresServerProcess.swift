import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// How statelab runs the PostgreSQL server it starts.
public struct PostgresServerSettings: Sendable, Equatable, Codable {
    /// fsync=off is a demo setting: commits do not wait for the disk. It makes no
    /// difference to what survives a kill of the server (the page cache keeps
    /// it), only to what survives a crash of the machine.
    public var fsync: Bool
    /// The server's max_connections: at least every worker's pool, plus room.
    public var maxConnections: Int

    public init(fsync: Bool = false, maxConnections: Int = 100) {
        self.fsync = fsync
        self.maxConnections = maxConnections
    }
}

/// A private PostgreSQL server that statelab starts for one run, from the
/// installed binaries (Debian: /usr/lib/postgresql/VERSION/bin): a fresh
/// cluster made by initdb in a 0700 directory, listening on a free loopback
/// port with its Unix socket in the same directory, password authentication
/// (scram-sha-256) with a random password.
///
/// PostgreSQL refuses to run as root: as root, initdb and postgres run as the
/// `postgres` system user, which owns the server's directory; the parent
/// directory is opened for traversal only (0711).
///
/// Its parent-death signal is SIGINT, PostgreSQL's fast shutdown: when
/// statelab dies, even by `kill -9`, the server ends its sessions, removes its
/// System V interlock segment and exits. Its dynamic shared memory is
/// `mmap`ed files in the data directory, so nothing appears in /dev/shm. The
/// directory goes with `stop()`, or with the next run's sweep of the run
/// directory it lives in.
public final class PostgresServerProcess: @unchecked Sendable {
    public var host: String { placement.host }
    /// Where it runs: loopback, or the store host of `--hosts` (which then lets that network's hosts in).
    public let placement: ServerPlacement
    public let port: Int
    public let directory: String
    public let url: PostgresURL
    /// The user the server runs as when statelab is root ("postgres"); nil when it runs as statelab's user.
    public let systemUser: String?
    private let child: ChildProcess
    private let lock = NSLock()
    private var stopped = false

    public var pid: pid_t { child.pid }
    public var dataDirectory: String { directory + "/data" }
    public var logFile: String { directory + "/postgres.log" }
    public var isRunning: Bool { child.isRunning }

    /// initdb took about 1.6 s here; a saturated machine can take many times that.
    public static let initTimeout = 120.0
    /// How long `launch()` waits for the server to accept connections.
    public static let startTimeout = 60.0
    /// A port picked free can be taken before the server binds it: try again on a new one.
    public static let startAttempts = 3
    /// Fast shutdown normally takes well under a second.
    public static let stopGrace = 10.0
    /// The role and database initdb creates.
    public static let superuser = "statelab"

    /// How to start it again on the same cluster (`restarted()`).
    private var relaunch: (postgres: String, account: (name: String, uid: uid_t, gid: gid_t)?, settings: PostgresServerSettings)?

    private init(port: Int, directory: String, url: PostgresURL, systemUser: String?, placement: ServerPlacement,
                 child: ChildProcess) {
        self.placement = placement
        self.port = port
        self.directory = directory
        self.url = url
        self.systemUser = systemUser
        self.child = child
    }

    deinit { stop() }

    // MARK: - Finding PostgreSQL

    /// initdb and postgres: the newest version under /usr/lib/postgresql (Debian,
    /// Ubuntu), else the first on PATH.
    public static func binaries() -> (initdb: String, postgres: String)? {
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [])
            .sorted { (Double($0) ?? 0) > (Double($1) ?? 0) }
        for version in versions {
            let bin = "\(root)/\(version)/bin"
            if access(bin + "/initdb", X_OK) == 0 && access(bin + "/postgres", X_OK) == 0 {
                return (bin + "/initdb", bin + "/postgres")
            }
        }
        if let initdb = ChildProcess.which("initdb"), let postgres = ChildProcess.which("postgres") {
            return (initdb, postgres)
        }
        return nil
    }

    /// The unprivileged user to run the server as when statelab runs as root.
    static func systemAccount() -> (name: String, uid: uid_t, gid: gid_t)? {
        guard let entry = getpwnam("postgres") else { return nil }
        return ("postgres", entry.pointee.pw_uid, entry.pointee.pw_gid)
    }

    /// nil when a server can be started here; otherwise one line saying how to fix it.
    public static func availability() -> String? {
        guard binaries() != nil else {
            return "PostgreSQL not found (no initdb and postgres in /usr/lib/postgresql/*/bin or on PATH): install postgresql (apt-get install -y postgresql) or pass --postgres-url postgres://user:password@127.0.0.1:5432/db"
        }
        if getuid() == 0 && systemAccount() == nil {
            return "PostgreSQL refuses to run as root and there is no postgres user to run it as: install Debian's postgresql package (it creates the user), run statelab as another user, or pass --postgres-url"
        }
        return nil
    }

    // MARK: - Starting

    /// Makes a cluster and starts the server; returns once it accepts
    /// connections and the counter table is ready. Its directory goes under
    /// `parent` (a run directory, so a sweep after `kill -9` removes it too),
    /// or the temp dir. `log` gets one line when the server runs as another user.
    public static func launch(in parent: String? = nil, settings: PostgresServerSettings = PostgresServerSettings(),
                              placement: ServerPlacement = .loopback,
                              log: (String) -> Void = { _ in }) throws -> PostgresServerProcess {
        if let reason = availability() { throw StoreError(reason) }
        guard let (initdb, postgres) = binaries() else { throw StoreError("PostgreSQL not found") }
        let account = getuid() == 0 ? systemAccount() : nil
        let directory = try makeDirectory(in: parent, owner: account)
        do {
            let password = randomPassword()
            try initCluster(initdb: initdb, directory: directory, password: password, account: account)
            if let clients = placement.clients {
                // The hosts of statelab's own network connect from their addresses, not from loopback.
                let hba = directory + "/data/pg_hba.conf"
                guard let handle = FileHandle(forWritingAtPath: hba) else { throw StoreError("cannot open \(hba)") }
                handle.seekToEndOfFile()
                handle.write(Data("host all all \(clients) scram-sha-256\n".utf8))
                handle.closeFile()
            }
            if let account {
                log("PostgreSQL refuses to run as root: statelab runs initdb and postgres as the \(account.name) user (\(directory) is theirs)")
            }
            var failures: [String] = []
            for _ in 0..<startAttempts {
                let port = try RedisServerProcess.freeLoopbackPort()
                do {
                    let server = try start(postgres: postgres, directory: directory, port: port, password: password,
                                           account: account, settings: settings, placement: placement)
                    do {
                        try PostgresCounterTable.prepare(url: server.url, timeout: 10)
                    } catch {
                        server.stop()
                        throw error
                    }
                    return server
                } catch let failure as StartFailure {
                    guard failure.portTaken else { throw StoreError(failure.message) }
                    failures.append(failure.message)
                }
            }
            throw StoreError("postgres failed to start \(startAttempts) times; last attempt: \(failures.last ?? "?")")
        } catch {
            removeDirectory(directory)
            throw error
        }
    }

    private struct StartFailure: Error, CustomStringConvertible {
        var description: String { message }
        var message: String
        var portTaken: Bool
    }

    /// A new 0700 directory for the server, owned by `owner` when given. Its
    /// parent becomes traversable (0711) for that user, so it can reach it.
    private static func makeDirectory(in parent: String?, owner: (name: String, uid: uid_t, gid: gid_t)?) throws -> String {
        let base = parent ?? ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array((base + "/statelab-postgres-XXXXXX").utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            throw StoreError("cannot create a directory for postgres in \(base): \(String(cString: strerror(errno)))")
        }
        let directory = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        if let owner {
            guard chown(directory, owner.uid, owner.gid) == 0 else {
                let reason = String(cString: strerror(errno))
                removeDirectory(directory)
                throw StoreError("cannot give \(directory) to the \(owner.name) user: \(reason)")
            }
            if let parent, chmod(parent, 0o711) != 0 {
                let reason = String(cString: strerror(errno))
                removeDirectory(directory)
                throw StoreError("cannot let the \(owner.name) user traverse \(parent): \(reason)")
            }
            if let closed = firstClosedAncestor(of: directory, for: owner) {
                removeDirectory(directory)
                throw StoreError("PostgreSQL runs as the \(owner.name) user, which cannot enter \(closed); set TMPDIR to a directory it can traverse (like /tmp)")
            }
        }
        return directory
    }

    /// The first directory above `path` that `owner` may not pass through
    /// (no search permission for it as owner, group or other), or nil.
    private static func firstClosedAncestor(of path: String, for owner: (name: String, uid: uid_t, gid: gid_t)) -> String? {
        var current = (path as NSString).deletingLastPathComponent
        while !current.isEmpty {
            var info = stat()
            if stat(current, &info) == 0 {
                let mode = info.st_mode
                let passes = info.st_uid == owner.uid ? mode & S_IXUSR != 0
                    : info.st_gid == owner.gid ? mode & S_IXGRP != 0
                    : mode & S_IXOTH != 0
                if !passes { return current }
            }
            if current == "/" { break }
            current = (current as NSString).deletingLastPathComponent
        }
        return nil
    }

    private static func initCluster(initdb: String, directory: String, password: String,
                                    account: (name: String, uid: uid_t, gid: gid_t)?) throws {
        let passwordFile = directory + "/password"
        let fd = open(passwordFile, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StoreError("cannot write \(passwordFile): \(String(cString: strerror(errno)))") }
        let bytes = Array((password + "\n").utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if let account { fchown(fd, account.uid, account.gid) }
        close(fd)
        defer { unlink(passwordFile) }
        guard written == bytes.count else { throw StoreError("cannot write \(passwordFile)") }

        let logFile = directory + "/initdb.log"
        let process = try ChildProcess.spawn(
            executable: initdb,
            arguments: ["-D", directory + "/data", "-U", superuser, "--pwfile=" + passwordFile,
                        "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions"],
            environment: serverEnvironment(),
            outputFile: logFile,
            options: SpawnOptions(user: account.map { ($0.uid, $0.gid) }, directory: directory))
        guard process.wait(timeout: initTimeout) else {
            process.stop(grace: 1)
            throw StoreError("initdb did not finish within \(Int(initTimeout)) s; its log ends with: \(LogTail.read(logFile, lines: 3))")
        }
        guard process.exitCode == 0 else {
            let hint = process.exitCode == 125
                ? " (it could not switch to the \(account?.name ?? "server") user or enter \(directory): can that user traverse its parents?)"
                : ""
            throw StoreError("initdb failed\(hint): \(LogTail.read(logFile, lines: 3))")
        }
    }

    /// What the server's processes see: no PG* variables of the caller's, a neutral locale.
    private static func serverEnvironment() -> [String: String] {
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("PG") }
        environment["LC_ALL"] = "C"
        return environment
    }

    private static func start(postgres: String, directory: String, port: Int, password: String,
                              account: (name: String, uid: uid_t, gid: gid_t)?,
                              settings: PostgresServerSettings, placement: ServerPlacement) throws -> PostgresServerProcess {
        let logFile = directory + "/postgres.log"
        let child = try ChildProcess.spawn(
            executable: postgres,
            arguments: [
                "-D", directory + "/data", "-h", placement.host, "-p", String(port),
                // TCP only: a Unix socket path under a long TMPDIR could pass the 107-byte limit.
                "-c", "unix_socket_directories=",
                "-c", "fsync=\(settings.fsync ? "on" : "off")",
                "-c", "dynamic_shared_memory_type=mmap",
                "-c", "max_connections=\(settings.maxConnections)",
                "-c", "logging_collector=off",
            ],
            environment: serverEnvironment(),
            outputFile: logFile,
            options: SpawnOptions(deathSignal: SIGINT, user: account.map { ($0.uid, $0.gid) }, directory: directory,
                                  namespaces: placement.namespaces))
        let url = PostgresURL(host: placement.host, port: port, user: superuser, password: password, database: "postgres")
        let server = PostgresServerProcess(port: port, directory: directory, url: url, systemUser: account?.name,
                                           placement: placement, child: child)
        server.relaunch = (postgres, account, settings)
        if let problem = waitReady(server) {
            let log = LogTail.read(logFile, lines: 3)
            let whole = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""
            // Keeps the cluster for the next attempt: only the process goes.
            server.discard()
            // The log is the whole cluster's: truncate it so the next attempt's tail is its own.
            truncate(logFile, 0)
            let taken = whole.contains("could not bind") || whole.contains("Address already in use")
                || whole.contains("could not create any TCP/IP sockets")
            throw StartFailure(message: "postgres on \(placement.host):\(port) \(problem)\(log.isEmpty ? "" : "; its log ends with: \(log)")",
                               portTaken: taken)
        }
        return server
    }

    /// nil once postmaster.pid says "ready"; otherwise why it did not.
    private static func waitReady(_ server: PostgresServerProcess) -> String? {
        let deadline = MonotonicClock.now() + UInt64(startTimeout * 1e9)
        while MonotonicClock.now() < deadline {
            if let status = server.child.poll() {
                let how = (status & 0x7f) == 0 ? "with code \((status >> 8) & 0xff)" : "on signal \(status & 0x7f)"
                return "exited during startup \(how)"
            }
            if PostmasterPID(dataDirectory: server.dataDirectory)?.status == "ready" { return nil }
            usleepChecked(20_000)
        }
        return "was not ready within \(Int(startTimeout)) s"
    }

    private static func randomPassword() -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        var generator = SystemRandomNumberGenerator()
        return String((0..<32).map { _ in alphabet[Int(generator.next(upperBound: UInt(alphabet.count)))] })
    }

    // MARK: - Faults

    /// SIGKILL of the postmaster, as a crash would. Its backends notice and
    /// exit; the cluster stays, with everything it committed.
    public func kill() {
        child.send(SIGKILL)
        child.wait(timeout: 10)
    }

    /// The server again, on this one's cluster and port (after `kill()`). It
    /// waits (bounded) for the killed server's backends to leave its shared
    /// memory, which PostgreSQL requires, then recovers from its WAL.
    public func restarted() throws -> PostgresServerProcess {
        guard let relaunch, let password = url.password else { throw StoreError("postgres: no way to start this server again") }
        lock.lock()
        stopped = true  // the directory is the new server's now
        lock.unlock()
        child.stop(signal: SIGKILL, grace: 0)
        let deadline = MonotonicClock.now() + 30_000_000_000
        while Self.segmentInUse(dataDirectory: dataDirectory), MonotonicClock.now() < deadline {
            usleepChecked(20_000)
        }
        let logFile = directory + "/postgres.log"
        truncate(logFile, 0)
        do {
            return try Self.start(postgres: relaunch.postgres, directory: directory, port: port, password: password,
                                  account: relaunch.account, settings: relaunch.settings, placement: placement)
        } catch let failure as StartFailure {
            throw StoreError("postgres did not start again: \(failure.message)")
        }
    }

    /// Whether the System V segment named in postmaster.pid still has processes attached.
    static func segmentInUse(dataDirectory: String) -> Bool {
        guard let id = PostmasterPID(dataDirectory: dataDirectory)?.segment?.id else { return false }
        var info = shmid_ds()
        return shmctl(id, IPC_STAT, &info) == 0 && info.shm_nattch > 0
    }

    // MARK: - Stopping

    /// Fast shutdown (SIGINT), SIGKILL after `stopGrace`; then removes a System V
    /// segment a killed server left and the directory. Idempotent.
    public func stop() {
        lock.lock(); defer { lock.unlock() }
        guard !stopped else { return }
        stopped = true
        stopProcess()
        Self.removeDirectory(directory)
    }

    private func stopProcess() {
        child.stop(signal: SIGINT, grace: Self.stopGrace)
        Self.removeLeftoverSegment(dataDirectory: dataDirectory)
    }

    /// Stops the process of a failed start and leaves the directory (the
    /// cluster) for the next attempt; `stop()` and deinit do nothing after it.
    private func discard() {
        lock.lock(); defer { lock.unlock() }
        guard !stopped else { return }
        stopped = true
        stopProcess()
    }

    /// A server that had no chance to shut down leaves postmaster.pid, which
    /// names its System V interlock segment.
    static func removeLeftoverSegment(dataDirectory: String) {
        guard let (key, id) = PostmasterPID(dataDirectory: dataDirectory)?.segment else { return }
        // Our server is reaped; backends it left may still be attached, and the
        // kernel frees the segment when the last one detaches. Check the key, so
        // that a reused id of someone else's segment is left alone.
        var info = shmid_ds()
        guard shmctl(id, IPC_STAT, &info) == 0, Int(info.shm_perm.__key) == key else { return }
        shmctl(id, IPC_RMID, nil)
    }

    static func removeDirectory(_ directory: String) {
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// A running (or killed) server's `postmaster.pid`: its pid, data directory,
/// start time, port, socket directory, listen address, "KEY ID" of its
/// System V segment and its status, one per line.
public struct PostmasterPID: Sendable {
    /// Line 8: starting, ready or stopping.
    public var status: String?
    /// Line 7.
    public var segment: (key: Int, id: Int32)?

    /// nil when the file is not there (a server that shut down removes it).
    public init?(dataDirectory: String) {
        guard let text = try? String(contentsOfFile: dataDirectory + "/postmaster.pid", encoding: .utf8) else { return nil }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        if lines.count >= 7 {
            let fields = lines[6].split(separator: " ")
            if fields.count == 2, let key = Int(fields[0]), let id = Int32(fields[1]) { segment = (key, id) }
        }
        if lines.count >= 8 { status = lines[7].trimmingCharacters(in: .whitespaces) }
    }
}
