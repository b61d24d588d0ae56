import Foundation
import StateLab
import StateLabTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A worker of statelab's own app killed from outside (kill -9 by pid) while
/// `statelab load` runs: the supervisor learns of the exit at once (a pidfd),
/// starts a replacement through its one restart path, says so on stderr, and
/// the history records it. Nothing here asserts speed.
@Suite(.serialized)
struct OutsideKillTests {
    /// The worker processes a statelab process started (their command line names its pid as --parent-pid).
    static func workers(of parent: Int32) -> [Int32] {
        ProcessTable.children(of: parent).filter { pid in
            let arguments = ProcessTable.arguments(pid)
            return arguments.dropFirst().first == "worker" && arguments.contains(String(parent))
        }
    }

    /// Inodes of established TCP sockets on this machine (/proc/net/tcp and tcp6, state 01).
    static func establishedInodes() -> Set<UInt64> {
        var inodes = Set<UInt64>()
        for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
            let text = ProcFile.read(table) ?? ""
            for line in text.split(separator: "\n").dropFirst() {
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                if fields.count >= 10, fields[3] == "01", let inode = UInt64(fields[9]) { inodes.insert(inode) }
            }
        }
        return inodes
    }

    /// `statelab ARGUMENTS` with one worker killed from outside while its load runs: the
    /// replacement appears, stderr says so, and the report's fault list has it.
    static func killOneWorker(during arguments: [String], in directory: String) throws -> (output: String, victim: Int32) {
        let output = directory + "/output.txt"
        let statelab = try ChildProcess.spawn(executable: Binary.path, arguments: arguments, outputFile: output)
        defer { statelab.stop(grace: 5) }
        let text = { (try? String(contentsOfFile: output, encoding: .utf8)) ?? "" }
        let started = try #require(Poll.value(timeout: 60) { () -> [Int32]? in
            let pids = Self.workers(of: statelab.pid)
            return pids.count == 2 ? pids : nil
        }, "two workers never showed up: \(text())")
        // The load connects only once every worker is ready: a worker holding one of its connections
        // is serving it (the kernel may give every connection to one worker, so take whichever).
        let victim = try #require(Poll.value(timeout: 60) { () -> Int32? in
            let established = Self.establishedInodes()
            return started.first { !ProcessTree.socketInodes(of: $0).isDisjoint(with: established) }
        }, "the load never connected to a worker \(started) (now \(Self.workers(of: statelab.pid))): \(text())")
        #expect(kill(victim, SIGKILL) == 0)
        // A replacement appears while the load still runs.
        let replaced = Poll.until(timeout: 60) {
            let now = Self.workers(of: statelab.pid)
            return now.count == 2 && !now.contains(victim)
        }
        #expect(replaced, "no replacement for the killed worker \(victim): \(Self.workers(of: statelab.pid))")
        #expect(statelab.wait(timeout: 120), "statelab did not end")
        #expect(ProcessTable.waitGone(started).isEmpty)
        return (text(), victim)
    }

    static func directory() throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("outside-kill-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory
    }

    @Test func loadReplacesAWorkerKilledFromOutsideAndTheHistoryHasIt() throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (text, victim) = try Self.killOneWorker(during: ["load", "--strategy", "shm", "--mode", "atomic", "--workers", "2",
                                                            "--concurrency", "16", "--duration", "8s", "--format", "json"],
                                                   in: directory)
        #expect(text.contains("(pid \(victim)) was killed; the supervisor restarted it as pid "), "\(text)")
        // In the history: the fault list of the JSON report names it.
        #expect(text.contains("\"worker_exit\""), "\(text)")
    }

    @Test func compareReplacesAWorkerKilledFromOutsideAndTheHistoryHasIt() throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let scenario = directory + "/one-run.yaml"
        try """
            name: outside-kill
            app:
              workers: 2
            load:
              duration: 8s
              concurrency: 16
            runs:
              - strategy: shm
                mode: atomic
            """.write(toFile: scenario, atomically: true, encoding: .utf8)
        let (text, victim) = try Self.killOneWorker(during: ["compare", "--scenario", scenario, "--format", "json", "--quiet"],
                                                   in: directory)
        #expect(text.contains("(pid \(victim)) was killed; the supervisor restarted it as pid "), "\(text)")
        #expect(text.contains("\"worker_exit\""), "\(text)")
    }

    @Test func serveReplacesAWorkerKilledFromOutsideWithALogLine() throws {
        let (supervisor, ready, dir) = try ServeProcessTests.serve(["--strategy", "shm", "--mode", "atomic", "--workers", "2"])
        defer {
            supervisor.stop()
            try? FileManager.default.removeItem(atPath: dir)
        }
        let victim = try #require(ready.pids.first)
        #expect(kill(victim, SIGKILL) == 0)
        let output = dir + "/serve.out"
        let logged = Poll.until(timeout: 60) {
            let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
            return text.contains("(pid \(victim)) was killed; restarting it") && text.contains("is back as pid")
        }
        #expect(logged, "\((try? String(contentsOfFile: output, encoding: .utf8)) ?? "")")
        #expect(Self.workers(of: supervisor.pid).count == 2 && !Self.workers(of: supervisor.pid).contains(victim))
    }
}
