import Foundation
import StateLab
import StateLabTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// What makes statelab's verdicts worth trusting, shown on the built binary:
/// a reset fires at exactly N acknowledged and a step that never happened
/// fails the run; a lying read is caught and shown; an app that does not
/// start from 0 is not blamed; and a signal leaves nothing behind.
/// Serialized: each test runs a whole app on a 2-core machine.
@Suite(.serialized)
struct TrustTests {
    /// Deadline of every wait here: far beyond what a busy machine needs, so only a hang reaches it.
    static let patience = 60.0

    // MARK: reset_after

    static func resetScenario(load: String) -> String {
        """
        name: trust-reset
        app: {workers: 2}
        load: \(load)
        runs:
          - {strategy: shm, mode: atomic, expect: {lost: 0, verdict: ok}}
        """
    }

    @Test("reset_after 200 fires at exactly 200 acknowledged; the reset applies and the scenario passes")
    func resetAfterIsExact() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        // 1,800 increments after the reset: the increments that overlap it
        // (uncertain: they may land on either side) stay a small part of the
        // run even when a loaded machine takes most of a second to answer it.
        // With 400, a reset that took 0.6 s once overlapped 179 of the 200
        // left, and the check rightly called itself inconclusive.
        let path = try scratch.write("reset.yaml", Self.resetScenario(
            load: "{increments: 2000, reset_after: 200, concurrency: 8, timeout: 30s}"))
        let result = try StatelabCLI.run(["compare", "--scenario", path, "--format", "json"])
        #expect(result.status == 0, "\(result.stderr)\n\(result.stdout)")
        let json = try #require(result.json, "not JSON: \(result.stdout)")
        #expect(json["all_expectations_held"] as? Bool == true)
        #expect((json["failures"] as? [Any])?.isEmpty == true)
        let run = try #require((json["runs"] as? [[String: Any]])?.first)
        let resets = try #require(run["resets"] as? [[String: Any]])
        #expect(resets.count == 1, "\(resets)")
        #expect(resets.first?["acknowledged_before"] as? Int == 200, "\(resets)")
        #expect(resets.first?["outcome"] as? String == "ok")
        #expect(resets.first?["worker"] as? Int == 0)
        #expect((run["missed_steps"] as? [Any])?.isEmpty == true)
        #expect(run["acknowledged"] as? Int == 2000, "failed \(run["failed"] ?? "?"), indeterminate \(run["indeterminate"] ?? "?")")
        #expect(run["lost"] as? Int == 0)
        #expect(run["verdict"] as? String == "ok", "\(run["inconclusive"] ?? "")")
    }

    @Test("reset_after that the load never reaches fails the run: exit 1, said on stderr and in missed_steps")
    func missedResetFails() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let path = try scratch.write("missed.yaml", Self.resetScenario(load: "{duration: 1s, rate: 20, reset_after: 1000, concurrency: 4}"))
        let result = try StatelabCLI.run(["compare", "--scenario", path, "--format", "json"])
        #expect(result.status == 1, "\(result.stderr)\n\(result.stdout)")
        #expect(result.stderr.contains("reset_after 1,000 never happened"), "\(result.stderr)")
        let json = try #require(result.json, "not JSON: \(result.stdout)")
        let run = try #require((json["runs"] as? [[String: Any]])?.first)
        let missed = try #require(run["missed_steps"] as? [String])
        #expect(missed.count == 1)
        #expect(missed.first?.hasPrefix("reset_after 1,000 never happened") == true, "\(missed)")
        #expect((run["resets"] as? [Any])?.isEmpty == true)
        #expect((json["failures"] as? [String])?.contains { $0.contains("reset_after 1,000 never happened") } == true)
        // The load itself lost nothing: only the step that never happened fails the run.
        #expect(run["lost"] as? Int == 0)
        #expect(run["verdict"] as? String != "lost-updates")
    }

    // MARK: read violations

    @Test("reads out of bounds from an app whose GET /report lies: exit 1, shown in the table and in JSON",
          .enabled(if: ChildProcess.which("python3") != nil, "python3 not found on PATH"),
          arguments: ["table", "json"])
    func readViolationsShown(_ format: String) throws {
        let app = try PythonApp.start("lying_report.py")
        defer { app.stop() }
        // At most 1,000 a second, so the load lasts 0.2 s or more and the reads taken while it
        // runs (every 50 ms) see the lie: a closed-model load of 200 can end in 36 ms, before any.
        var arguments = ["load", "--url", "http://127.0.0.1:\(app.port)", "--increments", "200", "--concurrency", "4",
                         "--rate", "1000", "--timeout", "30", "--format", format]
        if format == "table" { arguments.append("--no-color") }
        let result = try StatelabCLI.run(arguments)
        #expect(result.status == 1, "\(result.stderr)\n\(result.stdout)")
        if format == "table" {
            #expect(result.stdout.contains("reads out of bounds"), "\(result.stdout)")
            let samples = result.stdout.split(separator: "\n").compactMap { ViolationLine(String($0)) }
            #expect(!samples.isEmpty, "no sample line in \(result.stdout)")
            for sample in samples {
                #expect(sample.pid == app.pid)
                #expect(sample.lower <= sample.upper && sample.upper <= 200, "\(sample)")
                #expect(sample.value > sample.upper, "the app answers 1,000 over what it counted: \(sample)")
            }
        } else {
            let json = try #require(result.json, "not JSON: \(result.stdout)")
            #expect((json["read_violations"] as? Int ?? 0) >= 1, "\(json)")
            let samples = try #require(json["read_violation_samples"] as? [[String: Any]])
            #expect(!samples.isEmpty)
            for sample in samples {
                #expect(sample["pid"] as? Int == Int(app.pid))
                let (value, lower, upper) = (sample["value"] as? Int ?? -1, sample["lower"] as? Int ?? -1, sample["upper"] as? Int ?? -1)
                #expect(lower >= 0 && lower <= upper && upper <= 200, "\(sample)")
                #expect(value > upper, "\(sample)")
                #expect((sample["at_s"] as? Double ?? -1) >= 0, "\(sample)")
            }
            #expect(json["verdict"] as? String == "errors")
            #expect(json["acknowledged"] as? Int == 200)
            #expect(json["lost"] as? Int == 0)
        }
    }

    // MARK: load --url against a counter that is not at 0

    @Test("load --url at a shm app already at 500: the baseline is subtracted, lost 0, unexpected 0, ok")
    func baselineIsSubtracted() throws {
        let (server, ready, dir) = try ServeProcessTests.serve(["--strategy", "shm", "--mode", "atomic", "--workers", "2"])
        defer {
            server.stop()
            try? FileManager.default.removeItem(atPath: dir)
        }
        let url = "http://127.0.0.1:\(ready.port)"
        let first = try StatelabCLI.run(["load", "--url", url, "--increments", "500", "--timeout", "30", "--format", "json"])
        #expect(first.status == 0, "\(first.stderr)\n\(first.stdout)")
        let result = try StatelabCLI.run(["load", "--url", url, "--increments", "1000", "--timeout", "30", "--format", "json"])
        #expect(result.status == 0, "\(result.stderr)\n\(result.stdout)")
        let json = try #require(result.json, "not JSON: \(result.stdout)")
        #expect(first.json?["acknowledged"] as? Int == 500, "\(first.stdout)")
        #expect(json["acknowledged"] as? Int == 1000, "failed \(json["failed"] ?? "?"), indeterminate \(json["indeterminate"] ?? "?")")
        #expect(json["lost"] as? Int == 0)
        #expect(json["unexpected"] as? Int == 0)
        #expect(json["read_violations"] as? Int == 0)
        #expect(json["verdict"] as? String == "ok")
        let notes = json["notes"] as? [String] ?? []
        #expect(notes.contains { $0.contains("the counter was at 500 before the load") }, "\(notes)")
        #expect(notes.contains { $0.hasPrefix("--shared auto: checked as one shared counter") }, "\(notes)")

        // --shared yes is taken as given: no guess, no reason printed.
        let told = try StatelabCLI.run(["load", "--url", url, "--increments", "300", "--shared", "yes", "--timeout", "30", "--format", "json"])
        #expect(told.status == 0, "\(told.stderr)\n\(told.stdout)")
        let toldJSON = try #require(told.json, "not JSON: \(told.stdout)")
        #expect(toldJSON["verdict"] as? String == "ok")
        #expect(toldJSON["lost"] as? Int == 0)
        #expect((toldJSON["notes"] as? [String] ?? []).contains { $0.contains("the counter was at 1,500 before the load") })
        #expect(!(toldJSON["notes"] as? [String] ?? []).contains { $0.contains("--shared") }, "\(toldJSON["notes"] ?? "")")
    }

    @Test("--reset-first at a global app resets one worker only, and says so; --shared no is taken as given")
    func resetFirstReachesOneWorker() throws {
        let (server, ready, dir) = try ServeProcessTests.serve(["--strategy", "global", "--workers", "2"])
        defer {
            server.stop()
            try? FileManager.default.removeItem(atPath: dir)
        }
        let url = "http://127.0.0.1:\(ready.port)"
        // Leave both workers' counters above 0 first.
        _ = try StatelabCLI.run(["load", "--url", url, "--increments", "301", "--timeout", "30", "--format", "json"])
        let result = try StatelabCLI.run(["load", "--url", url, "--reset-first", "--increments", "200", "--timeout", "30", "--format", "json"])
        let json = try #require(result.json, "not JSON: \(result.stdout)\n\(result.stderr)")
        let notes = json["notes"] as? [String] ?? []
        let resetNote = try #require(notes.first { $0.hasPrefix("--reset-first:") }, "\(notes)")
        #expect(resetNote.contains("reset that one worker only"), "\(resetNote)")
        let answeredBy = ready.pids.filter { resetNote.contains("answered by pid \($0)") }
        #expect(answeredBy.count == 1, "the note names one of \(ready.pids): \(resetNote)")
        #expect(notes.contains { $0.hasPrefix("--shared auto:") }, "the guess gives its reason: \(notes)")
        #expect(json["acknowledged"] as? Int == 200)

        let unshared = try StatelabCLI.run(["load", "--url", url, "--increments", "200", "--shared", "no", "--timeout", "30", "--format", "json"])
        #expect(unshared.status != 2, "--shared no is accepted: \(unshared.stderr)")
        let unsharedJSON = try #require(unshared.json, "not JSON: \(unshared.stdout)\n\(unshared.stderr)")
        #expect(unsharedJSON["lost"] as? Int == 0)
        #expect(unsharedJSON["unexpected"] as? Int == 0)
        let counts = (unsharedJSON["per_worker"] as? [[String: Any]] ?? []).compactMap { $0["count"] as? Int }
        #expect(counts.reduce(0, +) == 200, "each worker's baseline is subtracted from its own read: \(counts)")
        #expect(!(unsharedJSON["notes"] as? [String] ?? []).contains { $0.contains("--shared") })
    }

    // MARK: signals

    @Test("SIGINT during compare: the finished run is printed, exit 130, no process, run directory or shm segment left")
    func sigintDuringCompare() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let tmp = scratch.path + "/tmp"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: false)
        let path = try scratch.write("three.yaml", """
            name: trust-sigint
            app: {workers: 2}
            load: {duration: 2s, concurrency: 4}
            runs:
              - {strategy: shm, mode: atomic}
              - {strategy: shm, mode: atomic}
              - {strategy: shm, mode: atomic}
            """)
        let cli = try RunningCLI(["compare", "--scenario", path, "--format", "table", "--no-color"],
                                 environment: StatelabCLI.environment(["TMPDIR": tmp]))
        defer { cli.kill() }

        // The first run has finished once a second run directory appears.
        var first: String?
        let secondStarted = Self.waitUntil {
            let dirs = Self.runDirectories(in: tmp)
            if first == nil { first = dirs.first }
            return (first != nil && dirs.contains { $0 != first }) || !cli.isRunning
        }
        try #require(secondStarted && cli.isRunning, "the second run never started")
        // What the leftover check looks for can be seen: compare and its 2 workers, by their TMPDIR.
        #expect(Self.waitUntil { ProcessTable.mentioning(tmp).count >= 3 || !cli.isRunning },
                "\(ProcessTable.mentioning(tmp))")
        // The binary installs its own handler; a Foundation child starts with SIGINT at its default either way.
        cli.send(SIGINT)
        let result = try #require(cli.wait(timeout: Self.patience), "compare did not exit after SIGINT")

        #expect(result.status == 130, "\(result.stderr)\n\(result.stdout)")
        #expect(result.stderr.contains("statelab: interrupted by SIGINT"), "\(result.stderr)")
        // A table row: "shm       atomic        2  2,455 ...".
        let rows = result.stdout.split(separator: "\n").filter { $0.split(separator: " ").prefix(2) == ["shm", "atomic"] }
        #expect((1...2).contains(rows.count), "the finished runs' rows: \(result.stdout)")
        #expect(result.stderr.contains("after \(rows.count) of 3 runs"), "\(result.stderr)")
        #expect(result.stdout.contains("interrupted: only the runs above finished"), "\(result.stdout)")
        Self.expectNothingLeft(tmp: tmp, pid: cli.pid)
    }

    @Test("SIGTERM during load: exit 143, no process, run directory or shm segment left")
    func sigtermDuringLoad() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let tmp = scratch.path + "/tmp"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: false)
        let cli = try RunningCLI(["load", "--strategy", "shm", "--mode", "atomic", "--workers", "2", "--duration", "30s",
                                  "--format", "json"], environment: StatelabCLI.environment(["TMPDIR": tmp]))
        defer { cli.kill() }

        // The load is under way once the shared counter is above 0.
        let loading = Self.waitUntil {
            guard cli.isRunning else { return true }
            guard let dir = Self.runDirectories(in: tmp).first,
                  let answer = try? ControlClient.request("GET", "/report", socketPath: "\(tmp)/\(dir)/worker-0.sock", timeout: 5)
            else { return false }
            return (answer.count ?? 0) > 0
        }
        try #require(loading && cli.isRunning, "the load never started")
        #expect(ProcessTable.mentioning(tmp).count >= 3, "load and its 2 workers: \(ProcessTable.mentioning(tmp))")
        cli.send(SIGTERM)
        let result = try #require(cli.wait(timeout: Self.patience), "load did not exit after SIGTERM")
        #expect(result.status == 143, "\(result.stderr)\n\(result.stdout)")
        #expect(result.stderr.contains("statelab: interrupted by SIGTERM"), "\(result.stderr)")
        #expect(result.stdout.isEmpty, "nothing was checked, so nothing is reported: \(result.stdout)")
        Self.expectNothingLeft(tmp: tmp, pid: cli.pid)
    }

    // MARK: helpers

    static func runDirectories(in tmp: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: tmp)) ?? []).filter { $0.hasPrefix(RunDirectory.prefix) }.sorted()
    }

    /// No process mentions the private TMPDIR (workers inherit it), it holds
    /// no run directory, and no shm segment of that statelab pid is in /dev/shm.
    static func expectNothingLeft(tmp: String, pid: Int32) {
        let left = ProcessTable.waitNoneMentioning(tmp, timeout: patience)
        #expect(left.isEmpty, "left running: \(left.map { "\($0): \(ProcessTable.arguments($0).joined(separator: " "))" })")
        #expect(runDirectories(in: tmp).isEmpty, "left in TMPDIR: \(runDirectories(in: tmp))")
        // Segment names start with the creating process's pid: only this run's count.
        let segments = ServeProcessTests.shmSegments().filter { $0.hasPrefix("statelab-\(pid)-") }
        #expect(segments.isEmpty, "left in /dev/shm: \(segments)")
    }

    /// Waits (polling, bounded) until `condition` holds.
    static func waitUntil(timeout: Double = patience, _ condition: () -> Bool) -> Bool {
        Poll.until(timeout: timeout, condition)
    }
}

