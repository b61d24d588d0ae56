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

    @Test func loadReplacesAWorkerKilledFromOutsideAndTheHistoryHasIt() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("outside-kill-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let output = directory + "/output.txt"
        let load = try ChildProcess.spawn(
            executable: Binary.path,
            arguments: ["load", "--strategy", "shm", "--mode", "atomic", "--workers", "2", "--concurrency", "16",
                        "--duration", "8s", "--format", "json"],
            outputFile: output)
        defer { load.stop(grace: 5) }
        let started = try #require(Poll.value(timeout: 60) { () -> [Int32]? in
            let pids = Self.workers(of: load.pid)
            return pids.count == 2 ? pids : nil
        }, "the load's two workers never showed up")
        // The load connects only once every worker is ready: a worker holding one of its connections
        // is serving it (the kernel may give every connection to one worker, so take whichever).
        let victim = try #require(Poll.value(timeout: 60) { () -> Int32? in
            let established = Self.establishedInodes()
            return started.first { !ProcessTree.socketInodes(of: $0).isDisjoint(with: established) }
        }, "the load never connected to a worker \(started) (now \(Self.workers(of: load.pid))): \((try? String(contentsOfFile: output, encoding: .utf8)) ?? "")")
        #expect(kill(victim, SIGKILL) == 0)
        // A replacement appears while the load still runs.
        let replaced = Poll.until(timeout: 60) {
            let now = Self.workers(of: load.pid)
            return now.count == 2 && !now.contains(victim)
        }
        #expect(replaced, "no replacement for the killed worker \(victim): \(Self.workers(of: load.pid))")
        #expect(load.wait(timeout: 120), "the load did not end")
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        #expect(text.contains("(pid \(victim)) was killed; the supervisor restarted it as pid "), "\(text)")
        // In the history: the fault list of the JSON report names it.
        #expect(text.contains("\"worker_exit\""), "\(text)")
        #expect(ProcessTable.waitGone(started).isEmpty)
    }
}
