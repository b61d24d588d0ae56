import Foundation
import StateLab
import StateLabTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `statelab serve` as a person runs it: a real supervisor process.
@Suite(.serialized)
struct ServeProcessTests {
    struct Ready: Decodable {
        var url: String
        var port: Int
        var pids: [Int32]
        var run_dir: String
        var manager_pid: Int32?
        var redis_pid: Int32?
        var postgres_pid: Int32?
        var postgres_data: String?
    }

    /// Starts `statelab serve ... --json --port 0` and waits (bounded) for its ready line.
    static func serve(_ arguments: [String], timeout: Double = 20) throws -> (ChildProcess, Ready, String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("statelab-test-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let output = dir + "/serve.out"
        let process = try ChildProcess.spawn(executable: Binary.path,
                                             arguments: ["serve", "--port", "0", "--json"] + arguments,
                                             outputFile: output)
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let text = try? String(contentsOfFile: output, encoding: .utf8),
               let line = text.split(separator: "\n").first(where: { $0.hasPrefix("{") }),
               let ready = try? JSONDecoder().decode(Ready.self, from: Data(line.utf8)) {
                return (process, ready, dir)
            }
            if !process.isRunning { break }
            usleep(20_000)
        }
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        process.stop()
        try? FileManager.default.removeItem(atPath: dir)
        throw StoreError("serve did not become ready: \(text)")
    }

