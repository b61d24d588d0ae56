import Foundation
import StateLab
import Testing
@testable import StateLabDashboard

/// The dashboard shows the verdict the checker gives, in the words `compare`
/// prints: the same history, checked once, goes to both front ends here.
@Suite struct OneVerdictTests {
    static let cases: [(Verdict, @Sendable () -> CheckResult)] = [
        (.ok, { Histories.ok(1000) }),
        (.lostUpdates, { Histories.lostUpdates() }),
        (.divergent, { Histories.divergent(reads: [512, 500, 496, 488]) }),
        (.errors, { Histories.errors() }),
        (.unknown, { Histories.unknown() }),
    ]

    @Test(arguments: 0..<5)
    func theDashboardShowsCompareVerdictAndWords(which: Int) throws {
        let (verdict, make) = Self.cases[which]
        let check = make()
        #expect(check.verdict == verdict)

        // The dashboard, after a burst checked to that history (wide enough for the whole sentence).
        var model = Fixtures.base(verdict == .divergent ? .global : .shm)
        model.apply(.burstStarted(total: 1000))
        model.apply(.burstFinished(RunTotals(check: check)))
        let screen = Renderer.render(model, width: 400, height: 40)
        let line = try #require(screen.line(containing: "\(verdict.rawValue): "), "no verdict line for \(verdict)")
        let shown = line.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "│ "))

        // compare's report of a run with the same check: its Verdicts line, and its JSON.
        let run = RunResult(label: "run", strategy: .shm, mode: .naive, workers: 4, check: check)
        let report = CompareReport(scenarioName: "same history", scenarioPath: "-", runs: [run])
        let table = ReportWriter.render(report, as: .table)
        #expect(table.contains("run: \(shown)"), "compare says otherwise than the dashboard's \"\(shown)\":\n\(table)")
        #expect(shown == "\(check.verdict.rawValue): \(check.explanation)")
        let json = ReportWriter.render(report, as: .json)
        #expect(json.contains("\"verdict\" : \"\(verdict.rawValue)\"") || json.contains("\"verdict\": \"\(verdict.rawValue)\""), "\(json)")
    }

    /// What the verdict box can show is a check and nothing else: `RunTotals`
    /// holds a `CheckResult` and its witnesses' rows, and the live figures of a
    /// burst in flight hold no lost count and no verdict. A front end that
    /// wanted its own figure would have to add a field, and fail here.
    @Test func theBoxHoldsOnlyTheCheck() {
        let totals = Mirror(reflecting: RunTotals(check: Histories.ok(4)))
        #expect(totals.children.compactMap(\.label) == ["check", "witnesses"])
        let live = Mirror(reflecting: LiveFigures())
        let fields = Set(live.children.compactMap(\.label))
        #expect(fields == ["acknowledged", "failed", "indeterminate", "storeRead"])
    }
}
