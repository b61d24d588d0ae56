import Foundation
import Testing
@testable import StateLab

/// The result objects of `statelab compare` / `statelab load` and each output
/// format, on runs with known numbers (see ReportFixtures).
@Suite struct ReportTests {
    typealias F = ReportFixtures

    // MARK: numbers

    @Test func numbersReadAsPeopleReadThem() {
        #expect(ReportNumbers.grouped(0) == "0")
        #expect(ReportNumbers.grouped(999) == "999")
        #expect(ReportNumbers.grouped(1_000) == "1,000")
        #expect(ReportNumbers.grouped(1_234_567) == "1,234,567")
        #expect(ReportNumbers.grouped(-12_345) == "-12,345")
        #expect(ReportNumbers.rate(12_345.678) == "12,346")
        #expect(ReportNumbers.rate(87.54) == "87.5")
        #expect(ReportNumbers.rate(0) == "0")
        #expect(ReportNumbers.millis(0.41234) == "0.412")
        #expect(ReportNumbers.millis(3.14159) == "3.14")
        #expect(ReportNumbers.millis(42.12) == "42.1")
        #expect(ReportNumbers.millis(1234.5) == "1,235")
        #expect(ReportNumbers.millis(.nan) == "-")
        // Past Int's range: a short form, never a trap (issue 18: --rate 1e300 crashed here).
        #expect(ReportNumbers.rate(1e300) == "1e+300")
        #expect(ReportNumbers.millis(1e300) == "1e+300")
        #expect(ReportNumbers.rate(.infinity) == "-")
        #expect(ReportNumbers.percent(40.625) == "40.6%")
        #expect(ReportNumbers.percent(0.01) == "<0.1%")
        #expect(ReportNumbers.plain(2.0) == "2")
        #expect(ReportNumbers.plain(3.14159) == "3.142")
        #expect(ReportNumbers.plain(.infinity) == nil)
    }

    @Test func finalAndLostCells() {
        let big = F.bigRun().check
        #expect(ReportNumbers.finalRange(big) == "1,234..1,240")
        #expect(ReportNumbers.lost(big) == "812 (40.6%)")
        let atomic = F.atomicRun().check
        #expect(ReportNumbers.finalRange(atomic) == "4")
        #expect(ReportNumbers.lost(atomic) == "0")
    }

    // MARK: results

    @Test func fixturesHaveTheVerdictsTheirNamesSay() {
        #expect(F.atomicRun().check.verdict == .ok)
        #expect(F.naiveRun().check.verdict == .lostUpdates)
        #expect(F.naiveRun().check.lost == 2 && F.naiveRun().check.duplicates == 2)
        #expect(F.globalRun().check.verdict == .divergent)
        #expect(F.errorsRun().check.verdict == .errors)
    }

