import Foundation
import Testing
import StateLab
#if canImport(Glibc)
import Glibc
#endif

/// The built `statelab` executable (tests run it, and apps spawn their workers
/// from it): next to the test bundle, or $STATELAB_BIN.
public enum Binary {
    public static let path: String = {
        if let explicit = ProcessInfo.processInfo.environment["STATELAB_BIN"] { return explicit }
        let here = URL(fileURLWithPath: ChildProcess.currentExecutable).deletingLastPathComponent()
        for candidate in [here, here.deletingLastPathComponent()] {
            let path = candidate.appendingPathComponent("statelab").path
            if access(path, X_OK) == 0 { return path }
        }
        return here.appendingPathComponent("statelab").path
    }()
}

/// Redis tests skip on a developer machine without redis-server, but fail in CI,
/// where .ci/run sets STATELAB_REQUIRE_REDIS=1.
public enum RedisRequirement {
    public static var required: Bool { ProcessInfo.processInfo.environment["STATELAB_REQUIRE_REDIS"] == "1" }
    public static var available: Bool { RedisServerProcess.availability() == nil }
    /// Whether a redis test runs: a trait's condition (`.enabled(if: RedisRequirement.runs, ...)`), reported as a skip.
    public static var runs: Bool { available || required }
    public static let skipReason: Comment = "redis-server is not installed (apt-get install -y redis-server)"
    /// Whether to run a redis test; prints why it is skipped.
    public static func shouldRun() -> Bool {
        if available || required { return true }
        print("skipping a redis test: redis-server is not installed (apt-get install -y redis-server)")
        return false
    }
}

/// PostgreSQL tests skip on a developer machine without PostgreSQL, but fail in
/// CI, where .ci/run sets STATELAB_REQUIRE_POSTGRES=1.
public enum PostgresRequirement {
    public static var required: Bool { ProcessInfo.processInfo.environment["STATELAB_REQUIRE_POSTGRES"] == "1" }
    public static var available: Bool { PostgresServerProcess.availability() == nil }
    /// Whether a postgres test runs: a trait's condition, reported as a skip.
    public static var runs: Bool { available || required }
    public static let skipReason: Comment = "PostgreSQL is not installed (apt-get install -y postgresql)"
    /// Whether to run a postgres test; prints why it is skipped.
    public static func shouldRun() -> Bool {
        if available || required { return true }
        print("skipping a postgres test: \(PostgresServerProcess.availability() ?? "PostgreSQL is not installed")")
        return false
    }
}

/// `--hosts` tests (namespaces, veths, nginx) skip where that cannot run (not
/// root, no ip or nginx) but fail in CI, where .ci/run sets STATELAB_REQUIRE_HOSTS=1.
public enum HostsRequirement {
    public static var required: Bool { ProcessInfo.processInfo.environment["STATELAB_REQUIRE_HOSTS"] == "1" }
    public static var available: Bool { HostNetwork.availability() == nil && NginxProcess.availability() == nil }
    public static var runs: Bool { available || required }
    public static let skipReason: Comment = "--hosts needs root, ip (iproute2) and nginx"
}

/// Processes by /proc: whether one still runs, who its children are, its arguments.
public enum ProcessTable {
    /// A process's user + system CPU time in seconds, from /proc/PID/stat.
    public static func cpuSeconds(_ pid: Int32) -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // After the command: utime and stime are fields 14 and 15 (1-based, as proc(5) counts).
        guard fields.count > 13, let user = Int(fields[11]), let system = Int(fields[12]) else { return nil }
        return Double(user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// A process's resident memory in KiB, from /proc/PID/status.
    public static func residentKiB(_ pid: Int32) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        let line = text.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
        return line.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") }
    }