    static func shmSegments() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/dev/shm")) ?? []).filter { $0.contains("statelab") }
    }

    /// This supervisor's segments (statelab names them /statelab-PID-N) still
    /// there after a second of looking. Other suites' apps have segments of
    /// their own meanwhile (the shm_dict example's lives as long as its app).
    static func lingeringSegments(of supervisor: Int32) -> [String] {
        let deadline = Date().addingTimeInterval(1)
        let mine = { (name: String) in name.hasPrefix("statelab-\(supervisor)-") }
        var seen = shmSegments().filter(mine)
        while !seen.isEmpty && Date() < deadline {
            usleep(50_000)
            seen = shmSegments().filter(seen.contains)
        }
        return seen
    }

    @Test("kill -9 of the supervisor leaves no redis-server", .enabled(if: RedisRequirement.runs, RedisRequirement.skipReason))
    func sigkillLeavesNoRedis() throws { try sigkillLeavesNothing("redis") }

    @Test("kill -9 of the supervisor leaves no worker, manager, redis-server or shm segment",
          arguments: ["shm", "manager"])
    func sigkillLeavesNothing(_ name: String) throws {
        let (supervisor, ready, dir) = try Self.serve(["--strategy", name, "--mode", "atomic", "--workers", "3"])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var children = ready.pids
        if let pid = ready.manager_pid { children.append(pid) }
        if let pid = ready.redis_pid { children.append(pid) }
        #expect(children.count == (name == "shm" ? 3 : 4))
        #expect(children.allSatisfy(ProcessTable.exists))
        supervisor.send(SIGKILL)
        #expect(supervisor.wait(timeout: 30))
        #expect(ProcessTable.waitGone(children).isEmpty, "left running: \(ProcessTable.waitGone(children, timeout: 0))")
        // Other suites create (and at once unlink) segments in parallel: a leak is one that stays.
        #expect(Self.lingeringSegments(of: supervisor.pid).isEmpty, "left in /dev/shm: \(Self.lingeringSegments(of: supervisor.pid))")
        // The next run sweeps the dead supervisor's run directory.
        let next = try Supervisor.start(AppConfig(strategy: .global, workers: 1, executable: Binary.path))
        next.stop()
        #expect(!FileManager.default.fileExists(atPath: ready.run_dir))
    }

    @Test("SIGTERM stops every process and removes the run directory")
    func sigtermCleansUp() throws {
        let (supervisor, ready, dir) = try Self.serve(["--strategy", "manager", "--mode", "locked", "--workers", "2"])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let children = ready.pids + [ready.manager_pid].compactMap { $0 }
        supervisor.send(SIGTERM)
        #expect(supervisor.wait(timeout: 60))
        // Like a shell reports a program a signal stopped: 128 + 15.
        #expect(supervisor.exitCode == 143)
        #expect(ProcessTable.waitGone(children).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: ready.run_dir))
    }

    @Test("workers do not inherit serve's ignored SIGINT/SIGTERM, so SIGTERM stops them at once")
    func workersTakeDefaultSignals() throws {
        let (supervisor, ready, dir) = try Self.serve(["--strategy", "manager", "--mode", "atomic", "--workers", "2"])
        defer {
            supervisor.stop()
            try? FileManager.default.removeItem(atPath: dir)
        }
        for pid in ready.pids + [ready.manager_pid].compactMap({ $0 }) {
            let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
            let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("SigIgn:") })
            let mask = try #require(UInt64(line.split(separator: "\t").last ?? "", radix: 16))
            #expect(mask & (1 << (UInt64(SIGTERM) - 1)) == 0, "pid \(pid) ignores SIGTERM")
            #expect(mask & (1 << (UInt64(SIGINT) - 1)) == 0, "pid \(pid) ignores SIGINT")
        }
    }

    @Test("malformed HTTP gets a JSON 400 and the worker keeps serving")
    func malformedHTTP() async throws {
        let supervisor = try Supervisor.start(AppConfig(strategy: .shm, mode: .atomic, workers: 1, executable: Binary.path))
        defer { supervisor.stop() }
        let answer = try RawHTTP.exchange("THIS IS NOT HTTP\r\n\r\n", port: supervisor.port)
        #expect(answer.hasPrefix("HTTP/1.1 400"))
        #expect(answer.contains("\"error\":\"malformed HTTP request"))
        #expect(answer.contains("X-Worker-Pid: \(supervisor.workers[0].pid)"))
        let after = try RawHTTP.exchange("POST /increment HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", port: supervisor.port)
        #expect(after.hasPrefix("HTTP/1.1 200"))
        #expect(after.contains("{\"count\":1,"))
        let missing = try RawHTTP.exchange("GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", port: supervisor.port)
        #expect(missing.hasPrefix("HTTP/1.1 404"))
        let wrongMethod = try RawHTTP.exchange("GET /increment HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", port: supervisor.port)
        #expect(wrongMethod.hasPrefix("HTTP/1.1 405"))
        #expect(supervisor.workers[0].isRunning)
    }

    // MARK: - Control socket modes

    /// Both control sockets are checked the same way. lstat proves the mode
    /// now; inotify proves the path never had another: the name appears by
    /// rename (IN_MOVED_TO), not by bind() creating it in place (IN_CREATE),
    /// and no IN_ATTRIB follows (nothing chmods it afterwards). rename keeps
    /// the inode and its mode, so a 0600 file now was 0600 from the moment it
    /// could be opened at that path. The old code (bind, then chmod) shows
    /// IN_CREATE then IN_ATTRIB here.
    static func expectOwnerOnlyFromTheStart(_ path: String, events: [DirectoryEvents.Event]) {
        var info = stat()
        #expect(lstat(path, &info) == 0, "\(path) is missing")
        #expect(info.st_mode & S_IFMT == S_IFSOCK, "\(path) is not a socket")
        #expect(info.st_mode & 0o777 == 0o600, "mode \(String(info.st_mode & 0o777, radix: 8)) at \(path)")
        let name = (path as NSString).lastPathComponent
        let mine = events.filter { $0.name == name }
        #expect(mine.contains { $0.mask & UInt32(IN_MOVED_TO) != 0 }, "\(name) did not arrive by rename: \(mine)")
        #expect(!mine.contains { $0.mask & UInt32(IN_CREATE) != 0 }, "\(name) was created in place: \(mine)")
        #expect(!mine.contains { $0.mask & UInt32(IN_ATTRIB) != 0 }, "\(name) had its mode changed after it appeared: \(mine)")
    }

    @Test("a worker's control socket is 0600 from the moment it exists (seen on a restarted worker)")
    func workerSocketIsOwnerOnlyFromTheStart() throws {
        let supervisor = try Supervisor.start(AppConfig(strategy: .global, workers: 1, executable: Binary.path))
        defer { supervisor.stop() }
        // The run directory exists only once start returns: watch it, then make the worker bind again.
        let watch = try DirectoryEvents(watching: supervisor.runDirectory.path)
        defer { watch.close() }
        let old = supervisor.workers[0].pid
        supervisor.kill(worker: 0)
        // The exit watch restarts it as soon as it exits; monitor() waits for that restart or does it.
        supervisor.monitor()
        #expect(Poll.until(timeout: 60) { supervisor.workers[0].pid != old && supervisor.workers[0].status == .alive })
        Self.expectOwnerOnlyFromTheStart(supervisor.workers[0].socketPath, events: watch.read())
    }

    @Test("the manager's socket is 0600 from the moment it exists")
    func managerSocketIsOwnerOnlyFromTheStart() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("statelab-test-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let watch = try DirectoryEvents(watching: dir)
        defer { watch.close() }
        let server = ManagerServer(socketPath: dir + "/manager.sock", key: ManagerKey.generate(), log: { _ in })
        try server.start()
        defer { server.stop() }
        Self.expectOwnerOnlyFromTheStart(dir + "/manager.sock", events: watch.read())
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["manager.sock"], "the staging directory is gone")
    }

    @Test("an unavailable strategy or a bad flag: one line, exit 2, nothing started")
    func badInput() throws {
        for (arguments, expected) in [
            (["serve", "--strategy", "global", "--mode", "atomic"], "global has no atomic mode"),
            (["serve", "--workers", "0"], "--workers must be a whole number from 1 to 64"),
            (["serve", "--strategy", "nosuch"], "nosuch"),
        ] {
            let result = try RunCommand.run(Binary.path, arguments)
            #expect(result.status == 2, "\(arguments)")
            #expect(result.stderr.contains(expected), "\(arguments): \(result.stderr)")
        }
    }
}

