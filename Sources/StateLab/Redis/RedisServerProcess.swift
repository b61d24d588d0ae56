import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A private redis-server that statelab starts for one run: loopback only, a
/// free port, a 0700 temp dir, no persistence. It is a ChildProcess, so it dies
/// with statelab even under `kill -9`; `stop()` ends it by pid and removes the dir.
public final class RedisServerProcess: @unchecked Sendable {
    public var host: String { placement.host }
    /// Where it runs: loopback, or the store host of `--hosts`.
    public let placement: ServerPlacement
    public let port: Int
    public let directory: String
    /// Set with `--requirepass` when given to `launch` (tests of AUTH); statelab's own runs use none.
    public let password: String?
    /// `appendonly yes` (with `appendfsync everysec`): the server logs every
    /// write to a file in its directory and reads it back when it starts again.
    public let appendOnly: Bool
    private let child: ChildProcess
    private let lock = NSLock()
    private var stopped = false

    public var pid: pid_t { child.pid }
    public var url: RedisURL { RedisURL(host: host, port: port, password: password) }
    public var logFile: String { directory + "/redis.log" }
    public var isRunning: Bool { child.isRunning }

    /// How long `launch()` waits for the first PONG: generous, as a saturated
    /// machine can take seconds to schedule a new process; a quiet one answers in milliseconds.
    public static let startTimeout = 30.0
    /// Ports are picked by binding port 0 and releasing it, so another process can
    /// take the port in between: start again on a new port this many times.
    public static let startAttempts = 3

    private init(port: Int, directory: String, password: String?, appendOnly: Bool, placement: ServerPlacement,
                 child: ChildProcess) {
        self.placement = placement
        self.port = port
        self.directory = directory
        self.password = password
        self.appendOnly = appendOnly
        self.child = child
    }

    deinit { stop() }

    /// nil when redis-server can be started here; otherwise one line saying how to fix it.
    public static func availability() -> String? {
        if ChildProcess.which("redis-server") != nil { return nil }
        return "redis-server not found on PATH: install it (apt-get install -y redis-server) or pass --redis-url redis://127.0.0.1:6379"
    }

    /// Starts redis-server and returns once it answers PING. Its private
    /// directory goes under `parent` (a run directory, so a sweep after
    /// `kill -9` removes it too), or the temp dir. With `password`, the server
    /// requires it (`--requirepass`).
    public static func launch(in parent: String? = nil, password: String? = nil,
                              appendOnly: Bool = false, placement: ServerPlacement = .loopback) throws -> RedisServerProcess {
        guard let executable = ChildProcess.which("redis-server") else {
            throw StoreError(availability() ?? "redis-server not found")
        }
        var failures: [String] = []
        for _ in 0..<startAttempts {
            do {
                return try start(executable: executable, port: freeLoopbackPort(), parent: parent, password: password,
                                 appendOnly: appendOnly, placement: placement)
            } catch let error as StoreError {
                failures.append(error.message)
            }
        }
        throw StoreError("redis-server failed to start \(startAttempts) times; last attempt: \(failures.last ?? "?")")
    }

