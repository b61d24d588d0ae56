import Foundation
import Testing
@testable import StateLab

/// Scenario files: the shipped ones load, good ones parse to the right values,
/// and every malformed one fails with one line naming the file and the place.
@Suite struct ScenarioTests {
    static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let badScenarios = repository.appendingPathComponent("Tests/Fixtures/BadScenarios")
    static let shippedScenarios = repository.appendingPathComponent("Scenarios")

    static func yamlFiles(in directory: URL) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasSuffix(".yaml") }.sorted().map { directory.appendingPathComponent($0).path }
    }

    static let badFiles = yamlFiles(in: badScenarios)
    static let shippedFiles = yamlFiles(in: shippedScenarios)

    // MARK: malformed scenarios

    @Test func thereAreEnoughMalformedScenarios() {
        #expect(Self.badFiles.count >= 32)
    }

    /// Each fixture starts with "# expect: <substring of the error>" and
    /// "# at: LINE:COLUMN" (or "# at: none" when no place applies).
    @Test(arguments: badFiles) func malformedScenarioFailsWithOneClearLine(path: String) throws {
        let header = try #require(FileManager.default.contents(atPath: path))
            .split(separator: UInt8(ascii: "\n"), maxSplits: 2, omittingEmptySubsequences: false)
            .prefix(2).map { String(decoding: $0, as: UTF8.self) }
        let expected = try #require(header.first.flatMap { Self.value(of: "# expect:", in: $0) }, "no # expect: line")
        let place = try #require(header.dropFirst().first.flatMap { Self.value(of: "# at:", in: $0) }, "no # at: line")

        let error = try #require(throws: ScenarioError.self) { try ScenarioLoader.load(path: path) }
        let message = error.description
        #expect(message.contains(expected), "\(message)")
        #expect(!message.contains("\n"), "not one line: \(message)")
        #expect(message.hasPrefix(path + ":"), "does not name the file: \(message)")
        if place == "none" {
            #expect(error.line == nil)
            #expect(message.hasPrefix(path + ": "))
        } else {
            #expect(message.hasPrefix("\(path):\(place): "), "expected place \(place): \(message)")
        }
        // Every message says what to do about it.
        #expect(message.contains("; "), "no fix: \(message)")
    }

    static func value(of prefix: String, in line: String) -> String? {
        guard line.hasPrefix(prefix) else { return nil }
        return line.dropFirst(prefix.count).trimmingCharacters(in: .whitespaces)
    }

    @Test func missingFileCannotBeRead() {
        let path = "/nonexistent/statelab/none.yaml"
        let error = #expect(throws: ScenarioError.self) { try ScenarioLoader.load(path: path) }
        #expect(error?.description == "\(path): cannot read: no such file; check the path")
    }

    @Test func directoryCannotBeRead() {
        let path = Self.badScenarios.path
        let error = #expect(throws: ScenarioError.self) { try ScenarioLoader.load(path: path) }
        #expect(error?.description.hasPrefix("\(path): cannot read: it is a directory") == true)
    }

    @Test func parseNamesThePathItWasGiven() {
        let error = #expect(throws: ScenarioError.self) {
            try ScenarioLoader.parse(yaml: "name: x\napp:\n  worker: 4\n", path: "x.yaml")
        }
        #expect(error?.description == "x.yaml:3:3: unknown key 'worker' in app; did you mean 'workers'?")
    }

    // MARK: shipped scenarios

    @Test func everyShippedScenarioLoads() throws {
        let names = Self.shippedFiles.map { URL(fileURLWithPath: $0).lastPathComponent }
        for required in ["quickstart.yaml", "lost-updates.yaml", "divergence.yaml", "reset.yaml", "cost-of-correctness.yaml"] {
            #expect(names.contains(required))
        }
        for path in Self.shippedFiles {
            let scenario = try ScenarioLoader.load(path: path)
            #expect(!scenario.runs.isEmpty)
            #expect(scenario.sourcePath == path)
            let text = try String(contentsOfFile: path, encoding: .utf8)
            #expect(text.hasPrefix("#"), "\(path) has no header comment saying what it teaches")
        }
    }

    @Test func quickstartCoversEveryStrategyNaiveAndAtomic() throws {
        let scenario = try ScenarioLoader.load(path: Self.shippedScenarios.appendingPathComponent("quickstart.yaml").path)
        let labels = scenario.runs.map(\.label)
        #expect(labels == ["global/naive", "manager/naive", "manager/atomic", "shm/naive", "shm/atomic",
                           "sqlite/naive", "sqlite/atomic", "redis/naive", "redis/atomic",
                           "postgres/naive", "postgres/atomic"])
        #expect(scenario.runs.allSatisfy { $0.app == AppSettings(workers: 4, raceWindowMicros: 100, threads: 4) })
        #expect(scenario.load.limit == .increments(2000) && scenario.load.concurrency == 32)
        for run in scenario.runs {
            let texts = run.expectations.map(\.text)
            switch (run.strategy, run.mode) {
            case (.global, _): #expect(texts.contains("divergent == true"))
            case (_, .atomic): #expect(texts.contains("lost == 0"))
            default: #expect(texts.contains("lost > 0"))
            }
        }
    }

    @Test func divergenceOverridesWorkersPerRun() throws {
        let scenario = try ScenarioLoader.load(path: Self.shippedScenarios.appendingPathComponent("divergence.yaml").path)
        #expect(scenario.runs.map(\.app.workers) == [1, 4])
        #expect(scenario.runs.allSatisfy { $0.strategy == .global && $0.mode == .naive })
    }

    // MARK: good scenarios parse to the right values

    @Test func minimalScenarioGetsTheDefaults() throws {
        let scenario = try ScenarioLoader.parse(yaml: """
            name: tiny
            load: {increments: 100}
            runs:
              - strategy: global
            """, path: "tiny.yaml")
        #expect(scenario.name == "tiny" && scenario.description == nil)
        #expect(scenario.app == AppSettings(workers: 4, raceWindowMicros: 0, threads: 4))
        #expect(scenario.load == LoadSettings(limit: .increments(100), concurrency: 32, rate: nil, resetAfter: nil,
                                              timeout: .seconds(5)))
        #expect(scenario.runs == [RunSpec(strategy: .global, mode: .naive, app: .defaults, expectations: [], line: 4)])
        #expect(scenario.expectations.isEmpty)
    }

    @Test func everyKeyIsRead() throws {
        let scenario = try ScenarioLoader.parse(yaml: """
            # comment
            name: full
            description: "all the keys"
            app: {workers: 8, race_window_us: 50, threads: 2, listen: shared}
            load:
              duration: 1.5s
              concurrency: 64
              rate: 250.5
              reset_after: 10
              timeout: 750ms
            runs:
              - {strategy: redis, mode: locked}
            """, path: "full.yaml")
        #expect(scenario.description == "all the keys")
        #expect(scenario.app == AppSettings(workers: 8, raceWindowMicros: 50, threads: 2, listen: .shared))
        #expect(scenario.load == LoadSettings(limit: .duration(.milliseconds(1500)), concurrency: 64, rate: 250.5,
                                              resetAfter: 10, timeout: .milliseconds(750)))
        #expect(scenario.runs.first?.line == 12)
    }

    @Test func rateZeroIsTheClosedModel() throws {
        let scenario = try ScenarioLoader.parse(yaml: "name: x\nload: {increments: 5, rate: 0}\nruns: [{strategy: global}]",
                                                path: "x.yaml")
        #expect(scenario.load.rate == nil)
    }

    @Test func runAppOverridesOnlyTheKeysItNames() throws {
        let scenario = try ScenarioLoader.parse(yaml: """
            name: x
            app: {workers: 2, race_window_us: 10}
            load: {increments: 10}
            runs:
              - {strategy: shm, mode: naive, app: {race_window_us: 500}}
              - {strategy: shm, mode: naive}
            """, path: "x.yaml")
        #expect(scenario.runs[0].app == AppSettings(workers: 2, raceWindowMicros: 500, threads: 4))
        #expect(scenario.runs[1].app == AppSettings(workers: 2, raceWindowMicros: 10, threads: 4))
        #expect(scenario.runs.map(\.line) == [5, 6])
    }

    @Test func runExpectationsAddToAndOverrideTheScenarios() throws {
        let scenario = try ScenarioLoader.parse(yaml: """
            name: x
            load: {increments: 10}
            expect: {divergent: false, lost: 0}
            runs:
              - strategy: shm
                mode: naive
                expect: {lost: ">0", verdict: lost-updates}
              - strategy: shm
                mode: atomic
            """, path: "x.yaml")
        #expect(scenario.runs[0].expectations.map(\.text) == ["divergent == false", "lost > 0", "verdict == lost-updates"])
        #expect(scenario.runs[1].expectations.map(\.text) == ["divergent == false", "lost == 0"])
        #expect(scenario.expectations.map(\.text) == ["divergent == false", "lost == 0"])
    }

    @Test(arguments: [
        ("500ms", Duration.milliseconds(500)), ("5s", .seconds(5)), ("1m", .seconds(60)), ("1.5s", .milliseconds(1500)),
        ("2", .seconds(2)), ("0.25", .milliseconds(250)), ("\"3\"", .seconds(3)), ("10 s", .seconds(10)),
    ])
    func durationsParse(text: String, expected: Duration) throws {
        let scenario = try ScenarioLoader.parse(yaml: "name: x\nload: {duration: \(text)}\nruns: [{strategy: global}]",
                                                path: "x.yaml")
        #expect(scenario.load.limit == .duration(expected))
    }

    @Test(arguments: ["5 minutes", "5h", "-1s", "s", "1.2.3s", "ms", "1e3ms", "inf"])
    func badDurationsFail(text: String) {
        #expect(throws: ScenarioError.self) {
            try ScenarioLoader.parse(yaml: "name: x\nload: {duration: \"\(text)\"}\nruns: [{strategy: global}]", path: "x.yaml")
        }
    }

    // MARK: expectations

    @Test func comparisonsParse() {
        #expect(Comparison.parse(">0") == .greater(0))
        #expect(Comparison.parse(">= 10") == .greaterOrEqual(10))
        #expect(Comparison.parse("<5") == .less(5))
        #expect(Comparison.parse("<=5") == .lessOrEqual(5))
        #expect(Comparison.parse("!=0") == .notEqual(0))
        #expect(Comparison.parse("==3") == .equal(3))
        #expect(Comparison.parse("10..20") == .within(10, 20))
        #expect(Comparison.parse("-1..1.5") == .within(-1, 1.5))
        #expect(Comparison.parse("7") == .equal(7))
        for bad in ["", ">", ">>0", "=<3", "20..10", "a..b", "0x10", "nan", "inf", "1..", "lots"] {
            #expect(Comparison.parse(bad) == nil, "\(bad)")
        }
    }

    @Test func expectationsHold() {
        let fields: [String: ResultValue] = [
            "lost": .number(12), "divergent": .bool(true), "verdict": .text("lost-updates"), "p99_ms": .number(4.5),
        ]
        func holds(_ field: String, _ comparison: Comparison) -> Bool {
            Expectation(field: field, comparison: comparison).holds(in: fields)
        }
        #expect(holds("lost", .greater(0)))
        #expect(!holds("lost", .equal(0)))
        #expect(holds("lost", .within(10, 20)) && holds("lost", .within(12, 12)))
        #expect(!holds("lost", .within(13, 20)))
        #expect(holds("lost", .notEqual(0)) && holds("lost", .greaterOrEqual(12)) && !holds("lost", .less(12)))
        #expect(holds("p99_ms", .lessOrEqual(5)))
        #expect(holds("divergent", .isBool(true)) && !holds("divergent", .isBool(false)))
        #expect(holds("verdict", .isText("lost-updates")) && !holds("verdict", .isText("ok")))
        // A missing field or a field of another kind never holds.
        #expect(!holds("throughput_rps", .greater(0)))
        #expect(!holds("divergent", .equal(1)))
    }

    @Test func expectationsAgainstACheckResult() throws {
        let scenario = try ScenarioLoader.parse(yaml: """
            name: x
            load: {increments: 10}
            runs:
              - strategy: shm
                mode: naive
                expect: {lost: ">0", lost_percent: "0..100", verdict: lost-updates, throughput_rps: ">=100", workers: 4}
            """, path: "x.yaml")
        let last = ReadRecord(pid: 1, worker: 0, value: 1, start: 100, end: 110)
        let history = History(increments: [IncrementRecord(outcome: .ok, count: 1, pid: 1, start: 0, end: 10),
                                           IncrementRecord(outcome: .ok, count: 1, pid: 2, start: 0, end: 11)],
                              reads: [last], finalReads: [last])
        let fields = Checker.check(history, shared: true).fields(workers: 4, throughputRPS: 150)
        let outcomes = scenario.runs[0].expectations.map { ExpectationOutcome(expectation: $0, fields: fields) }
        let allHold = outcomes.allSatisfy { $0.holds }
        #expect(allHold, "\(outcomes.map(\.summary))")
        let slow = Checker.check(history, shared: true).fields(workers: 4, throughputRPS: 50)
        let failing = scenario.runs[0].expectations.map { ExpectationOutcome(expectation: $0, fields: slow) }.filter { !$0.holds }
        #expect(failing.map(\.summary) == ["throughput_rps >= 100: got 50 (failed)"])
    }

    @Test func everyKnownFieldHasAKind() {
        for field in Expectation.knownFields {
            #expect(Expectation.kind(of: field) != nil)
        }
        #expect(Expectation.kind(of: "speed") == nil)
    }

    @Test func nearMissesAreSuggested() {
        #expect(ScenarioError.nearMiss(for: "worker", among: ["workers", "threads"]) == "workers")
        #expect(ScenarioError.nearMiss(for: "race_window", among: ["workers", "race_window_us"]) == "race_window_us")
        #expect(ScenarioError.nearMiss(for: "colour", among: ["name", "load", "runs"]) == nil)
        #expect(ScenarioError.editDistance("kitten", "sitting") == 3)
    }
}

