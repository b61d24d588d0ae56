import Foundation
import Testing
@testable import StateLab

/// The HTML report on runs with hand-made evidence: self-contained, escaped,
/// the terminal's words, a section and its charts per run, the race drawn as
/// the workers told it, and small for a big run.
@Suite struct HTMLReportTests {
    typealias F = ReportFixtures
    typealias H = HTMLFixtures

    // MARK: the page as a whole

    @Test func pageLoadsNothingFromOutside() {
        let html = HTMLReport.compare(H.report())
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        for forbidden in ["http://", "https://", "src=", "<script", "<link", "@import", "url(", "<img", "<iframe"] {
            #expect(!html.contains(forbidden), "the page contains \(forbidden)")
        }
        // The only links are anchors inside the page, and each names a section that exists.
        for target in H.attributeValues("href", in: html) {
            #expect(target.hasPrefix("#"), "href=\(target) leaves the page")
            #expect(html.contains("id=\"\(target.dropFirst())\""), "href=\(target) names nothing")
        }
    }

    @Test func tagsAreBalancedAndTextIsEscaped() throws {
        for html in [HTMLReport.compare(H.report()), HTMLReport.load(H.naiveRaceRun(), target: "http://127.0.0.1:8000 <x>")] {
            try H.checkBalanced(html)
        }
    }

    @Test func hostileTextIsEscapedEverywhere() {
        let html = HTMLReport.compare(H.report())
        #expect(!html.contains(H.hostileLabel))
        #expect(html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co"))
        #expect(!html.contains("<b>bold</b>"))
        #expect(html.contains("&lt;b&gt;bold&lt;/b&gt; &amp; &#39;quoted&#39;"))
        #expect(HTMLReport.escape("a<b>&\"c'\u{07}") == "a&lt;b&gt;&amp;&quot;c&#39;\u{FFFD}")
        #expect(HTMLReport.escape("http://x:1/ a: b:/") == "http&#58;//x:1/ a: b:/")
    }

