import Foundation
import StateLab
import StateLabTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `statelab load --app-command`: statelab launches the app, loads it, and
/// leaves nothing of it running, even when statelab itself is killed with -9.
@Suite(.serialized, .enabled(if: ChildProcess.which("python3") != nil, "python3 not found on PATH: skipping the --app-command tests"))
struct AppCommandTests {
    static let fixture = Repository.root.appendingPathComponent("Tests/Fixtures/apps/forking_counter.py").path

    static func command(_ extra: String = "") -> String {
        "python3 \(fixture) --port {port} --workers 3 \(extra)"
    }

    @Test("a shared counter: exit 0, verdict ok, the 3 workers named, the command in the report")
    func sharedCounterIsOk() throws {
        let command = Self.command("--shared-counter")
        let result = try StatelabCLI.run(["load", "--app-command", command, "--increments", "600",
                                          "--format", "json", "--timeout", "60"])
        #expect(result.status == 0, "\(result.stderr)\n\(result.stdout)")
        let json = try #require(result.json, "not JSON: \(result.stdout)\n\(result.stderr)")
        #expect((json["target"] as? String)?.contains(command) == true, "\(json["target"] ?? "")")
        #expect(json["verdict"] as? String == "ok")
        #expect(json["acknowledged"] as? Int == 600)
        #expect(json["lost"] as? Int == 0)
        let workers = try #require(json["per_worker"] as? [[String: Any]])
        // A shared socket: a worker that no fresh connection reached is named unread, not dropped.
        let unread = (json["unread"] as? [[String: Any]] ?? []).compactMap { $0["pid"] as? Int }
        #expect(Set(workers.compactMap { $0["pid"] as? Int }).union(unread).count == 3, "\(workers) \(unread)")
    }