    public static func exists(_ pid: Int32) -> Bool {
        // A zombie still answers kill(pid, 0); look at its state.
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(close, offsetBy: 2)]
        return state != "Z" && state != "X"
    }

    /// Waits (bounded) until none of `pids` exists; returns those still there.
    public static func waitGone(_ pids: [Int32], timeout: Double = 30) -> [Int32] {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if !pids.contains(where: exists) { return [] }
            usleep(20_000)
        }
        return pids.filter(exists)
    }

    /// Live direct children of `parent`.
    public static func children(of parent: Int32) -> [Int32] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return names.compactMap(Int32.init).filter { pid in
            guard exists(pid), let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
            return fields.count > 1 && Int32(fields[1]) == parent
        }
    }

    /// The process's arguments, the executable first (empty once it is gone).
    public static func arguments(_ pid: Int32) -> [String] {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return [] }
        return data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The process's environment as `KEY=value` strings (empty once it is gone,
    /// or when it is not ours to read).
    public static func environment(_ pid: Int32) -> [String] {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { return [] }
        return data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The one-letter state from /proc (R, S, D, T stopped, t traced, Z...), nil once it is gone.
    public static func state(_ pid: Int32) -> Character? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        return stat[stat.index(close, offsetBy: 2)]
    }

    /// Live processes (other than this one) whose arguments or environment contain `text`.
    public static func mentioning(_ text: String) -> [Int32] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        let me = getpid()
        return names.compactMap(Int32.init).filter { pid in
            pid != me && exists(pid)
                && (arguments(pid).contains { $0.contains(text) } || environment(pid).contains { $0.contains(text) })
        }
    }

    /// Waits (bounded) until no process mentions `text`; returns those still there.
    public static func waitNoneMentioning(_ text: String, timeout: Double = 10) -> [Int32] {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if mentioning(text).isEmpty { return [] }
            usleep(20_000)
        }
        return mentioning(text)
    }

    /// SIGSTOP, then waits (bounded) until the kernel shows it stopped, so
    /// nothing it does afterwards can be mistaken for an answer.
    @discardableResult
    public static func stop(_ pid: Int32, timeout: Double = 10) -> Bool {
        kill(pid, SIGSTOP)
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if state(pid) == "T" { return true }
            usleep(2_000)
        }
        return state(pid) == "T"
    }
}

/// A blocking TCP socket connected to 127.0.0.1:port, for tests that speak raw bytes.
public enum LoopbackSocket {
    /// - Parameters: sendTimeout / receiveTimeout in whole seconds (nil leaves it blocking).
    public static func connect(port: Int, sendTimeout: Int? = nil, receiveTimeout: Int? = nil) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw StoreError("test client: socket: \(String(cString: strerror(errno)))") }
        for (option, seconds) in [(SO_SNDTIMEO, sendTimeout), (SO_RCVTIMEO, receiveTimeout)] {
            guard let seconds else { continue }
            var timeout = timeval(tv_sec: seconds, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, option, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw StoreError("test client: connect to 127.0.0.1:\(port): \(reason)")
        }
        return fd
    }
}

/// The example FastAPI apps' venv (examples/python/setup-venv.sh makes it):
/// tests that launch them skip where it is missing, and fail in CI
/// (STATELAB_REQUIRE_PYTHON_APPS=1), as the redis tests do.
public enum PythonApps {
    public static var required: Bool { ProcessInfo.processInfo.environment["STATELAB_REQUIRE_PYTHON_APPS"] == "1" }

    /// The venv: STATELAB_PYTHON_VENV, or examples/python/.venv in this checkout.
    public static var venv: String {
        if let given = ProcessInfo.processInfo.environment["STATELAB_PYTHON_VENV"], !given.isEmpty { return given }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("examples/python/.venv").path
    }

    /// The venv's bin directory, when uvicorn is in it.
    public static var bin: String? {
        let bin = venv + "/bin"
        return FileManager.default.isExecutableFile(atPath: bin + "/uvicorn") ? bin : nil
    }

    /// Whether a test of the example apps runs: a trait's condition, reported as a skip.
    public static var runs: Bool { bin != nil || required }
    public static let skipReason: Comment = "no venv with uvicorn (examples/python/setup-venv.sh makes it)"
    /// Whether to run a test of the example apps; prints why it is skipped.
    public static func shouldRun() -> Bool {
        if bin != nil || required { return true }
        print("skipping the example apps: no venv with uvicorn at \(venv) (examples/python/setup-venv.sh makes it)")
        return false
    }

    /// This process's environment with the venv's bin first on PATH.
    public static var environment: [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["PATH"] = (bin ?? venv + "/bin") + ":" + (environment["PATH"] ?? "/usr/bin:/bin")
        return environment
    }
}

/// Polls until `condition` holds, at most `timeout` seconds; the one bounded wait of the tests.
public enum Poll {
    public static func until(timeout: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        repeat {
            if condition() { return true }
            usleep(20_000)
        } while Date() < deadline
        return condition()
    }

    /// Polls until `make` gives a value, at most `timeout` seconds.
    public static func value<T>(timeout: Double, _ make: () -> T?) -> T? {
        var found: T?
        _ = until(timeout: timeout) {
            found = make()
            return found != nil
        }
        return found
    }
}
