import Foundation
import StateLab
import StateLabTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The postgres strategy on a real PostgreSQL that statelab starts: 4 workers,
/// 2,000 increments over 32 keep-alive connections, every worker read through
/// its private socket. Serialized: each test runs a whole app and a server.
@Suite(.serialized)
struct PostgresTests {
    static let increments = 2_000
    static let requestTimeout = 30.0

    typealias Outcome = AppIntegrationTests.Outcome

    static func run(_ mode: Mode, raceWindow: Int = 0, retries: Int = PostgresOptions.defaultRetries,
                    increments: Int = PostgresTests.increments, postgres: PostgresOptions? = nil) async throws -> Outcome {
        var options = postgres ?? PostgresOptions()
        options.retries = retries
        let config = AppConfig(strategy: .postgres, mode: mode, workers: 4, port: 0, raceWindowMicros: raceWindow,
                               executable: Binary.path, postgres: options)
        let supervisor = try await OffThread.run { try Supervisor.start(config) }
        defer { supervisor.stop() }
        let load = LoadGenerator(plan: LoadPlan(port: supervisor.port, stop: .count(increments), concurrency: 32,
                                                timeout: requestTimeout))
        let result = try await load.run()
        let reads = supervisor.readAll()
        #expect(reads.count == 4, "every worker answers on its private socket")
        #expect(result.okCount + result.failCount + result.indeterminateCount == increments,
                "acknowledged + failed + indeterminate = sent")
        return Outcome(acknowledged: result.okCount, failed: result.failCount, indeterminate: result.indeterminateCount,
                       reads: reads, pids: Set(supervisor.workers.map(\.pid)))
    }

    @Test("locked, atomic and serializable lose nothing: every worker reads the acknowledged total", .enabled(if: PostgresRequirement.runs, PostgresRequirement.skipReason),
          arguments: ["locked", "atomic", "serializable"])
    func exact(_ name: String) async throws {
        let outcome = try await Self.run(Mode(rawValue: name)!)
        if name != "serializable" {
            #expect(outcome.failed == 0, "nothing refused in \(name) mode")
        }
        #expect(outcome.acknowledged > Self.increments / 2, "most increments acknowledged: \(outcome.acknowledged)")
        for read in outcome.reads {
            #expect(outcome.allowed.contains(read.value),
                    "worker \(read.worker ?? -1) pid \(read.pid): \(read.value) outside \(outcome.allowed)")
        }
    }

    @Test("naive read-then-write with a race window loses updates on PostgreSQL", .enabled(if: PostgresRequirement.runs, PostgresRequirement.skipReason))
    func naiveLoses() async throws {
        let outcome = try await Self.run(.naive, raceWindow: 200)
        let final = outcome.reads.map(\.value).max() ?? 0
        #expect(outcome.acknowledged > Self.increments / 2)
        #expect(final < outcome.acknowledged, "lost = \(outcome.acknowledged - final)")
        #expect(Set(outcome.reads.map(\.value)).count == 1, "one row: every worker reads the same")
    }

    /// With no retries and a 2 ms window, most transactions collide; each that
    /// PostgreSQL refuses must come back as failed (503, committed: false), and
    /// the row must hold exactly the acknowledged ones: none of the refused
    /// increments applied, and none of the acknowledged ones is missing.
    @Test("serializable past its retry bound answers fail, never ok, and the count is exact", .enabled(if: PostgresRequirement.runs, PostgresRequirement.skipReason))
    func retryBound() async throws {
        let outcome = try await Self.run(.serializable, raceWindow: 2_000, retries: 0, increments: 400)
        #expect(outcome.failed > 0, "16 transactions holding a 2 ms window on one row collide")
        #expect(outcome.acknowledged > 0, "the first to update the row commits")
        for read in outcome.reads {
            #expect(outcome.allowed.contains(read.value), "pid \(read.pid): \(read.value) outside \(outcome.allowed)")
        }
    }

    @Test("the retries a serializable run needed are in its result", .enabled(if: PostgresRequirement.runs, PostgresRequirement.skipReason))
    func retriesReported() async throws {
        let yaml = """
            name: pg-retries
            app: {workers: 4, race_window_us: 1000}
            load: {increments: 300, concurrency: 32}
            runs:
              - {strategy: postgres, mode: serializable, expect: {lost: 0, retries: ">0"}}
            """
        let scenario = try ScenarioLoader.parse(yaml: yaml, path: "pg-retries.yaml")
        let report = try await ScenarioRunner.run(scenario, executable: Binary.path)
        let run = try #require(report.runs.first)
        #expect(run.retries ?? 0 > 0, "a 1 ms window on one row makes transactions collide: \(run.notes)")
        #expect(run.failedExpectations.isEmpty, "\(run.expectations)")
        #expect(run.notes.contains { $0.contains("SQLSTATE 40001") })
    }

    @Test("--postgres-url: an existing server's table is created if missing and its row set to 0 for each app", .enabled(if: PostgresRequirement.runs, PostgresRequirement.skipReason))
    func existingServer() async throws {
        let server = try await OffThread.run { try PostgresServerProcess.launch() }
        defer { server.stop() }
        let options = PostgresOptions(url: server.url.secretText)
        let first = try await Self.run(.atomic, increments: 100, postgres: options)
        #expect(first.reads.allSatisfy { first.allowed.contains($0.value) })
        // A second app on the same server starts from 0 again.
        let config = AppConfig(strategy: .postgres, mode: .atomic, workers: 1, executable: Binary.path, postgres: options)
        let second = try await OffThread.run { try Supervisor.start(config) }
        defer { second.stop() }
        #expect(second.readAll().map(\.value) == [0])
        #expect(second.postgresPID == nil, "statelab starts no server of its own with --postgres-url")
    }

    @Test("a wrong password on --postgres-url fails the start with one line naming the server", .enabled(if: PostgresRequirement.runs, PostgresRequirement.skipReason))
    func wrongPassword() async throws {
        let server = try await OffThread.run { try PostgresServerProcess.launch() }
        defer { server.stop() }
        var url = server.url
        url.password = "wrong"
        let config = AppConfig(strategy: .postgres, mode: .atomic, workers: 1, executable: Binary.path,
                               postgres: PostgresOptions(url: url.secretText))
        do {
            let app = try await OffThread.run { try Supervisor.start(config) }
            app.stop()
            Issue.record("started with a wrong password")
        } catch {
            let text = "\(error)"
            #expect(text.contains("password authentication failed"), "\(text)")
            #expect(text.contains("--postgres-url"), "\(text)")
            #expect(!text.contains("wrong"), "the password is not echoed: \(text)")
        }
    }

    @Test("as root, a TMPDIR the postgres user cannot enter is one line naming the directory and the fix", .enabled(if: PostgresRequirement.runs, PostgresRequirement.skipReason), .enabled(if: getuid() == 0, "needs root"))
    func closedTemporaryDirectory() throws {
        let closed = FileManager.default.temporaryDirectory.appendingPathComponent("statelab-closed-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: closed + "/run", withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        chmod(closed, 0o700)
        defer { try? FileManager.default.removeItem(atPath: closed) }
        do {
            let server = try PostgresServerProcess.launch(in: closed + "/run")
            server.stop()
            Issue.record("started under a directory the postgres user cannot enter")
        } catch {
            #expect("\(error)".contains("cannot enter \(closed); set TMPDIR"), "\(error)")
            #expect((try? FileManager.default.contentsOfDirectory(atPath: closed + "/run")) == [], "nothing left behind")
        }
    }

    // MARK: - The server's processes and files

    /// `statelab serve --strategy postgres`: initdb and a first start take seconds on a busy machine.
    static func serve() throws -> (ChildProcess, ServeProcessTests.Ready, String) {
        try ServeProcessTests.serve(["--strategy", "postgres", "--mode", "atomic", "--workers", "2"], timeout: 120)
    }

    /// The System V segment ids in use (from /proc/sysvipc/shm, what `ipcs -m` lists).
    static func systemVSegments() -> Set<Int> {
        guard let text = ProcFile.read("/proc/sysvipc/shm") else { return [] }
        return Set(text.split(separator: "\n").dropFirst().compactMap { line in
            line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Int($0) }
        })
    }

    /// The segment id the server recorded in postmaster.pid.
    static func segment(dataDirectory: String) -> Int? {
        PostmasterPID(dataDirectory: dataDirectory)?.segment.map { Int($0.id) }
    }

    /// Whether any of `pids` maps a POSIX shared memory segment of PostgreSQL's (/dev/shm/PostgreSQL.*).
    static func mapsDevShm(_ pids: [Int32]) -> Bool {
        pids.contains { pid in
            (ProcFile.read("/proc/\(pid)/maps") ?? "").contains("/dev/shm/PostgreSQL")
        }
    }

    /// Dynamic shared memory as files in the data directory: its control segment is one from the start.
    static func usesMmapSegments(dataDirectory: String) -> Bool {
        ((try? FileManager.default.contentsOfDirectory(atPath: dataDirectory + "/pg_dynshmem")) ?? []).contains { $0.hasPrefix("mmap.") }
    }

    /// The server and every process it started (backends, checkpointer, ...).
    static func serverProcesses(_ postmaster: Int32) -> [Int32] {
        [postmaster] + ProcessTable.children(of: postmaster)
    }

    @Test("kill -9 of statelab serve --strategy postgres leaves no postgres process, shared memory or System V segment; the next run removes its directory", .enabled(if: PostgresRequirement.runs, PostgresRequirement.skipReason))
    func sigkillLeavesNothing() throws {
        let (serve, ready, dir) = try Self.serve()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let postmaster = try #require(ready.postgres_pid)
        let data = try #require(ready.postgres_data)
        let segment = try #require(Self.segment(dataDirectory: data), "postmaster.pid names its segment")
        #expect(Self.systemVSegments().contains(segment))
        let processes = Self.serverProcesses(postmaster)
        #expect(processes.count > 1, "a postmaster and its helpers")
        // Nothing of this server's in /dev/shm (initdb's bootstrap in other suites may put some there for a moment).
        #expect(Self.usesMmapSegments(dataDirectory: data), "dynamic shared memory is mmap'ed files in the data directory")
        #expect(!Self.mapsDevShm(processes), "no process of the server maps /dev/shm")

        serve.send(SIGKILL)
        #expect(serve.wait(timeout: 30))
        #expect(ProcessTable.waitGone(processes + ready.pids, timeout: 60).isEmpty,
                "left running: \(ProcessTable.waitGone(processes + ready.pids, timeout: 0))")
        #expect(!Self.systemVSegments().contains(segment), "the server removed its segment on the way out")
        // The next run sweeps the dead supervisor's run directory, the server's data with it.
        let next = try Supervisor.start(AppConfig(strategy: .global, workers: 1, executable: Binary.path))
        next.stop()
        #expect(!FileManager.default.fileExists(atPath: ready.run_dir))
        #expect(!FileManager.default.fileExists(atPath: data))
    }

    @Test("SIGTERM of statelab serve --strategy postgres leaves nothing once it exits", .enabled(if: PostgresRequirement.runs, PostgresRequirement.skipReason))
    func sigtermLeavesNothing() throws {
        let (serve, ready, dir) = try Self.serve()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let postmaster = try #require(ready.postgres_pid)
        let data = try #require(ready.postgres_data)
        let segment = try #require(Self.segment(dataDirectory: data))
        let processes = Self.serverProcesses(postmaster)
        serve.send(SIGTERM)
        #expect(serve.wait(timeout: 60))
        // At once: serve stops the server before it exits.
        #expect(processes.filter(ProcessTable.exists).isEmpty, "still running: \(processes.filter(ProcessTable.exists))")
        #expect(!Self.systemVSegments().contains(segment))
        #expect(!FileManager.default.fileExists(atPath: ready.run_dir))
        let output = (try? String(contentsOfFile: dir + "/serve.out", encoding: .utf8)) ?? ""
        if getuid() == 0 {
            #expect(output.contains("runs initdb and postgres as the postgres user"), "root is told, in one line: \(output)")
        }
    }
}