/// Sends raw bytes to 127.0.0.1:port and returns everything answered until close.
enum RawHTTP {
    static func exchange(_ request: String, port: Int) throws -> String {
        let fd = try LoopbackSocket.connect(port: port, receiveTimeout: 5)
        defer { close(fd) }
        _ = request.withCString { send(fd, $0, strlen($0), 0) }
        var out = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            out += buffer[0..<n]
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Runs a command to completion (bounded) and captures its output.
enum RunCommand {
    struct Result { var status: Int32; var stdout: String; var stderr: String }

    static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                    timeout: Double = 60) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Drain both pipes while it runs so a chatty command cannot block on a full pipe.
        nonisolated(unsafe) var outData = Data(), errData = Data()
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) { outData = out.fileHandleForReading.readDataToEndOfFile() }
        DispatchQueue.global().async(group: group) { errData = err.fileHandleForReading.readDataToEndOfFile() }
        if group.wait(timeout: .now() + timeout) == .timedOut {
            process.terminate()
            throw StoreError("\(arguments.joined(separator: " ")) did not finish within \(timeout)s")
        }
        process.waitUntilExit()
        return Result(status: process.terminationStatus,
                      stdout: String(decoding: outData, as: UTF8.self), stderr: String(decoding: errData, as: UTF8.self))
    }
}

/// inotify on one directory: what was created, moved in or changed there.
/// The kernel queues events as the file operations happen, so after an
/// operation returns, `read()` sees its events without waiting.
final class DirectoryEvents {
    struct Event: CustomStringConvertible {
        var name: String
        var mask: UInt32
        var description: String { "\(name) 0x\(String(mask, radix: 16))" }
    }

    private let fd: Int32

    init(watching directory: String) throws {
        fd = inotify_init1(Int32(IN_NONBLOCK) | Int32(IN_CLOEXEC))
        guard fd >= 0 else { throw StoreError("inotify_init1: \(String(cString: strerror(errno)))") }
        let mask = UInt32(IN_CREATE) | UInt32(IN_MOVED_TO) | UInt32(IN_ATTRIB) | UInt32(IN_DELETE)
        guard inotify_add_watch(fd, directory, mask) >= 0 else {
            let reason = String(cString: strerror(errno))
            Glibc.close(fd)
            throw StoreError("inotify_add_watch \(directory): \(reason)")
        }
    }

    /// Every event queued so far.
    func read() -> [Event] {
        var events: [Event] = []
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { return events }
            var offset = 0
            // struct inotify_event: int wd; uint32_t mask, cookie, len; char name[len].
            while offset + 16 <= n {
                func field(_ at: Int) -> UInt32 {
                    buffer[offset + at..<offset + at + 4].reversed().reduce(0) { $0 << 8 | UInt32($1) }
                }
                let mask = field(4)
                let length = Int(field(12))
                let nameBytes = buffer[offset + 16..<offset + 16 + length].prefix { $0 != 0 }
                events.append(Event(name: String(decoding: nameBytes, as: UTF8.self), mask: mask))
                offset += 16 + length
            }
        }
    }

    func close() { Glibc.close(fd) }
}
