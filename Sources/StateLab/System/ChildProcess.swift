import CSupport
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A process statelab started. It dies with statelab even under `kill -9`
/// (PR_SET_PDEATHSIG), and is stopped by its pid, never by name.
public final class ChildProcess: @unchecked Sendable {
    public let pid: pid_t
    public let executable: String
    private let lock = NSLock()
    private var exitStatus: Int32?

    private init(pid: pid_t, executable: String) {
        self.pid = pid
        self.executable = executable
    }

    /// Starts `executable` with `arguments`. `inherit` maps a parent fd to the fd
    /// number the child gets; stdout and stderr go to `output` (a file opened
    /// for appending) or are inherited. The child gets a process group of its
    /// own by default, so a Ctrl-C meant for statelab does not reach it first.
    public static func spawn(
        executable: String,
        arguments: [String],
        environment: [String: String]? = nil,
        inherit: [(from: Int32, to: Int32)] = [],
        outputFile: String? = nil,
        newProcessGroup: Bool = true,
        options: SpawnOptions = SpawnOptions()
    ) throws -> ChildProcess {
        var mapping = inherit
        var outputFD: Int32 = -1
        if let outputFile {
            outputFD = open(outputFile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
            guard outputFD >= 0 else {
                throw StoreError("cannot open \(outputFile): \(String(cString: strerror(errno)))")
            }
            mapping.append((outputFD, 1))
            mapping.append((outputFD, 2))
        }
        defer { if outputFD >= 0 { close(outputFD) } }
        let env = (environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
        let pid = Spawner.shared.spawn(
            path: executable, argv: [executable] + arguments, envp: env,
            from: mapping.map(\.from), to: mapping.map(\.to), newGroup: newProcessGroup, options: options)
        guard pid > 0 else {
            throw StoreError("cannot start \(executable): \(String(cString: strerror(-pid)))")
        }
        return ChildProcess(pid: pid, executable: executable)
    }

    /// Reaps the child if it has exited; returns its wait status then.
    @discardableResult
    public func poll() -> Int32? {
        lock.lock(); defer { lock.unlock() }
        if let exitStatus { return exitStatus }
        var status: Int32 = 0
        let rc = waitpid(pid, &status, WNOHANG)
        if rc == pid || (rc == -1 && errno == ECHILD) {
            exitStatus = status
        }
        return exitStatus
    }

    public var isRunning: Bool { poll() == nil }

    /// Waits at most `timeout` seconds for the child to exit.
    @discardableResult
    public func wait(timeout: Double) -> Bool {
        let deadline = MonotonicClock.now() + UInt64(timeout * 1e9)
        while MonotonicClock.now() < deadline {
            if poll() != nil { return true }
            usleepChecked(2_000)
        }
        return poll() != nil
    }

    /// Sends `signal` unless the child is already reaped.
    public func send(_ signal: Int32) {
        if poll() == nil { kill(pid, signal) }
    }

    /// `signal` (SIGTERM unless given), then SIGKILL after `grace` seconds;
    /// returns once the child is reaped.
    public func stop(signal: Int32 = SIGTERM, grace: Double = 3) {
        guard poll() == nil else { return }
        kill(pid, signal)
        if wait(timeout: grace) { return }
        kill(pid, SIGKILL)
        wait(timeout: 5)
    }

    /// Exit code if the child exited normally.
    public var exitCode: Int32? {
        guard let s = poll() else { return nil }
        return (s & 0x7f) == 0 ? (s >> 8) & 0xff : nil
    }

    /// Looks `name` up on PATH.
    public static func which(_ name: String) -> String? {
        if name.contains("/") { return access(name, X_OK) == 0 ? name : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        // Debian puts redis-server in /usr/bin, but sbin-only PATHs exist too.
        for dir in ["/usr/sbin", "/usr/local/sbin"] where access("\(dir)/\(name)", X_OK) == 0 {
            return "\(dir)/\(name)"
        }
        return nil
    }

    /// The running statelab binary (for re-executing itself as worker or manager).
    public static var currentExecutable: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }
}

/// How a child is started beyond its command line.
public struct SpawnOptions: Sendable {
    /// Sent to the child when statelab dies; SIGKILL unless a program needs to
    /// clean up (PostgreSQL removes its shared memory on SIGINT).
    public var deathSignal: Int32
    /// Run as this user and group instead (only root can): PostgreSQL refuses root.
    public var user: (uid: uid_t, gid: gid_t)?
    /// The child's working directory; statelab's own otherwise.
    public var directory: String?
    /// The host whose network and mount namespaces the child joins (`--hosts`); statelab's own otherwise.
    public var namespaces: HostNamespaces?

    public init(deathSignal: Int32 = SIGKILL, user: (uid: uid_t, gid: gid_t)? = nil, directory: String? = nil,
                namespaces: HostNamespaces? = nil) {
        self.namespaces = namespaces
        self.deathSignal = deathSignal
        self.user = user
        self.directory = directory
    }
}

/// Forks from one thread that lives as long as the process: PR_SET_PDEATHSIG
/// fires when the *thread* that forked exits, so forking from a pool thread
/// that the runtime later retires would kill the child with it.
final class Spawner: @unchecked Sendable {
    static let shared = Spawner()

    private struct Request {
        var path: String
        var argv: [String]
        var envp: [String]
        var from: [Int32]
        var to: [Int32]
        var newGroup: Bool
        var options: SpawnOptions
    }

    private let condition = NSCondition()
    private var pending: [(Request, (pid_t) -> Void)] = []
    private var thread: Thread?

    private init() {
        let thread = Thread { [unowned self] in self.loop() }
        thread.name = "statelab-spawner"
        thread.start()
        self.thread = thread
    }

    func spawn(path: String, argv: [String], envp: [String], from: [Int32], to: [Int32], newGroup: Bool,
               options: SpawnOptions) -> pid_t {
        let done = NSCondition()
        var result: pid_t?
        condition.lock()
        pending.append((Request(path: path, argv: argv, envp: envp, from: from, to: to, newGroup: newGroup, options: options), { pid in
            done.lock(); result = pid; done.signal(); done.unlock()
        }))
        condition.signal()
        condition.unlock()
        done.lock()
        while result == nil { _ = done.wait(until: Date().addingTimeInterval(1)) }
        done.unlock()
        return result!
    }

    private func loop() {
        while true {
            condition.lock()
            while pending.isEmpty { condition.wait() }
            let (request, reply) = pending.removeFirst()
            condition.unlock()
            reply(Self.fork(request))
        }
    }

    private static func fork(_ r: Request) -> pid_t {
        var cArgs = r.argv.map { strdup($0) } + [nil]
        var cEnv = r.envp.map { strdup($0) } + [nil]
        defer {
            cArgs.forEach { free($0) }
            cEnv.forEach { free($0) }
        }
        let uid = r.options.user.map { Int($0.uid) } ?? -1
        let gid = r.options.user.map { Int($0.gid) } ?? -1
        let cwd = r.options.directory.map { strdup($0) } ?? nil
        defer { free(cwd) }
        return r.path.withCString { path in
            r.from.withUnsafeBufferPointer { from in
                r.to.withUnsafeBufferPointer { to in
                    sl_spawn(path, &cArgs, &cEnv, from.baseAddress, to.baseAddress, Int32(r.from.count), r.newGroup ? 1 : 0,
                             r.options.deathSignal, uid, gid, cwd,
                             r.options.namespaces?.network ?? -1, r.options.namespaces?.mount ?? -1)
                }
            }
        }
    }
}