    @Test("compare --app-command: one run of the app, its 3 pids with their share, the per-worker diagnosis")
    func compareRunsTheApp() throws {
        let result = try StatelabCLI.run(["compare", "--app-command", Self.command(), "--increments", "600",
                                          "--shared", "no", "--format", "json", "--quiet"])
        #expect(result.status == 0, "\(result.stderr)\n\(result.stdout)")
        let json = try #require(result.json, "not JSON: \(result.stdout)\n\(result.stderr)")
        let run = try #require((json["runs"] as? [[String: Any]])?.first)
        #expect(run["label"] as? String == "your app")
        #expect(run["acknowledged"] as? Int == 600 && run["lost"] as? Int == 0, "\(run)")
        let workers = try #require(run["per_worker"] as? [[String: Any]])
        let unread = (run["unread"] as? [[String: Any]] ?? []).compactMap { $0["pid"] as? Int }
        #expect(Set(workers.compactMap { $0["pid"] as? Int }).union(unread).count == 3, "\(workers) \(unread)")
        // Each worker keeps its own count: what it reads is what it answered.
        for worker in workers { #expect(worker["count"] as? Int == worker["acknowledged"] as? Int, "\(worker)") }
        let codes = (run["diagnosis"] as? [[String: Any]] ?? []).compactMap { $0["code"] as? String }
        #expect(codes.contains("per-worker-state") || Set(workers.compactMap { $0["count"] as? Int }).count == 1, "\(codes)")
    }

    @Test("a counter per worker: auto says so, divergent, exit 1, nothing lost")
    func perWorkerCountersAreDivergent() throws {
        let result = try StatelabCLI.run(["load", "--app-command", Self.command(), "--increments", "601",
                                          "--format", "json", "--timeout", "60"])
        #expect(result.status == 1, "\(result.stderr)\n\(result.stdout)")
        let json = try #require(result.json, "not JSON: \(result.stdout)\n\(result.stderr)")
        #expect(json["verdict"] as? String == "divergent")
        #expect(json["lost"] as? Int == 0)
        #expect((json["per_worker"] as? [Any])?.count == 3)
        let notes = (json["notes"] as? [String]) ?? []
        #expect(notes.contains { $0.contains("one counter per worker") }, "\(notes)")
    }

    @Test("a counter per worker and no pid in any answer: /proc names each worker, each reads what it answered, divergent")
    func perWorkerCountersWithoutPidsAreFoundFromProc() throws {
        let result = try StatelabCLI.run(["load", "--app-command", Self.command("--no-pid"), "--increments", "601",
                                          "--format", "json", "--timeout", "60"])
        #expect(result.status == 1, "\(result.stderr)\n\(result.stdout)")
        let json = try #require(result.json, "not JSON: \(result.stdout)\n\(result.stderr)")
        #expect(json["verdict"] as? String == "divergent", "\(json["explanation"] ?? "")")
        let workers = try #require(json["per_worker"] as? [[String: Any]])
        let unread = (json["unread"] as? [[String: Any]] ?? []).compactMap { $0["pid"] as? Int }
        #expect(Set(workers.compactMap { $0["pid"] as? Int }).union(unread).count == 3, "\(workers) \(unread)")
        // Every acknowledged increment has its worker: each worker's read is exactly what it answered.
        for worker in workers { #expect(worker["count"] as? Int == worker["acknowledged"] as? Int, "\(worker)") }
        #expect(workers.reduce(0) { $0 + ($1["acknowledged"] as? Int ?? 0) } + (json["unread"] as? [Any] ?? []).count > 0)
        let notes = (json["notes"] as? [String]) ?? []
        #expect(notes.contains { $0.hasPrefix("workers named from /proc") }, "\(notes)")
    }

    @Test("--url and --app-command together: exit 2, one error line")
    func urlAndCommandAreExclusive() throws {
        let result = try StatelabCLI.run(["load", "--url", "http://127.0.0.1:8000", "--app-command", Self.command()])
        #expect(result.status == 2)
        #expect(result.stderrLines.first?.contains("--url and --app-command are mutually exclusive") == true, "\(result.stderr)")
    }

    @Test("a command that cannot start: exit 2, one line with its output")
    func commandThatFailsToStart() throws {
        let result = try StatelabCLI.run(["load", "--app-command", "echo cannot import app on port {port} >&2; exit 5"])
        #expect(result.status == 2)
        #expect(result.stderrLines.count == 1, "\(result.stderr)")
        #expect(result.stderr.contains("exited with code 5") && result.stderr.contains("cannot import app"), "\(result.stderr)")
    }

    @Test("a command without {port}: exit 2 at once, saying how to pass it")
    func commandWithoutPortIsRefused() throws {
        let result = try StatelabCLI.run(["load", "--app-command", "uvicorn app:app --workers 4"])
        #expect(result.status == 2)
        #expect(result.stderrLines.first?.contains("never gets {port}") == true, "\(result.stderr)")
    }

    @Test("kill -9 of statelab: the guard stops the command's whole group")
    func killNineLeavesNothing() throws {
        let marker = "statelab-kill9-\(UUID().uuidString.prefix(8))"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Binary.path)
        process.arguments = ["load", "--app-command", Self.command("--marker \(marker)"), "--duration", "60s",
                             "--format", "json", "--timeout", "60"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        var killed = false
        defer {
            if !killed { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }

        let launched = try #require(Self.fixtureGroup(marker: marker, while: process), "the fixture's 4 processes never appeared")
        #expect(process.isRunning, "statelab ended before it was killed")

        kill(process.processIdentifier, SIGKILL)
        killed = true
        let gone = Date().addingTimeInterval(30)
        while Date() < gone, !ProcessTree.members(ofGroup: launched).isEmpty || !ProcessTable.mentioning(marker).isEmpty {
            usleep(50_000)
        }
        #expect(ProcessTree.members(ofGroup: launched).isEmpty, "left in group \(launched): \(ProcessTree.members(ofGroup: launched))")
        #expect(ProcessTable.mentioning(marker).isEmpty, "left: \(ProcessTable.mentioning(marker).map(ProcessTable.arguments))")
        // Nothing else should be left for a person to clean up by hand.
        for pid in ProcessTree.members(ofGroup: launched).map(\.pid) { kill(pid, SIGKILL) }
    }

    @Test("SIGTERM mid-load: exit 143, the command's group stopped")
    func sigtermStopsTheGroup() throws {
        let marker = "statelab-term-\(UUID().uuidString.prefix(8))"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Binary.path)
        process.arguments = ["load", "--app-command", Self.command("--marker \(marker)"), "--duration", "60s", "--timeout", "60"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
        let launched = try #require(Self.fixtureGroup(marker: marker, while: process), "the fixture's 4 processes never appeared")
        kill(process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, process.isRunning { usleep(50_000) }
        #expect(!process.isRunning)
        if !process.isRunning { #expect(process.terminationStatus == 143) }
        #expect(ProcessTree.members(ofGroup: launched).isEmpty, "left in group \(launched)")
        #expect(ProcessTable.waitNoneMentioning(marker, timeout: 30) == [])
    }

    /// The process group of the fixture's master and 3 workers: the python
    /// processes with the marker (the shell, the guard and statelab name it
    /// in one argument), once all 4 exist; nil after 30 s or once `process` ended.
    static func fixtureGroup(marker: String, while process: Process) -> Int32? {
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, process.isRunning {
            let found = ProcessTable.mentioning(marker)
                .filter { ProcessTable.arguments($0).contains { $0.hasSuffix("forking_counter.py") } }
                .compactMap(ProcessTree.entry(of:))
            if found.count == 4, Set(found.map(\.group)).count == 1 { return found[0].group }
            usleep(50_000)
        }
        return nil
    }
}