/// "shm/atomic:   pid 123 read 1,200 at 0.512 s, outside [180, 200]" from the table's notes.
struct ViolationLine: CustomStringConvertible {
    var pid: Int32
    var value: Int
    var at: Double
    var lower: Int
    var upper: Int

    init?(_ line: String) {
        guard let match = line.firstMatch(of: /pid (\d+) read ([\d,]+) at ([\d.]+) s, outside \[([\d,]+), ([\d,]+)\]/) else { return nil }
        func number(_ text: Substring) -> Int? { Int(text.replacingOccurrences(of: ",", with: "")) }
        guard let pid = Int32(match.1), let value = number(match.2), let at = Double(match.3),
              let lower = number(match.4), let upper = number(match.5) else { return nil }
        (self.pid, self.value, self.at, self.lower, self.upper) = (pid, value, at, lower, upper)
    }

    var description: String { "pid \(pid) read \(value) at \(at) s, outside [\(lower), \(upper)]" }
}

/// A Python app from Tests/Fixtures/apps, started on a port the kernel picks;
/// stopped by its pid, its scratch directory removed.
struct PythonApp {
    let process: ChildProcess
    let scratch: ScratchDirectory
    let port: Int
    let pid: Int32

    static func start(_ script: String) throws -> PythonApp {
        guard let python = ChildProcess.which("python3") else { throw StoreError("python3 not found") }
        let source = Repository.root.appendingPathComponent("Tests/Fixtures/apps/\(script)").path
        let scratch = try ScratchDirectory()
        let ready = scratch.path + "/ready"
        let log = scratch.path + "/app.log"
        let process: ChildProcess
        do {
            process = try ChildProcess.spawn(executable: python, arguments: [source, ready], outputFile: log)
        } catch {
            scratch.remove()
            throw error
        }
        // The script writes "port pid" (by rename) once it listens.
        let deadline = Date().addingTimeInterval(TrustTests.patience)
        while Date() < deadline, process.isRunning {
            if let text = try? String(contentsOfFile: ready, encoding: .utf8) {
                let fields = text.split(separator: " ").compactMap { Int($0) }
                if fields.count == 2 {
                    return PythonApp(process: process, scratch: scratch, port: fields[0], pid: Int32(fields[1]))
                }
            }
            usleep(20_000)
        }
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        process.stop()
        scratch.remove()
        throw StoreError("\(script) did not start: \(text)")
    }

