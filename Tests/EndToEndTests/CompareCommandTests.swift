import Foundation
import StateLab
import StateLabTestSupport
import Testing

/// `statelab compare` as a person runs it: the real binary, real apps, exit codes and every format.
@Suite(.serialized)
struct CompareCommandTests {
    /// Two runs that always come out the same way. 301 increments over 2 global
    /// workers can never split evenly, so global/naive is divergent every time
    /// (even if every connection lands on one worker).
    static let twoRuns = """
        name: cli-two-runs
        app:
          workers: 2
        load:
          increments: 301
          concurrency: 16
        runs:
          - strategy: shm
            mode: atomic
            expect: {lost: 0, acknowledged: 301}
          - strategy: global
            mode: naive
            expect: {divergent: true, lost: 0}
        """

    static func oneRun(_ strategy: String = "shm", expect: String = "{lost: 0}") -> String {
        """
        name: cli-one-run
        app:
          workers: 1
        load:
          increments: 100
          concurrency: 4
        runs:
          - strategy: \(strategy)
            mode: atomic
            expect: \(expect)
        """
    }

    // MARK: malformed scenarios

    /// The fixture's "# expect: TEXT" and "# at: L:C" (or "none") header lines.
    static func header(of path: String) throws -> (expected: String, place: String?) {
        let data = try #require(FileManager.default.contents(atPath: path))
        let lines = data.split(separator: UInt8(ascii: "\n"), maxSplits: 2, omittingEmptySubsequences: false)
            .prefix(2).map { String(decoding: $0, as: UTF8.self) }
        func value(_ prefix: String, _ index: Int) -> String? {
            guard lines.count > index, lines[index].hasPrefix(prefix) else { return nil }
            return lines[index].dropFirst(prefix.count).trimmingCharacters(in: .whitespaces)
        }
        let expected = try #require(value("# expect:", 0), "\(path) has no # expect: line")
        let place = try #require(value("# at:", 1), "\(path) has no # at: line")
        return (expected, place == "none" ? nil : place)
    }

    /// TMPDIR points at a directory that does not exist: any app run would fail
    /// to make its run directory and say so instead of the fixture's error, so a
    /// passing fixture proves nothing was started. (An existing, empty TMPDIR
    /// would prove less: a finished run removes its run directory.)
    @Test("every malformed fixture: exit 2, one stderr line naming file and place, nothing started")
    func malformedScenarios() throws {
        let fixtures = Repository.yamlFiles(in: "Tests/Fixtures/BadScenarios")
        #expect(fixtures.count >= 56)
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let environment = StatelabCLI.environment(["TMPDIR": scratch.path + "/not-created"])
        for path in fixtures {
            let (expected, place) = try Self.header(of: path)
            // A deadline for a hang only: a busy machine has taken 15 s to start the debug binary.
            let result = try StatelabCLI.run(["compare", "--scenario", path], environment: environment, timeout: 120)
            #expect(result.status == 2, "\(path): exit \(result.status)")
            #expect(result.stdout.isEmpty, "\(path) printed: \(result.stdout)")
            #expect(result.stderrLines.count == 1, "\(path): \(result.stderr)")
            let line = result.stderrLines.first ?? ""
            #expect(line.contains(expected), "\(path): \(line)")
            let prefix = "statelab: " + path + (place.map { ":\($0): " } ?? ": ")
            #expect(line.hasPrefix(prefix), "\(path): expected \(prefix)...: \(line)")
        }
        #expect(scratch.contents.isEmpty, "left behind: \(scratch.contents)")
    }