/// Runs that drive the user's own app: `target:` with a command or a URL.
@Suite struct ScenarioTargetTests {
    @Test func aBuiltInScenarioReadsItsPathsAsIfItWereUnderScenarios() throws {
        let scenario = try BuiltInScenario.load(named: "python-apps")
        guard case .command(let spec, _, _)? = scenario.runs.first?.target else {
            Issue.record("python-apps' first run has no command target")
            return
        }
        #expect(spec.cwd == FileManager.default.currentDirectoryPath + "/examples/python")
    }

    @Test func aCommandTargetParsesEveryKey() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("statelab-target-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("apps.yaml").path
        try """
        name: apps
        load: {increments: 100}
        runs:
          - name: global
            target:
              command: "uvicorn app:app --workers 4 --port {port}"
              cwd: ../examples
              env: {APP_MODE: fast, WORKERS: 4}
              ready: {path: /health, timeout: 45s}
              shared: no
              pid_field: worker
              count_field: value
            expect: {lost: 0}
          - target: {url: "http://localhost:8000", shared: auto}
        """.write(toFile: path, atomically: true, encoding: .utf8)
        let scenario = try ScenarioLoader.load(path: path)
        let first = try #require(scenario.runs.first)
        guard case .command(let spec, let sharing, _)? = first.target else {
            Issue.record("not a command target: \(String(describing: first.target))")
            return
        }
        #expect(first.label == "global")
        #expect(sharing == .no)
        #expect(spec.command == "uvicorn app:app --workers 4 --port {port}")
        #expect(spec.cwd == (directory.deletingLastPathComponent().appendingPathComponent("examples").path as NSString).standardizingPath)
        #expect(spec.env == ["APP_MODE": "fast", "WORKERS": "4"])
        #expect(spec.readyPath == "/health" && spec.readyTimeout == 45)
        #expect(spec.pidField == "worker" && spec.countField == "value")
        #expect(first.expectations.map(\.field) == ["lost"])
        let second = scenario.runs[1]
        #expect(second.target == .url(host: "127.0.0.1", port: 8000, sharing: .auto))
        #expect(second.label == "http://127.0.0.1:8000")
    }
}