    @Test func titleTableAndVerdictsUseTheTerminalsWords() {
        let report = H.report()
        let html = HTMLReport.compare(report)
        #expect(html.contains("<title>statelab compare: lost updates</title>"))
        for column in RunColumns.columns(for: report.runs) {
            #expect(html.contains(">\(HTMLReport.escape(column.title))</th>"))
        }
        for line in ReportSections.verdictLines(report.runs) {
            #expect(html.contains(HTMLReport.escape(line)), "missing verdict line: \(line)")
        }
        for run in report.runs where !run.isSkipped {
            #expect(html.contains(HTMLReport.escape(run.check.explanation)))
        }
        // The naive run's sentence has nothing to escape: it is there as the terminal prints it.
        let naive = H.naiveRaceRun()
        #expect(html.contains(naive.check.explanation))
        #expect(html.contains(ReportSections.summary(report)))
        // Every cell of the table is the table's own text.
        if case .cells(let cells) = RunColumns.row(naive, restarts: false) {
            for cell in cells { #expect(html.contains(">\(HTMLReport.escape(cell.text))<")) }
        }
    }

    // MARK: run sections

    @Test func eachRunHasItsSectionAndCharts() throws {
        let report = H.report()
        let html = HTMLReport.compare(report)
        let sections = H.sections(html)
        #expect(sections.count == report.runs.count)
        for (index, run) in report.runs.enumerated() {
            let verdict = run.isSkipped ? "skipped" : run.check.verdict.rawValue
            #expect(html.contains("<section class=\"run\" id=\"run-\(index + 1)\" data-verdict=\"\(verdict)\">"))
            #expect(html.contains("href=\"#run-\(index + 1)\""))
        }
        for (index, run) in report.runs.enumerated() where run.evidence != nil {
            let section = sections[index]
            for chart in ["<svg class=\"chart throughput\"", "<svg class=\"chart latency\"", "<svg class=\"chart reads\""] {
                #expect(section.contains(chart), "\(run.label) has no \(chart)")
            }
            // Shares come from the final reads: a run that read no worker has none.
            #expect(section.contains("<svg class=\"chart shares\"") == !run.check.perWorker.isEmpty)
            for pid in run.check.perWorker.map(\.pid) { #expect(section.contains("pid \(pid)")) }
        }
        #expect(sections[0].contains("<svg class=\"race\""))
    }

    @Test func collidingOpsCarryWhatTheWorkersRead() throws {
        let run = H.naiveRaceRun()
        let race = try #require(run.evidence?.races.first)
        let html = HTMLReport.load(run, target: "statelab serve --strategy shm --mode naive")
        let colliding = H.elements("g", class: "op colliding", in: html)
        #expect(colliding.count == 2)
        let reads = colliding.map { H.attributeValues("data-read-value", in: $0).first }
        #expect(reads == ["41", "41"])
        #expect(colliding.map { H.attributeValues("data-count", in: $0).first } == ["42", "42"])
        #expect(Set(colliding.compactMap { H.attributeValues("data-pid", in: $0).first }) == ["123", "456"])
        // The others are plain ops, with their own counts.
        let others = H.elements("g", class: "op", in: html)
        #expect(others.count == race.ops.count - 2)
        for text in ["read 41", "wrote 42", "pid 123", "pid 456"] { #expect(html.contains(">\(text)<")) }
        #expect(html.contains(HTMLReport.escape(race.sentence)))
        #expect(race.sentence.contains("both read 41 before either wrote 42"))
        // The workers said when they read and wrote: no outside-view caveat.
        #expect(!html.contains(HTMLReport.outsideViewNote))
    }

    @Test func aRaceZoomsToItsCollidingOps() {
        let race = H.tightRace
        let window = HTMLReport.raceWindow(race)
        // The colliding ops span 2.000100 to 2.000210 s; a 5 ms op around them is cut, not drawn whole.
        #expect(abs(window.start - 1.999990) < 1e-9)
        #expect(abs(window.end - 2.000320) < 1e-9)
        let figure = HTMLReport.raceFigure(race, colors: HTMLReport.PidColors(F.naiveRun()))
        #expect(figure.contains("<rect class=\"box clipped\""))
        #expect(figure.contains(">→ 903 (later)<"))
        #expect(H.elements("g", class: "op colliding", in: figure).count == 2)
        // Two ops of pid 123 overlapped: side by side in two lanes, not on top of each other.
        let lefts = H.elements("g", class: "op", in: figure).filter { $0.contains("data-pid=\"123\"") }
            + H.elements("g", class: "op colliding", in: figure).filter { $0.contains("data-pid=\"123\"") }
        #expect(Set(lefts.compactMap { H.attributeValues("x", in: $0).first }).count == 2)
    }

    @Test func outsideViewIsSaidOncePerRun() {
        let html = HTMLReport.compare(H.report())
        let global = H.sections(html)[1]
        #expect(global.components(separatedBy: HTMLReport.escape(HTMLReport.outsideViewNote)).count == 2)
        #expect(H.elements("g", class: "op colliding", in: global).count == 2)
        #expect(!global.contains("data-read-value"))
    }

    @Test func aPerWorkerCounterSaysItsReadsAreTheDivergence() {
        let global = H.sections(HTMLReport.compare(H.report()))[1]
        #expect(global.contains("data-verdict=\"divergent\""))
        #expect(global.contains("that gap is the divergence"))
        #expect(global.contains("per bin of 100 ms, so it is approximate"))
        // The shared naive run does not say so.
        #expect(!H.sections(HTMLReport.compare(H.report()))[0].contains("that gap is the divergence"))
    }

    @Test func faultsRestartsAndResetsAreMarkedOnTheTimeAxis() {
        let section = H.sections(HTMLReport.compare(H.report()))[2]
        for chart in ["throughput", "latency", "reads"] {
            let svg = H.elements("svg", class: "chart \(chart)", in: section).first ?? ""
            for kind in ["fault", "reset", "restart"] {
                let marked = svg.contains("<g class=\"marker \(kind) k-\(kind)\">")
                #expect(marked, "\(chart) has no \(kind)")
            }
            let labelled = svg.contains(">kill-worker:1<")
            #expect(labelled, "\(chart) does not name the fault")
        }
        #expect(section.contains(HTMLReport.escape(H.restart.sentence)))
    }

    @Test func aRunWithoutEvidenceOrSkippedSaysSo() {
        let report = H.report()
        let sections = H.sections(HTMLReport.compare(report))
        let bare = sections[3]
        #expect(bare.contains("This run has no timeline"))
        #expect(!bare.contains("class=\"chart throughput\""))
        #expect(bare.contains(HTMLReport.escape(report.runs[3].check.explanation)))
        let skipped = sections[4]
        #expect(skipped.contains("data-verdict=\"skipped\""))
        #expect(skipped.contains(HTMLReport.escape(RunColumns.skippedText(F.skipReason))))
        #expect(skipped.contains("(run skipped)"))
        #expect(!skipped.contains("<svg"))
    }

    @Test func expectationsDiagnosisAndNotesAreListed() {
        let sections = H.sections(HTMLReport.compare(H.report()))
        let naive = sections[0]
        #expect(naive.contains("<li class=\"held\">"))
        #expect(naive.contains("<li class=\"failed\">"))
        #expect(naive.contains(">lost &gt; 0</code>"))
        #expect(naive.contains(HTMLReport.escape(H.diagnosis.text)))
        #expect(naive.contains("count 1 returned 2 times, by pids 123, 456"))
    }

    @Test func aLimitRunShowsAcceptedAndRefusedPerPid() {
        let html = HTMLReport.load(H.limitRun(), target: "http://127.0.0.1:9000")
        // The target's URL is shown, yet the source holds no URL.
        #expect(html.contains("<h1>statelab load: http&#58;//127.0.0.1:9000</h1>"))
        #expect(!html.contains("http://"))
        let shares = H.elements("svg", class: "chart shares", in: html).first ?? ""
        #expect(shares.contains("pid 11: 60 accepted"))
        #expect(shares.contains("pid 12: 55 refused"))
        #expect(!html.contains("class=\"chart reads\""))
        #expect(html.contains("data-verdict=\"over-limit\""))
        // A load with nothing expected has no summary line, as in the terminal.
        #expect(!html.contains("<p class=\"summary\">"))
    }

    // MARK: drawing

    @Test func coordinatesKeepOneDecimal() {
        #expect(SVG.number(12.34) == "12.3")
        #expect(SVG.number(40) == "40")
        #expect(SVG.number(-0.5) == "-0.5")
        #expect(SVG.number(-12.25) == "-12.3")
        #expect(SVG.number(.nan) == "0")
        #expect(SVG.line([.init(x: 1, y: 2), .init(x: 3.04, y: 4), .init(x: 5, y: 6)]) == "M1 2L3 4 5 6")
        #expect(SVG.ticks(0, 9_400, count: 5, integral: true).values == [0, 2_000, 4_000, 6_000, 8_000, 10_000])
        #expect(SVG.ticks(0, 3, count: 5, integral: true).step == 1)
    }

    @Test func theBandStartsAgainAtAReset() {
        let groups = (0..<4).map { HTMLReport.BinGroup(start: Double($0), end: Double($0 + 1), ok: 10, started: 12) }
        let applied = ResetSummary(pid: 1, worker: 0, outcome: .ok, atSeconds: 2.5, acknowledgedBefore: 25, acknowledgedSince: 10)
        let band = HTMLReport.band(groups, resets: [applied])
        #expect(band.upper.map(\.1) == [0, 12, 24, 24, 0, 12, 24])
        #expect(band.lower.map(\.1) == [0, 10, 20, 20, 0, 0, 10])
        // A reset that got no answer may have applied: only the lower edge starts again.
        let unsure = ResetSummary(pid: 1, worker: 0, outcome: .indeterminate, atSeconds: 2.5, acknowledgedBefore: 25, acknowledgedSince: 10)
        #expect(HTMLReport.band(groups, resets: [unsure]).upper.map(\.1) == [0, 12, 24, 36, 48])
    }

    @Test func samplingKeepsExtremesAndFinals() {
        let reads = (0..<1_000).map { EvidenceRead(pid: 7, worker: 0, value: $0 == 500 ? -3 : $0, start: Double($0) / 100, end: Double($0) / 100 + 0.001, final: false) }
            + [EvidenceRead(pid: 7, worker: 0, value: 999, start: 10.5, end: 10.6, final: true)]
        let sampled = HTMLReport.sampledReads(reads, end: 11, limit: 100)[7] ?? []
        #expect(sampled.count <= 101)
        #expect(sampled.contains { $0.value == -3 })
        #expect(sampled.contains { $0.final })
        #expect(sampled == sampled.sorted { $0.start < $1.start })
    }

    @Test func aBigReportStaysSmall() {
        let runs = (0..<10).map { H.bigRun(number: $0) }
        let html = HTMLReport.compare(F.report(runs))
        #expect(html.utf8.count < 2_000_000, "\(html.utf8.count) bytes")
        #expect(H.sections(html).count == 10)
        // No chart draws more than about `pointLimit` points.
        for svg in H.elements("svg", class: "chart reads", in: html) {
            #expect(svg.components(separatedBy: "h0").count - 1 <= HTMLReport.pointLimit)
        }
        #expect(html == HTMLReport.compare(F.report(runs)))
    }

    @Test func writesASampleWhenAsked() throws {
        // For a look in a browser: STATELAB_HTML_SAMPLE=/tmp/report.html swift test --filter HTMLReport
        guard let path = ProcessInfo.processInfo.environment["STATELAB_HTML_SAMPLE"] else { return }
        try HTMLReport.compare(H.report()).write(toFile: path, atomically: true, encoding: .utf8)
        try HTMLReport.load(H.naiveRaceRun(), target: "http://127.0.0.1:8000").write(toFile: path + ".load.html", atomically: true, encoding: .utf8)
        try HTMLReport.compare(F.report((0..<10).map { H.bigRun(number: $0) })).write(toFile: path + ".big.html", atomically: true, encoding: .utf8)
    }
}

/// Runs with evidence built by hand, and a few readers of the page.
enum HTMLFixtures {
    typealias F = ReportFixtures

    static let hostileLabel = #"<script>alert("x")</script> & co"#

    static let diagnosis = Diagnosis(code: "uneven-share", text: "One worker answered most requests. Each <b>bold</b> & 'quoted' word stays text.",
                                     evidence: [:])

    static let restart = RestartSummary(scope: .worker, atSeconds: 1.6, acknowledgedBefore: 3_000, before: 3_000, after: 0,
                                        exact: true, worker: 1, pid: 456, newPid: 789)

    /// A naive shm run with a witnessed race: pids 123 and 456 both read 41 and wrote 42.
    static func naiveRaceRun() -> RunResult {
        var run = F.naiveRun()
        run.diagnosis = [diagnosis]
        let ops = [
            RaceOp(pid: 123, start: 1.0000, end: 1.0009, outcome: .ok, count: 41, readAt: 1.0002, readValue: 40, wroteAt: 1.0004, colliding: false),
            RaceOp(pid: 123, start: 1.0010, end: 1.0021, outcome: .ok, count: 42, readAt: 1.0012, readValue: 41, wroteAt: 1.0018, colliding: true),
            RaceOp(pid: 456, start: 1.0011, end: 1.0024, outcome: .ok, count: 42, readAt: 1.0014, readValue: 41, wroteAt: 1.0020, colliding: true),
            RaceOp(pid: 456, start: 1.0013, end: 1.0030, outcome: .ok, count: 43, readAt: 1.0022, readValue: 42, wroteAt: 1.0026, colliding: false),
            RaceOp(pid: 789, start: 1.0016, end: 1.0031, outcome: .indeterminate, count: nil, colliding: false),
        ]
        run.evidence = simulated(seconds: 3, perBin: 400, pids: [123, 456], share: 0.93, insideView: true,
                                 races: [RaceTrace(count: 42, ops: ops)])
        return run
    }

    /// A race as statelab's own naive app shows it: requests of about 0.1 ms, the read and
    /// the write a few microseconds apart, and one slow request around them all.
    static let tightRace = RaceTrace(count: 901, ops: [
        RaceOp(pid: 123, start: 2.000020, end: 2.000110, outcome: .ok, count: 900, readAt: 2.000050, readValue: 899, wroteAt: 2.000053, colliding: false),
        RaceOp(pid: 123, start: 2.000100, end: 2.000190, outcome: .ok, count: 901, readAt: 2.000130, readValue: 900, wroteAt: 2.000134, colliding: true),
        RaceOp(pid: 456, start: 2.000105, end: 2.000210, outcome: .ok, count: 901, readAt: 2.000131, readValue: 900, wroteAt: 2.000136, colliding: true),
        RaceOp(pid: 789, start: 1.999000, end: 2.004000, outcome: .ok, count: 903, readAt: 2.0035, readValue: 902, wroteAt: 2.0036, colliding: false),
        RaceOp(pid: 456, start: 2.000215, end: 2.000300, outcome: .ok, count: 902, readAt: 2.000240, readValue: 901, wroteAt: 2.000244, colliding: false),
    ])

    /// Each worker its own counter, seen from outside.
    static func globalRun() -> RunResult {
        var run = F.globalRun()
        let ops = [
            RaceOp(pid: 123, start: 0.5, end: 0.5012, outcome: .ok, count: 7, colliding: true),
            RaceOp(pid: 456, start: 0.5003, end: 0.5010, outcome: .ok, count: 7, colliding: true),
        ]
        run.evidence = simulated(seconds: 2, perBin: 300, pids: [123, 456], share: 0.5, insideView: false,
                                 races: [RaceTrace(count: 7, ops: ops)])
        return run
    }

    /// An atomic run with a fault, a worker restart and a reset, and a hostile note.
    static func faultRun() -> RunResult {
        var run = F.atomicRun()
        run.check.faults = [FaultRecord(step: "kill-worker:1", atSeconds: 1.2, acknowledged: 2_400, worker: 1, pid: 456,
                                        outcome: "killed pid 456", events: ["replaced by pid 789"])]
        run.check.restarts = [restart]
        run.check.resets = [ResetSummary(pid: 123, worker: 0, outcome: .ok, atSeconds: 2.05, acknowledgedBefore: 4_000, acknowledgedSince: 1_800)]
        run.notes = ["\(diagnosis.text)"]
        run.evidence = simulated(seconds: 3, perBin: 200, pids: [123, 456, 789], share: 1, insideView: true, races: [],
                                 resetAt: 2.05, stall: 1.2...1.5)
        return run
    }

    /// A run over the limit, per pid.
    static func limitRun() -> RunResult {
        var check = CheckResult.empty
        check.counterChecked = false
        check.verdict = .overLimit
        check.limit = LimitResult(limit: 50, windowSeconds: nil, algorithm: nil, assumed: false, accepted: 110, refused: 95,
                                  indeterminate: 0, perPid: [LimitTally(pid: 11, accepted: 60, refused: 40), LimitTally(pid: 12, accepted: 50, refused: 55)],
                                  unattributed: 0, overLimit: 60, allowance: "at most 50 in all")
        var run = RunResult(label: "flask", strategy: .global, mode: .naive, workers: 2, check: check, external: true)
        run.evidence = simulated(seconds: 1, perBin: 20, pids: [11, 12], share: 0, insideView: false, races: [])
        return run
    }

    static func hostileRun() -> RunResult {
        var run = F.errorsRun()
        run.label = hostileLabel
        run.notes = ["the app said <b>bold</b> & 'quoted'"]
        run.evidence = simulated(seconds: 1, perBin: 50, pids: [321], share: 1, insideView: false, races: [])
        return run
    }

    /// naive with a race, global, fault and reset, no evidence, skipped, hostile label.
    static func report() -> CompareReport {
        var bare = F.bigRun()
        bare.evidence = nil
        return F.report([naiveRaceRun(), globalRun(), faultRun(), bare, F.skippedRun(), hostileRun()])
    }

    /// A run with 600 bins and 5,000 reads, and three races.
    static func bigRun(number: Int) -> RunResult {
        var run = F.bigRun()
        run.label = "big \(number)"
        let pids: [Int32] = Array(1_000...1_007)
        let ops = (0..<8).map { index in
            RaceOp(pid: pids[index], start: 10 + Double(index) * 0.0002, end: 10.003 + Double(index) * 0.0001, outcome: .ok,
                   count: 5_000 + index / 2, readAt: 10.001, readValue: 4_999 + index / 2, wroteAt: 10.002, colliding: index < 2)
        }
        var evidence = simulated(seconds: 60, perBin: 1_200, pids: pids, share: 0.9, insideView: true,
                                 races: Array(repeating: RaceTrace(count: 5_000, ops: ops), count: 3))
        let step = evidence.reads.count / 5_000 + 1
        evidence.reads = stride(from: 0, to: evidence.reads.count, by: step).map { evidence.reads[$0] }
        while evidence.reads.count < 5_000 { evidence.reads.append(evidence.reads[evidence.reads.count % 100]) }
        run.evidence = evidence
        return run
    }

    /// Evidence of a steady load: `perBin` operations each 100 ms bin, reads of
    /// each pid every 20 ms at `share` of what was acknowledged (1: a shared
    /// counter that loses nothing; 1/pids: each its own counter), and the sums
    /// starting again at `resetAt`. During `stall` the app answers slowly and fails some.
    static func simulated(seconds: Double, perBin: Int, pids: [Int32], share: Double, insideView: Bool, races: [RaceTrace],
                          resetAt: Double? = nil, stall: ClosedRange<Double>? = nil) -> RunEvidence {
        let binSeconds = 0.1
        var bins: [EvidenceBin] = []
        var acknowledged: [Double] = [0]
        for index in 0..<Int((seconds / binSeconds).rounded()) {
            let start = Double(index) * binSeconds
            let stalled = stall?.contains(start) ?? false
            let ok = stalled ? perBin / 8 : perBin + (index * 37) % (perBin / 10 + 1)
            let failed = stalled ? perBin / 10 : 0
            let unsure = stalled ? 3 : index % 11 == 0 ? 1 : 0
            bins.append(EvidenceBin(start: start, ok: ok, failed: failed, indeterminate: unsure, started: ok + unsure + index % 3,
                                    p50Ms: stalled ? 45 : 0.8 + Double(index % 5) / 10, p99Ms: stalled ? 900 : 4 + Double((index * 7) % 11),
                                    maxMs: stalled ? 1_400 : 30))
            let restart = resetAt.map { start <= $0 && $0 < start + binSeconds } ?? false
            acknowledged.append((restart ? 0 : acknowledged.last!) + Double(ok))
        }
        let own = share > 0 && share < 1 && abs(share * Double(pids.count) - 1) < 0.01
        var reads: [EvidenceRead] = []
        var time = 0.01
        while time < seconds {
            for (worker, pid) in pids.enumerated() {
                let bin = min(Int(time / binSeconds), acknowledged.count - 2)
                let fraction = time / binSeconds - Double(bin)
                let seen = acknowledged[bin] + (acknowledged[bin + 1] - acknowledged[bin]) * fraction
                let value = Int((seen * share).rounded()) + (own ? worker * 3 : 0)
                reads.append(EvidenceRead(pid: pid, worker: worker, value: value, start: time, end: time + 0.0004, final: false))
            }
            time += 0.02
        }
        for (worker, pid) in pids.enumerated() {
            let value = Int((acknowledged.last! * share).rounded()) + (own ? worker * 3 : 0)
            reads.append(EvidenceRead(pid: pid, worker: worker, value: value, start: seconds + 0.05, end: seconds + 0.051, final: true))
        }
        return RunEvidence(binSeconds: binSeconds, bins: bins, reads: reads, races: races, insideView: insideView)
    }

    // MARK: reading the page

    /// The run sections, in order.
    static func sections(_ html: String) -> [String] {
        html.components(separatedBy: "<section class=\"run\"").dropFirst().map { "<section class=\"run\"" + $0 }
    }

    /// Every value of an attribute, in order.
    static func attributeValues(_ name: String, in html: String) -> [String] {
        html.components(separatedBy: " \(name)=\"").dropFirst().compactMap { $0.split(separator: "\"", maxSplits: 1).first.map(String.init) }
    }

    /// Every element named `name` whose class is exactly `className`, from its opening tag to its closing one.
    static func elements(_ name: String, class className: String, in html: String) -> [String] {
        var found: [String] = []
        var rest = html[...]
        let opening = "<\(name) class=\"\(className)\""
        while let start = rest.range(of: opening) {
            var depth = 0
            var index = start.lowerBound
            while index < rest.endIndex {
                if rest[index...].hasPrefix("<\(name) ") || rest[index...].hasPrefix("<\(name)>") {
                    depth += 1
                } else if rest[index...].hasPrefix("</\(name)>") {
                    depth -= 1
                    if depth == 0 {
                        index = rest.index(index, offsetBy: name.count + 3)
                        break
                    }
                }
                index = rest.index(after: index)
            }
            found.append(String(rest[start.lowerBound..<index]))
            rest = rest[index...]
        }
        return found
    }

    struct Unbalanced: Error, CustomStringConvertible {
        var description: String
    }

    /// Every element is closed in order (void and self-closed ones aside), and no
    /// text holds a bare "<": what escaping and a well-formed page both promise.
    static func checkBalanced(_ html: String) throws {
        let void: Set<String> = ["meta", "br", "hr", "img", "input", "link", "!DOCTYPE"]
        var open: [String] = []
        var rest = html[...]
        while let lt = rest.firstIndex(of: "<") {
            guard let gt = rest[lt...].firstIndex(of: ">") else { throw Unbalanced(description: "a < never closed") }
            let tag = rest[rest.index(after: lt)..<gt]
            let name = String(tag.prefix { !$0.isWhitespace && $0 != "/" && $0 != ">" })
            if tag.hasPrefix("/") {
                let closing = String(tag.dropFirst())
                guard open.last == closing else { throw Unbalanced(description: "</\(closing)> closes <\(open.last ?? "nothing")>") }
                open.removeLast()
            } else if !tag.hasSuffix("/"), !void.contains(name) {
                guard name.first?.isLetter == true else { throw Unbalanced(description: "bare < before \(tag.prefix(20))") }
                open.append(name)
            }
            rest = rest[rest.index(after: gt)...]
        }
        guard open.isEmpty else { throw Unbalanced(description: "never closed: \(open)") }
    }
}