    /// `pid` is what the app reported; a python3 that is a wrapper (pyenv's
    /// shim) execs into it, but if one did not, that pid is stopped too.
    func stop() {
        if pid != process.pid && ProcessTable.exists(pid) {
            kill(pid, SIGTERM)
            _ = ProcessTable.waitGone([pid])
        }
        process.stop()
        scratch.remove()
    }
}

/// The statelab binary running in the background, its stdout and stderr
/// drained while it runs, so a test can signal it and then read what it said.
final class RunningCLI: @unchecked Sendable {
    private let process = Process()
    private let group = DispatchGroup()
    private let lock = NSLock()
    private var out = Data(), err = Data()

    init(_ arguments: [String], environment: [String: String]) throws {
        process.executableURL = URL(fileURLWithPath: Binary.path)
        process.arguments = arguments
        process.environment = environment
        let outPipe = Pipe(), errPipe = Pipe()
        process.standardOutput = outPipe
        process.standardError = errPipe
        try process.run()
        DispatchQueue.global().async(group: group) { [self] in
            let data = outPipe.fileHandleForReading.readDataToEndOfFile()
            lock.withLock { out = data }
        }
        DispatchQueue.global().async(group: group) { [self] in
            let data = errPipe.fileHandleForReading.readDataToEndOfFile()
            lock.withLock { err = data }
        }
    }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }

    func send(_ signal: Int32) {
        if process.isRunning { Glibc.kill(pid, signal) }
    }

    /// Waits (bounded) for it to exit and its output to end; nil on timeout.
    func wait(timeout: Double) -> StatelabCLI.Result? {
        guard group.wait(timeout: .now() + timeout) == .success else { return nil }
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        guard !process.isRunning else { return nil }
        return lock.withLock {
            StatelabCLI.Result(status: process.terminationStatus, stdout: String(decoding: out, as: UTF8.self),
                               stderr: String(decoding: err, as: UTF8.self), seconds: 0)
        }
    }

    /// SIGKILL by its pid if it still runs (its app's processes die with it: PR_SET_PDEATHSIG).
    func kill() {
        guard process.isRunning else { return }
        Glibc.kill(pid, SIGKILL)
        process.waitUntilExit()
    }
}