    @Test func fieldsCarryThroughputLatencyAndWorkers() {
        let fields = F.bigRun().fields()
        #expect(fields["lost"] == .number(812))
        #expect(fields["workers"] == .number(16))
        #expect(fields["throughput_rps"] == .number(12_345.678))
        #expect(fields["p50_ms"] == .number(2.5))
        #expect(fields["p999_ms"] == .number(99.9))
        #expect(fields["max_ms"] == .number(1234.5))
        #expect(fields["divergent"] == .bool(true))
        #expect(fields["verdict"] == .text("lost-updates"))
        // Every field an expectation may name is there; retries only for a run whose workers retry,
        // the limit's fields only for a run with a limit.
        let conditional = ["retries", "lost_to_restart", "durable", "lock_recoveries", "over_limit", "accepted", "refused",
                           "accepting_pids", "oversold"]
        for name in Expectation.knownFields where !conditional.contains(name) { #expect(fields[name] != nil, "\(name)") }
        #expect(fields["over_limit"] == nil && fields["oversold"] == nil)
        #expect(fields["retries"] == nil)
        var retrying = F.bigRun()
        retrying.retries = 42
        #expect(retrying.fields()["retries"] == .number(42))
    }

    @Test func evaluatingChecksExpectationsAgainstTheRun() {
        let run = F.naiveRun()
        #expect(run.expectations.map(\.holds) == [true, false])
        #expect(run.failedExpectations.map(\.expectation.text) == ["duplicates == 0"])
        #expect(run.expectations[1].actual == .number(2))
    }

    @Test func labelDefaultsToStrategySlashMode() {
        #expect(F.atomicRun().label == "shm/atomic")
        #expect(F.bigRun().label == "sqlite/naive")
        #expect(F.skippedRun().label == "redis/atomic")
    }

    @Test func runResultRoundTripsThroughCodable() throws {
        for run in F.fullReport().runs {
            let data = try JSONEncoder().encode(run)
            #expect(try JSONDecoder().decode(RunResult.self, from: data) == run)
        }
    }

    // MARK: exit codes

    @Test func exitCodeIsZeroOnlyWhenEveryExpectationHolds() {
        let passing = F.report([F.atomicRun(), F.globalRun()])
        #expect(passing.allExpectationsHeld && passing.exitCode == 0)

        let failing = F.report([F.atomicRun(), F.naiveRun()])
        #expect(!failing.allExpectationsHeld && failing.exitCode == 1)
        #expect(failing.heldCount == 3 && failing.evaluatedExpectations.count == 4)

        #expect(F.report([]).exitCode == 0)
    }

    @Test func skippedRunsDoNotFailTheReport() {
        let skipped = F.skippedRun()
        // Its expectation never held (nothing ran), yet it does not count.
        #expect(skipped.expectations.map(\.holds) == [false])
        #expect(skipped.failedExpectations.isEmpty)
        let report = F.report([F.atomicRun(), skipped])
        #expect(report.exitCode == 0)
        #expect(report.evaluatedExpectations.count == 2)
        #expect(report.skippedRuns.map(\.label) == ["redis/atomic"])
    }

    // MARK: table

    /// The table lines: from the header to the first blank line after it.
    func tableLines(_ text: String) -> [String] {
        let lines = text.components(separatedBy: "\n")
        guard let header = lines.firstIndex(where: { $0.hasPrefix("strategy") }) else { return [] }
        return Array(lines[header...].prefix { !$0.isEmpty })
    }

    @Test func tableHasOneRowPerRunWithTheIssuesColumns() throws {
        let text = ReportWriter.render(F.fullReport(), as: .table, color: false)
        #expect(text.hasPrefix("statelab compare: lost updates (Scenarios/lost-updates.yaml)\n"))
        let lines = tableLines(text)
        try #require(lines.count == 7)
        let titles = lines[0].split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        #expect(titles == ["strategy", "mode", "workers", "acked", "failed", "indet", "final", "lost", "dups",
                           "divergent", "req/s", "p50", "ms", "p99", "ms", "verdict"])
        #expect(lines[1].hasPrefix("shm       atomic"))
        #expect(lines.dropFirst().map { String($0.split(separator: " ").last!) }.prefix(5)
                == ["ok", "lost-updates", "divergent", "lost-updates", "errors"])
        for line in lines { #expect(!line.hasSuffix(" "), "trailing space: \(line)") }
    }

    @Test func tableShowsBigNumbersWithSeparators() throws {
        let lines = tableLines(ReportWriter.render(F.fullReport(), as: .table, color: false))
        let sqlite = try #require(lines.first { $0.hasPrefix("sqlite") })
        let cells = sqlite.components(separatedBy: "  ").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        #expect(cells == ["sqlite", "naive", "16", "12,345", "3", "1,002", "1,234..1,240", "812 (40.6%)", "812",
                          "yes", "12,346", "2.50", "42.4", "lost-updates"])
        let atomic = try #require(lines.first { $0.hasPrefix("shm       atomic") })
        #expect(atomic.contains("  no  "))
        #expect(atomic.contains("4,000"))
        #expect(atomic.contains("0.412"))
    }

    /// Right-aligned columns end where their title ends, left-aligned ones start
    /// where their title starts, on every row.
    @Test func tableColumnsAreAligned() throws {
        let lines = tableLines(ReportWriter.render(F.fullReport(), as: .table, color: false))
        let header = lines[0]
        let rows = lines.dropFirst().filter { !$0.contains("skipped:") }
        try #require(rows.count == 5)
        for title in ["workers", "acked", "failed", "indet", "final", "lost", "dups", "req/s", "p50 ms", "p99 ms"] {
            let end = try #require(header.range(of: title)).upperBound
            let column = header.distance(from: header.startIndex, to: end)
            for row in rows {
                let characters = Array(row)
                #expect(characters[column - 1] != " ", "\(title) not right-aligned in: \(row)")
                #expect(column == characters.count || characters[column] == " ", "\(title) overflows in: \(row)")
            }
        }
        for title in ["mode", "divergent", "verdict"] {
            let start = header.distance(from: header.startIndex, to: try #require(header.range(of: title)).lowerBound)
            for row in rows {
                let characters = Array(row)
                #expect(characters[start - 1] == " " && characters[start] != " ", "\(title) not left-aligned in: \(row)")
            }
        }
    }

    @Test func skippedRowShowsTheReasonAndNoNumbers() throws {
        let withSkipped = ReportWriter.render(F.report([F.atomicRun(), F.skippedRun()]), as: .table, color: false)
        let without = ReportWriter.render(F.report([F.atomicRun()]), as: .table, color: false)
        let row = try #require(tableLines(withSkipped).last)
        #expect(row == "redis     atomic  skipped: \(F.skipReason)")
        // The long reason spans the columns instead of widening one.
        #expect(tableLines(withSkipped)[0] == tableLines(without)[0])
        #expect(withSkipped.contains("○ skipped  redis/atomic  lost == 0 (run skipped)"))
        #expect(withSkipped.hasSuffix("2 of 2 expectations held; 1 run skipped\n"))
    }

    @Test func tableListsWitnessesExpectationsAndASummary() {
        let text = ReportWriter.render(F.fullReport(), as: .table, color: false)
        #expect(text.contains("\n  shm/naive: count 1 returned 2 times, by pids 123, 456\n"))
        #expect(text.contains("\n  shm/naive: count 2 returned 2 times, by pids 123, 456\n"))
        #expect(text.contains("\n  sqlite/naive: 812 duplicates in all, 5 shown\n"))
        #expect(text.contains("\n  sqlite/naive: 7 unexpected"))
        #expect(text.contains("\n  sqlite/naive: could not read worker 789\n"))
        #expect(text.contains("\n  ✓ ok       shm/atomic    lost == 0 (got 0)\n"))
        #expect(text.contains("\n  ✗ FAILED   shm/naive     duplicates == 0 (got 2)\n"))
        #expect(text.contains("\n  ✓ ok       global/naive  divergent == true (got true)\n"))
        #expect(text.hasSuffix("\n4 of 5 expectations held; 1 run skipped\n"))
    }

    @Test func tableWithoutWitnessesOrExpectationsSaysSo() {
        let text = ReportWriter.render(F.report([F.errorsRun()]), as: .table, color: false)
        #expect(!text.contains("Duplicate witnesses"))
        #expect(!text.contains("Expectations"))
        #expect(text.hasSuffix("\nno expectations checked\n"))
    }

    @Test func colourOffHasNoEscapeCodes() {
        for format in ReportFormat.allCases {
            #expect(!ReportWriter.render(F.fullReport(), as: format, color: false).contains("\u{1B}"))
            #expect(!ReportWriter.renderLoad(F.bigRun(), target: "t", as: format, color: false).contains("\u{1B}"))
        }
        // Only the table format ever paints.
        for format in ReportFormat.allCases where format != .table {
            #expect(!ReportWriter.render(F.fullReport(), as: format, color: true).contains("\u{1B}"))
        }
    }

    @Test func colourOnPaintsEachVerdictAndKeepsTheLayout() {
        let plain = ReportWriter.render(F.fullReport(), as: .table, color: false)
        let painted = ReportWriter.render(F.fullReport(), as: .table, color: true)
        #expect(painted.contains("\u{1B}[32mok\u{1B}[0m"))
        #expect(painted.contains("\u{1B}[31mlost-updates\u{1B}[0m"))
        #expect(painted.contains("\u{1B}[33mdivergent\u{1B}[0m"))
        #expect(painted.contains("\u{1B}[35merrors\u{1B}[0m"))
        #expect(painted.contains("\u{1B}[31m✗ FAILED\u{1B}[0m"))
        // Colour adds escapes only: with them removed, the text is the plain one.
        #expect(F.stripped(painted) == plain)
        let load = ReportWriter.renderLoad(F.bigRun(), target: "t", as: .table, color: true)
        #expect(F.stripped(load) == ReportWriter.renderLoad(F.bigRun(), target: "t", as: .table, color: false))
    }

    // MARK: markdown

    /// Splits a markdown table row on pipes that are not escaped.
    func markdownCells(_ line: String) -> [String] {
        var cells: [String] = [], current = "", previous: Character = " "
        for character in line {
            if character == "|" && previous != "\\" {
                cells.append(current.trimmingCharacters(in: .whitespaces))
                current = ""
            } else {
                current.append(character)
            }
            previous = character
        }
        cells.append(current)
        // A row starts and ends with a pipe: drop the empty ends.
        return Array(cells.dropFirst().dropLast())
    }

    @Test func markdownIsAGitHubTableWithTheSameColumns() throws {
        let text = ReportWriter.render(F.fullReport(), as: .markdown, color: false)
        #expect(text.hasPrefix("## statelab compare: lost updates\n"))
        let rows = text.components(separatedBy: "\n").filter { $0.hasPrefix("|") }
        try #require(rows.count == 2 + 6)
        #expect(markdownCells(rows[0]) == RunColumns.columns.map(\.title))
        #expect(markdownCells(rows[1]) == RunColumns.columns.map { $0.alignment == .right ? "---:" : "---" })
        for row in rows { #expect(markdownCells(row).count == RunColumns.columns.count, "\(row)") }
        #expect(markdownCells(rows[5]) == ["sqlite", "naive", "16", "12,345", "3", "1,002", "1,234..1,240",
                                           "812 (40.6%)", "812", "yes", "12,346", "2.50", "42.4", "lost-updates"])
        // The skipped reason has a pipe, escaped so it stays in its cell.
        let skipped = markdownCells(rows[7])
        #expect(skipped[0...2] == ["redis", "atomic", "skipped: " + F.skipReason.replacingOccurrences(of: "|", with: "\\|")])
        #expect(skipped.dropFirst(3).allSatisfy { $0.isEmpty })
    }

    @Test func markdownListsExpectationsAndTheSummary() {
        let text = ReportWriter.render(F.fullReport(), as: .markdown, color: false)
        #expect(text.contains("\n### Expectations\n\n- ✓ ok: `shm/atomic` lost == 0 (got 0)\n"))
        #expect(text.contains("\n- ✗ FAILED: `shm/naive` duplicates == 0 (got 2)\n"))
        #expect(text.contains("\n- ○ skipped: `redis/atomic` lost == 0 (run skipped)\n"))
        #expect(text.contains("\n### Duplicate witnesses\n\n- shm/naive: count 1 returned 2 times, by pids 123, 456\n"))
        #expect(text.hasSuffix("\n**4 of 5 expectations held; 1 run skipped**\n"))
    }

    // MARK: json

    static func parse(_ text: String) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(text.utf8))
        return try #require(object as? [String: Any])
    }

    /// JSONSerialization hands back NSNumber for numbers and booleans alike;
    /// booleans are the CFBoolean class.
    static func isBool(_ value: Any?) -> Bool {
        guard let number = value as? NSNumber else { return false }
        return type(of: number) == type(of: NSNumber(value: true))
    }

    static func isNumber(_ value: Any?) -> Bool { value is NSNumber && !isBool(value) }

    static func isInteger(_ value: Any?) -> Bool {
        guard isNumber(value), let number = value as? NSNumber else { return false }
        return number.doubleValue == number.doubleValue.rounded()
    }

    @Test func boolDetectionWorksOnThisPlatform() throws {
        let parsed = try Self.parse(#"{"flag": true, "one": 1, "half": 0.5}"#)
        #expect(Self.isBool(parsed["flag"]) && !Self.isBool(parsed["one"]) && !Self.isBool(parsed["half"]))
        #expect(Self.isInteger(parsed["one"]) && !Self.isInteger(parsed["half"]) && !Self.isNumber(parsed["flag"]))
    }

    static let integerKeys = ["workers", "acknowledged", "failed", "indeterminate", "final_min", "final_max", "lost",
                              "unexpected", "duplicates"]

    /// Every key the issue's schema names, with the right type, on a run that happened.
    func expectSchema(of run: [String: Any]) throws {
        for key in ["label", "strategy", "mode", "verdict"] { #expect(run[key] is String, "\(key)") }
        for key in Self.integerKeys { #expect(Self.isInteger(run[key]), "\(key): \(String(describing: run[key]))") }
        #expect(Self.isNumber(run["throughput_rps"]))
        #expect(Self.isBool(run["divergent"]))
        #expect(run["skipped"] is NSNull)
        let latency = try #require(run["latency_ms"] as? [String: Any])
        #expect(Set(latency.keys) == ["p50", "p90", "p99", "p999", "max"])
        for value in latency.values { #expect(Self.isNumber(value)) }
        let workers = try #require(run["per_worker"] as? [[String: Any]])
        for worker in workers {
            for key in ["pid", "count", "acknowledged"] { #expect(Self.isInteger(worker[key]), "\(key)") }
        }
        let expectations = try #require(run["expectations"] as? [[String: Any]])
        for expectation in expectations {
            #expect(expectation["text"] is String)
            #expect(Self.isBool(expectation["held"]))
        }
        let witnesses = try #require(run["witnesses"] as? [[String: Any]])
        for witness in witnesses {
            #expect(Self.isInteger(witness["count"]))
            #expect(witness["pids"] is [Any])
        }
    }

    @Test func compareJSONHasTheSchema() throws {
        let document = try Self.parse(ReportWriter.render(F.fullReport(), as: .json, color: false))
        #expect(document["schema"] as? String == "statelab.compare/1")
        let scenario = try #require(document["scenario"] as? [String: Any])
        #expect(scenario["name"] as? String == "lost updates")
        #expect(scenario["path"] as? String == "Scenarios/lost-updates.yaml")
        let runs = try #require(document["runs"] as? [[String: Any]])
        try #require(runs.count == 6)
        for run in runs.prefix(5) { try expectSchema(of: run) }
        #expect(Self.isBool(document["all_expectations_held"]))
    }

    @Test func compareJSONValuesMatchTheRuns() throws {
        let runs = try #require(try Self.parse(ReportWriter.render(F.fullReport(), as: .json))["runs"] as? [[String: Any]])
        let naive = runs[1]
        #expect(naive["label"] as? String == "shm/naive")
        #expect(naive["verdict"] as? String == "lost-updates")
        #expect((naive["lost"] as? NSNumber)?.intValue == 2)
        #expect((naive["final_min"] as? NSNumber)?.intValue == 2)
        let witnesses = try #require(naive["witnesses"] as? [[String: Any]])
        #expect(witnesses.map { ($0["count"] as? NSNumber)?.intValue } == [1, 2])
        #expect((witnesses[0]["pids"] as? [NSNumber])?.map(\.int32Value) == [F.pidA, F.pidB])
        let expectations = try #require(naive["expectations"] as? [[String: Any]])
        #expect(expectations.map { $0["text"] as? String } == ["lost > 0", "duplicates == 0"])
        #expect(expectations.map { ($0["held"] as? NSNumber)?.boolValue } == [true, false])

        let big = runs[3]
        #expect((big["throughput_rps"] as? NSNumber)?.doubleValue == 12_345.678)
        #expect(((big["latency_ms"] as? [String: Any])?["p99"] as? NSNumber)?.doubleValue == 42.42)
        #expect((big["per_worker"] as? [[String: Any]])?.map { ($0["pid"] as? NSNumber)?.int32Value } == [F.pidA, F.pidB])
        #expect((big["divergent"] as? NSNumber)?.boolValue == true)
    }

    @Test func skippedRunInJSONHasTheReasonAndNullNumbers() throws {
        let runs = try #require(try Self.parse(ReportWriter.render(F.fullReport(), as: .json))["runs"] as? [[String: Any]])
        let skipped = runs[5]
        #expect(skipped["skipped"] as? String == F.skipReason)
        #expect(skipped["strategy"] as? String == "redis")
        for key in Self.integerKeys where key != "workers" { #expect(skipped[key] is NSNull, "\(key)") }
        for key in ["verdict", "divergent", "throughput_rps", "latency_ms"] { #expect(skipped[key] is NSNull, "\(key)") }
        #expect((skipped["per_worker"] as? [Any])?.isEmpty == true)
        let expectation = try #require((skipped["expectations"] as? [[String: Any]])?.first)
        #expect(expectation["text"] as? String == "lost == 0")
        #expect(expectation["held"] is NSNull)
    }

    @Test func jsonKeepsSchemaFirstAndEscapesStrings() throws {
        let name = "quote \" backslash \\ newline \n tab \t bell \u{07} ünï"
        let report = CompareReport(scenarioName: name, scenarioPath: "a/b.yaml", runs: [F.atomicRun()])
        let text = ReportWriter.render(report, as: .json)
        #expect(text.hasPrefix("{\n  \"schema\": \"statelab.compare/1\",\n  \"scenario\": {"))
        let scenario = try #require(try Self.parse(text)["scenario"] as? [String: Any])
        #expect(scenario["name"] as? String == name)
    }

    @Test func nonFiniteNumbersBecomeNullAndStayValidJSON() throws {
        var run = F.atomicRun()
        run.latency = LatencySummary(p50: .nan, p90: 1, p99: .infinity, p999: 2, max: 3)
        let document = try Self.parse(ReportWriter.renderLoad(run, target: "t", as: .json))
        let latency = try #require(document["latency_ms"] as? [String: Any])
        #expect(latency["p50"] is NSNull && latency["p99"] is NSNull)
        #expect((latency["p90"] as? NSNumber)?.doubleValue == 1)
    }

    @Test func loadJSONIsTheRunObjectUnderItsOwnSchema() throws {
        let text = ReportWriter.renderLoad(F.bigRun(), target: "http://127.0.0.1:8000", as: .json, color: false)
        #expect(text.hasPrefix("{\n  \"schema\": \"statelab.load/1\",\n  \"target\": \"http://127.0.0.1:8000\",\n"))
        let document = try Self.parse(text)
        try expectSchema(of: document)
        #expect(document["label"] as? String == "sqlite/naive")
        #expect((document["unreached_pids"] as? [NSNumber])?.map(\.int32Value) == [789])
        // The same object as the compare run, plus the two keys in front.
        let compareRun = try #require((try Self.parse(ReportWriter.render(F.report([F.bigRun()]), as: .json))["runs"]
            as? [[String: Any]])?.first)
        #expect(Set(document.keys) == Set(compareRun.keys).union(["schema", "target"]))
    }

    // MARK: csv

    /// An RFC 4180 reader, to check the writer's quoting from the outside.
    static func parseCSV(_ text: String) -> [[String]] {
        var rows: [[String]] = [], row: [String] = [], field = ""
        var quoted = false
        var scalars = Array(text.unicodeScalars)[...]
        while let scalar = scalars.popFirst() {
            if quoted {
                if scalar == "\"" {
                    if scalars.first == "\"" { field.unicodeScalars.append("\""); scalars.removeFirst() } else { quoted = false }
                } else {
                    field.unicodeScalars.append(scalar)
                }
            } else if scalar == "\"" {
                quoted = true
            } else if scalar == "," {
                row.append(field); field = ""
            } else if scalar == "\r", scalars.first == "\n" {
                scalars.removeFirst()
                row.append(field); rows.append(row); row = []; field = ""
            } else {
                field.unicodeScalars.append(scalar)
            }
        }
        if !field.isEmpty || !row.isEmpty { row.append(field); rows.append(row) }
        return rows
    }

    @Test func csvHasAHeaderAndOneRowPerRun() throws {
        let text = ReportWriter.render(F.fullReport(), as: .csv, color: false)
        #expect(text.hasSuffix("\r\n"))
        #expect(!text.replacingOccurrences(of: "\r\n", with: "").contains("\n"))
        let rows = Self.parseCSV(text)
        try #require(rows.count == 7)
        #expect(rows[0] == CSVReport.header)
        for row in rows { #expect(row.count == CSVReport.header.count) }
        for key in ["label", "strategy", "mode", "workers", "acknowledged", "failed", "indeterminate", "final_min",
                    "final_max", "lost", "unexpected", "duplicates", "divergent", "throughput_rps", "p50_ms",
                    "p99_ms", "verdict"] {
            #expect(rows[0].contains(key), "\(key)")
        }
        let big = Dictionary(uniqueKeysWithValues: zip(rows[0], rows[4]))
        #expect(big["acknowledged"] == "12345")
        #expect(big["final_min"] == "1234" && big["final_max"] == "1240")
        #expect(big["lost"] == "812" && big["lost_percent"] == "40.6")
        #expect(big["divergent"] == "true" && big["verdict"] == "lost-updates")
        #expect(big["throughput_rps"] == "12345.678" && big["p99_ms"] == "42.42")
        let naive = Dictionary(uniqueKeysWithValues: zip(rows[0], rows[2]))
        #expect(naive["expectations_held"] == "1" && naive["expectations_total"] == "2")
        #expect(naive["failed_expectations"] == "duplicates == 0")
    }

    @Test func csvQuotesCommasQuotesAndLineBreaks() throws {
        var odd = F.atomicRun()
        odd.label = "say \"hi\", then\nleave"
        let text = ReportWriter.render(F.report([odd, F.skippedRun()]), as: .csv)
        #expect(text.contains("\r\n\"say \"\"hi\"\", then\nleave\",shm,atomic,"))
        #expect(text.contains(",\"redis-server not found, install it with \"\"apt-get install redis-server\"\" | or set REDIS_URL\","))
        let rows = Self.parseCSV(text)
        try #require(rows.count == 3)
        #expect(rows[1][0] == odd.label)
        let skipped = Dictionary(uniqueKeysWithValues: zip(rows[0], rows[2]))
        #expect(skipped["skipped"] == F.skipReason)
        // A skipped run has no numbers: empty, not zero.
        #expect(skipped["acknowledged"] == "" && skipped["verdict"] == "" && skipped["lost"] == "")
        #expect(CSVReport.quote("plain") == "plain")
        #expect(CSVReport.quote("a\r\nb") == "\"a\r\nb\"")
    }

    // MARK: load

    @Test func loadTableShowsTheCheckAndEveryWorker() {
        let text = ReportWriter.renderLoad(F.bigRun(), target: "http://127.0.0.1:8000", as: .table, color: false)
        let lines = text.components(separatedBy: "\n")
        #expect(lines.first == "statelab load: http://127.0.0.1:8000")
        for expected in ["  run            sqlite/naive, 16 workers, 64 connections, race window 50 us",
                         "  rate           19,877 req/s sent (target 20,000)",
                         "  latency ms     p50 2.50  p90 7.00  p99 42.4  p99.9 99.9  max 1,235",
                         "  final          1,234..1,240",
                         "  lost           812 (40.6%)",
                         "  divergent      yes",
                         "  verdict        lost-updates",
                         "  worker  pid  final count  acked",
                         "       0  123        1,240  6,000",
                         "  sqlite/naive: count 41 returned 2 times, by pids 123, 456"] {
            #expect(lines.contains(expected), "missing: \(expected)")
        }
        // No expectations on a plain load: no summary line about them.
        #expect(!text.contains("expectations"))
    }

    @Test func loadOfASkippedRunSaysWhy() {
        let text = ReportWriter.renderLoad(F.skippedRun(), target: "redis", as: .table)
        #expect(text.contains("  redis/atomic: skipped: \(F.skipReason)\n"))
        #expect(!text.contains("acknowledged"))
    }

    @Test func loadMarkdownAndCSVHaveOneRun() {
        let markdown = ReportWriter.renderLoad(F.atomicRun(), target: "http://x", as: .markdown)
        #expect(markdown.hasPrefix("## statelab load: http://x\n"))
        #expect(markdown.contains("\n| shm | atomic | 2 | 4 | 0 | 0 | 4 | 0 | 0 | no | 4,000 | 0.412 | 3.46 | ok |\n"))
        #expect(markdown.contains("\n| 1 | 456 | 4 | 2 |\n"))
        #expect(markdown.hasSuffix("**2 of 2 expectations held**\n"))
        let rows = Self.parseCSV(ReportWriter.renderLoad(F.atomicRun(), target: "http://x", as: .csv))
        #expect(rows.count == 2 && rows[1].first == "shm/atomic")
    }
}