    /// The trap above works: with that TMPDIR, a good scenario cannot start its app.
    @Test("a run that cannot start exits 2 with one line")
    func runThatCannotStart() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let path = try scratch.write("one.yaml", Self.oneRun())
        let environment = StatelabCLI.environment(["TMPDIR": scratch.path + "/not-created"])
        let result = try StatelabCLI.run(["compare", "--scenario", path], environment: environment, timeout: 120)
        #expect(result.status == 2)
        #expect(result.stderrLines.count == 1, "\(result.stderr)")
        #expect(result.stderr.contains("shm/atomic could not start"), "\(result.stderr)")
        #expect(result.stderr.contains("run directory"), "\(result.stderr)")
        #expect(result.stdout.isEmpty)
    }

    /// Cheap proof that no --scenario means the built-in quickstart: its first
    /// run (global/naive) is the one that cannot start without a temp dir.
    @Test("no --scenario runs the built-in quickstart")
    func builtInScenario() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let environment = StatelabCLI.environment(["TMPDIR": scratch.path + "/not-created"])
        let result = try StatelabCLI.run(["compare"], environment: environment, timeout: 120)
        #expect(result.status == 2)
        #expect(result.stderrLines.count == 1, "\(result.stderr)")
        #expect(result.stderr.hasPrefix("statelab: global/naive could not start: "), "\(result.stderr)")
    }

    /// Cheap proof that a name resolves to the built-in scenario: divergence's
    /// first run cannot start without a temp dir (no file "divergence" here).
    @Test("--scenario NAME runs the built-in scenario of that name")
    func builtInScenarioByName() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let environment = StatelabCLI.environment(["TMPDIR": scratch.path + "/not-created"])
        let result = try StatelabCLI.run(["compare", "--scenario", "divergence"], environment: environment, timeout: 120)
        #expect(result.status == 2)
        #expect(result.stderr.hasPrefix("statelab: global/naive could not start: "), "\(result.stderr)")
    }

    @Test("--list-scenarios lists every shipped scenario by name")
    func listScenarios() throws {
        let result = try StatelabCLI.run(["compare", "--list-scenarios"], timeout: 60)
        #expect(result.status == 0, "\(result.stderr)")
        let listed = result.stdout.split(separator: "\n").map { String($0.prefix { $0 != " " }) }
        let shipped = try FileManager.default.contentsOfDirectory(atPath: Repository.root.appendingPathComponent("Scenarios").path)
            .filter { $0.hasSuffix(".yaml") }.map { String($0.dropLast(5)) }.sorted()
        #expect(listed == shipped, "\(result.stdout)")
        #expect(result.stdout.contains("quickstart           Naive vs atomic on every strategy"), "\(result.stdout)")
    }

    @Test("an unknown scenario name: exit 2, one line that lists the built-in ones")
    func unknownName() throws {
        let result = try StatelabCLI.run(["compare", "--scenario", "quickstrat"], timeout: 60)
        #expect(result.status == 2)
        #expect(result.stderrLines.count == 1, "\(result.stderr)")
        #expect(result.stderr.contains("quickstrat: cannot read: no such file; check the path, or name a built-in scenario: "), "\(result.stderr)")
    }

    @Test("a missing scenario file: exit 2, one line")
    func missingFile() throws {
        let result = try StatelabCLI.run(["compare", "--scenario", "/nonexistent/statelab.yaml"], timeout: 120)
        #expect(result.status == 2)
        #expect(result.stderrLines == ["statelab: /nonexistent/statelab.yaml: cannot read: no such file; check the path"])
    }

    // MARK: JSON

    @Test("two runs: exit 0 and a statelab.compare/1 document with every key")
    func jsonHasEveryKey() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let path = try scratch.write("two.yaml", Self.twoRuns)
        let result = try StatelabCLI.run(["compare", "--scenario", path, "--format", "json"])
        #expect(result.status == 0, "\(result.stderr)\n\(result.stdout)")
        let json = try #require(result.json, "not JSON: \(result.stdout)")
        #expect(json["schema"] as? String == "statelab.compare/1")
        let scenario = json["scenario"] as? [String: Any]
        #expect(scenario?["name"] as? String == "cli-two-runs")
        #expect(scenario?["path"] as? String == path)
        #expect(json["all_expectations_held"] as? Bool == true)

        let runs = try #require(json["runs"] as? [[String: Any]])
        try #require(runs.count == 2)
        for run in runs {
            for key in ["strategy", "mode", "workers", "acknowledged", "failed", "indeterminate", "final_min",
                        "final_max", "lost", "unexpected", "duplicates", "divergent", "throughput_rps",
                        "latency_ms", "per_worker", "expectations"] {
                #expect(run.keys.contains(key), "missing \(key) in \(run)")
            }
            #expect(run["divergent"] is Bool)
            #expect((run["throughput_rps"] as? Double ?? 0) > 0)
            let latency = try #require(run["latency_ms"] as? [String: Double], "\(run["latency_ms"] ?? "nil")")
            #expect(Set(latency.keys) == ["p50", "p90", "p99", "p999", "max"])
            #expect(latency["p50"]! <= latency["max"]!)
            let perWorker = try #require(run["per_worker"] as? [[String: Any]])
            #expect(perWorker.count == 2, "\(perWorker)")
            for worker in perWorker {
                #expect((worker["pid"] as? Int ?? 0) > 0)
                #expect(worker["count"] is Int)
                #expect(worker["acknowledged"] is Int)
            }
            let expectations = try #require(run["expectations"] as? [[String: Any]])
            #expect(!expectations.isEmpty)
            for expectation in expectations {
                #expect(expectation["text"] is String)
                #expect(expectation["held"] as? Bool == true, "\(expectation)")
            }
        }

        let shm = runs[0], global = runs[1]
        #expect(shm["strategy"] as? String == "shm")
        #expect(shm["mode"] as? String == "atomic")
        #expect(shm["workers"] as? Int == 2)
        #expect(shm["acknowledged"] as? Int == 301)
        #expect(shm["lost"] as? Int == 0)
        #expect(shm["final_min"] as? Int == 301)
        #expect(shm["final_max"] as? Int == 301)
        #expect(shm["divergent"] as? Bool == false)
        #expect(global["strategy"] as? String == "global")
        #expect(global["mode"] as? String == "naive")
        #expect(global["divergent"] as? Bool == true)
        #expect(global["lost"] as? Int == 0)
        let counts = (global["per_worker"] as? [[String: Any]] ?? []).compactMap { $0["count"] as? Int }
        #expect(counts.reduce(0, +) == 301, "\(counts)")
        #expect((global["final_min"] as? Int ?? -1) + (global["final_max"] as? Int ?? -1) == 301)
    }

    @Test("an expectation that cannot hold: exit 1, held false")
    func failedExpectation() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let path = try scratch.write("fails.yaml", Self.oneRun(expect: "{lost: \">0\"}"))
        let result = try StatelabCLI.run(["compare", "--scenario", path, "--format", "json"])
        #expect(result.status == 1, "\(result.stderr)")
        let json = try #require(result.json, "not JSON: \(result.stdout)")
        #expect(json["all_expectations_held"] as? Bool == false)
        let run = try #require((json["runs"] as? [[String: Any]])?.first)
        #expect(run["lost"] as? Int == 0)
        let expectation = try #require((run["expectations"] as? [[String: Any]])?.first)
        #expect(expectation["text"] as? String == "lost > 0")
        #expect(expectation["held"] as? Bool == false)
    }

    // MARK: output and the other formats

    @Test("--output writes the file and prints nothing on stdout")
    func outputFile() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let path = try scratch.write("one.yaml", Self.oneRun())
        let target = scratch.path + "/report.txt"
        let result = try StatelabCLI.run(["compare", "--scenario", path, "--output", target])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.isEmpty, "printed: \(result.stdout)")
        let written = try String(contentsOfFile: target, encoding: .utf8)
        #expect(written.contains("shm"), "\(written)")
        #expect(written.contains("atomic"))
        #expect(!written.contains("\u{1B}["), "colour escapes in a file")

        // Refused before any run starts: one line, and nothing on stdout.
        let unwritable = try StatelabCLI.run(["compare", "--scenario", path, "--output", "/nonexistent/dir/out.txt"])
        #expect(unwritable.status == 2)
        #expect(unwritable.stderrLines == ["statelab: --output /nonexistent/dir/out.txt: the directory /nonexistent/dir does not exist; create it or choose another path"],
                "\(unwritable.stderr)")
        #expect(unwritable.stdout.isEmpty)
    }

    @Test("--format csv: a header and one row per run, every row as wide as the header")
    func csv() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let path = try scratch.write("one.yaml", Self.oneRun())
        let result = try StatelabCLI.run(["compare", "--scenario", path, "--format", "csv"])
        #expect(result.status == 0, "\(result.stderr)")
        // Every line ends in CRLF, the last one too, and nothing follows it.
        #expect(result.stdout.utf8.suffix(2).elementsEqual("\r\n".utf8), "\(result.stdout.debugDescription)")
        #expect(result.stdout.utf8.filter { $0 == 10 }.count == result.stdout.utf8.filter { $0 == 13 }.count)
        let rows = CSV.parse(result.stdout)
        try #require(rows.count == 2, "\(rows)")
        let header = rows[0]
        #expect(header.first == "label")
        #expect(rows.allSatisfy { $0.count == header.count }, "\(rows.map(\.count))")
        let row = Dictionary(uniqueKeysWithValues: zip(header, rows[1]))
        #expect(row["strategy"] == "shm")
        #expect(row["mode"] == "atomic")
        #expect(row["acknowledged"] == "100")
        #expect(row["lost"] == "0")
        #expect(row["verdict"] == "ok")
        #expect(row["divergent"] == "false")
        #expect(row["expectations_held"] == "1")
    }

    @Test("--format markdown: a title and a GitHub table as wide as its header")
    func markdown() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let path = try scratch.write("one.yaml", Self.oneRun())
        let result = try StatelabCLI.run(["compare", "--scenario", path, "--format", "markdown"])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.first == "## statelab compare: cli-one-run")
        #expect(result.stdout.contains("Scenario file: `\(path)`"))
        let table = lines.filter { $0.hasPrefix("| ") || $0.hasPrefix("|-") || $0.hasPrefix("|:") }
        try #require(table.count >= 3, "\(result.stdout)")
        func cells(_ line: String) -> Int { line.filter { $0 == "|" }.count }
        #expect(table.allSatisfy { cells($0) == cells(table[0]) }, "\(table)")
        #expect(table[1].contains("---"), "no alignment row: \(table[1])")
        #expect(table[2].contains("shm"))
        #expect(!result.stdout.contains("\u{1B}["))
    }

    // MARK: redis that cannot run

    /// The binary is started by absolute path and starts its workers the same
    /// way, so a PATH without redis-server makes only redis unavailable, unless
    /// redis-server sits in one of the sbin folders ChildProcess.which also tries.
    @Test("no redis-server on PATH: the redis run is skipped and does not fail the comparison")
    func redisSkipped() throws {
        let sbin = ["/usr/sbin/redis-server", "/usr/local/sbin/redis-server"]
        if sbin.contains(where: { FileManager.default.isExecutableFile(atPath: $0) }) {
            print("skipping: redis-server is in an sbin folder, so PATH cannot hide it")
            return
        }
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let scenario = Self.oneRun() + """

              - strategy: redis
                mode: atomic
                expect: {lost: 0}
            """
        let path = try scratch.write("redis.yaml", scenario)
        let environment = StatelabCLI.environment(["PATH": "/nonexistent"])
        let result = try StatelabCLI.run(["compare", "--scenario", path, "--format", "json"], environment: environment)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderrLines.count == 1, "\(result.stderr)")
        #expect(result.stderr.contains("skipped redis/atomic: redis-server not found"), "\(result.stderr)")
        let json = try #require(result.json, "not JSON: \(result.stdout)")
        #expect(json["all_expectations_held"] as? Bool == true)
        let runs = try #require(json["runs"] as? [[String: Any]])
        try #require(runs.count == 2)
        #expect(runs[0]["skipped"] is NSNull)
        #expect(runs[0]["acknowledged"] as? Int == 100)
        #expect((runs[1]["skipped"] as? String)?.contains("apt-get install -y redis-server") == true, "\(runs[1])")
        #expect(runs[1]["acknowledged"] is NSNull)
        #expect((runs[1]["expectations"] as? [[String: Any]])?.first?["held"] is NSNull)
    }

    @Test("--redis-url at a closed port: the redis run cannot start, exit 2 with one line")
    func redisURLUnreachable() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let path = try scratch.write("redis.yaml", Self.oneRun("redis"))
        // Its own temp dir: the run directory made for the failed start must be gone afterwards.
        let tmp = scratch.path + "/tmp"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: false)
        let result = try StatelabCLI.run(["compare", "--scenario", path, "--redis-url", "redis://127.0.0.1:1"],
                                         environment: StatelabCLI.environment(["TMPDIR": tmp]), timeout: 120)
        #expect(result.status == 2)
        #expect((try? FileManager.default.contentsOfDirectory(atPath: tmp)) == [], "left in TMPDIR")
        #expect(result.stderrLines.count == 1, "\(result.stderr)")
        #expect(result.stderr.hasPrefix("statelab: redis/atomic could not start: "), "\(result.stderr)")
        #expect(result.stdout.isEmpty)
    }

    // MARK: the issue's acceptance test

    @Test("Scenarios/quickstart.yaml: exit 0 and every expectation held")
    func quickstart() throws {
        let path = Repository.root.appendingPathComponent("Scenarios/quickstart.yaml").path
        // Without redis-server the redis rows are skipped (and say why), never failed; CI requires them.
        let redisRuns = RedisRequirement.shouldRun()
        let postgresRuns = PostgresRequirement.shouldRun()
        let result = try StatelabCLI.run(["compare", "--scenario", path, "--format", "json"], timeout: 300)
        print("quickstart took \(String(format: "%.1f", result.seconds))s")
        #expect(result.status == 0, "\(result.stderr)\n\(result.stdout)")
        let json = try #require(result.json, "not JSON: \(result.stdout)")
        #expect(json["all_expectations_held"] as? Bool == true)
        let runs = try #require(json["runs"] as? [[String: Any]])
        #expect(runs.count == 11)
        for run in runs {
            let label = "\(run["strategy"] ?? "?")/\(run["mode"] ?? "?")"
            if (run["strategy"] as? String == "redis" && !redisRuns) || (run["strategy"] as? String == "postgres" && !postgresRuns) {
                #expect(run["skipped"] is String, "\(label)")
                continue
            }
            #expect(run["skipped"] is NSNull, "\(label) was skipped: \(run["skipped"] ?? "")")
            for expectation in run["expectations"] as? [[String: Any]] ?? [] {
                #expect(expectation["held"] as? Bool == true, "\(label): \(expectation)")
            }
        }
    }
}