    /// SIGTERM, up to 3 s to exit, then SIGKILL; reaps it and removes the temp dir. Idempotent.
    public func stop() {
        lock.lock(); defer { lock.unlock() }
        guard !stopped else { return }
        stopped = true
        child.stop(grace: 3)
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// SIGKILL, as a crash would; the directory stays until `stop()`.
    public func kill() {
        child.send(SIGKILL)
        child.wait(timeout: 10)
    }

    /// The server again on this one's port and directory (after `kill()`):
    /// with appendonly it reads its log back; without, it starts empty.
    public func restarted() throws -> RedisServerProcess {
        guard let executable = ChildProcess.which("redis-server") else {
            throw StoreError(Self.availability() ?? "redis-server not found")
        }
        lock.lock()
        stopped = true  // the directory is the new server's now
        lock.unlock()
        child.stop(signal: SIGKILL, grace: 0)
        return try Self.start(executable: executable, port: port, password: password, appendOnly: appendOnly,
                              placement: placement, reusing: directory)
    }

    // MARK: - Starting

    /// One attempt on `port`; on failure the process is stopped, its dir removed,
    /// and the error carries the end of its log.
    static func start(executable: String, port: Int, parent: String? = nil, password: String? = nil,
                      appendOnly: Bool = false, placement: ServerPlacement = .loopback,
                      reusing existing: String? = nil) throws -> RedisServerProcess {
        let directory = try existing ?? makePrivateDirectory(in: parent)
        let outputFile = directory + "/redis.out"
        let child: ChildProcess
        do {
            child = try ChildProcess.spawn(
                executable: executable,
                arguments: [
                    "--port", String(port), "--bind", placement.host, "--dir", directory,
                    "--save", "", "--appendonly", appendOnly ? "yes" : "no", "--appendfsync", "everysec",
                    // On a store host it binds an address only statelab's own bridge reaches.
                    "--protected-mode", placement.namespaces == nil ? "yes" : "no",
                    "--daemonize", "no", "--logfile", directory + "/redis.log",
                ] + (password.map { ["--requirepass", $0] } ?? []),
                outputFile: outputFile,
                options: SpawnOptions(namespaces: placement.namespaces))
        } catch {
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
        let server = RedisServerProcess(port: port, directory: directory, password: password, appendOnly: appendOnly,
                                        placement: placement, child: child)
        if let problem = waitForPong(server) {
            // Read the logs before stop() removes them.
            let logs = tail(of: server.logFile) + tail(of: outputFile)
            server.stop()
            let detail = logs.isEmpty ? "" : "; its log ends with:\n" + logs.joined(separator: "\n")
            throw StoreError("redis-server on \(placement.host):\(port) \(problem)\(detail)")
        }
        return server
    }

    /// nil once PING answers PONG; otherwise why it did not.
    private static func waitForPong(_ server: RedisServerProcess) -> String? {
        let deadline = MonotonicClock.now() + UInt64(startTimeout * 1e9)
        var lastError = "no answer"
        while MonotonicClock.now() < deadline {
            if let status = server.child.poll() {
                let how = (status & 0x7f) == 0 ? "with code \((status >> 8) & 0xff)" : "on signal \(status & 0x7f)"
                return "exited during startup \(how)"
            }
            do {
                let connection = try RedisConnection(url: server.url, timeout: 0.5)
                defer { connection.close() }
                let reply = try connection.command("PING")
                if reply == .simpleString("PONG") { return nil }
                lastError = "PING answered \(reply)"
            } catch let error as StoreError {
                lastError = error.message
            } catch {
                lastError = "\(error)"
            }
            usleepChecked(20_000)
        }
        return "did not answer PING within \(startTimeout) s (last: \(lastError))"
    }

    /// A new 0700 directory under the temp dir (mkdtemp never reuses one).
    private static func makePrivateDirectory(in parent: String?) throws -> String {
        let base = parent ?? ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array((base + "/statelab-redis-XXXXXX").utf8CString)
        let created = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard created != nil else {
            throw StoreError("cannot create a temp dir for redis-server in \(base): \(String(cString: strerror(errno)))")
        }
        let directory = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        // Not inside a run directory: marked, so a sweep removes it if this process dies first.
        if parent == nil { try? RunDirectory.markOwned(directory) }
        return directory
    }

    /// A loopback port nobody was using a moment ago.
    static func freeLoopbackPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw StoreError("cannot create a socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw StoreError("cannot bind 127.0.0.1:0: \(String(cString: strerror(errno)))") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw StoreError("getsockname failed: \(String(cString: strerror(errno)))") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// The last `count` non-empty lines of a file, or none if it can't be read.
    private static func tail(of path: String, count: Int = 10) -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
        return lines.suffix(count).map { "  " + $0 }
    }
}
