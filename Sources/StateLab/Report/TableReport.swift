/// The terminal format: a title, aligned columns, then witnesses, notes,
/// expectations and a summary line. Colour only when asked; every coloured
/// word also reads on its own.
enum TableReport {
    static func compare(_ report: CompareReport, color: Bool) -> String {
        var lines = [TerminalColor.bold.paint("statelab compare: \(report.scenarioName)", enabled: color)
            + " (\(report.scenarioPath))", ""]
        let restarts = RunColumns.showsRestarts(report.runs)
        var table = TextTable(columns: RunColumns.columns(for: report.runs))
        for run in report.runs { table.append(RunColumns.row(run, restarts: restarts)) }
        lines += table.lines(color: color)
        lines += sections(report, color: color)
        return lines.joined(separator: "\n") + "\n"
    }

    /// Witnesses, notes, expectations and the summary, each after a blank line.
    /// `alwaysSummarize: false` leaves out the summary line when nothing was expected (load).
    static func sections(_ report: CompareReport, color: Bool, alwaysSummarize: Bool = true) -> [String] {
        var lines: [String] = []
        func section(_ title: String, _ items: [String]) {
            guard !items.isEmpty else { return }
            lines += ["", TerminalColor.bold.paint(title, enabled: color)] + items.map { "  " + $0 }
        }
        section("Verdicts", ReportSections.verdictLines(report.runs))
        section("Limits (operations accepted and refused, per pid)", ReportSections.limitLines(report.runs))
        // `load` prints its own per-worker table.
        if alwaysSummarize { section("Workers (increments each pid answered, and its final read)", ReportSections.workerLines(report.runs)) }
        section("Duplicate witnesses (two ok increments got the same count: an update was lost)",
                ReportSections.witnessLines(report.runs))
        section("Notes", ReportSections.noteLines(report.runs))
        section("Diagnosis", ReportSections.diagnosisLines(report.runs))

        let expectations = ReportSections.expectationLines(report.runs)
        let wordWidth = expectations.map(\.status.word.count).max() ?? 0
        let labelWidth = expectations.map(\.label.count).max() ?? 0
        section("Expectations", expectations.map { line in
            let status = line.status.color.paint("\(line.status.mark) \(line.status.word)", enabled: color)
            let fill = String(repeating: " ", count: wordWidth - line.status.word.count)
            return "\(status)\(fill)  \(line.label.padding(to: labelWidth))  \(line.text) \(line.detail)"
        })

        guard alwaysSummarize || !expectations.isEmpty else { return lines }
        let summary = ReportSections.summary(report)
        let summaryColor: TerminalColor = report.exitCode == 0 && !report.interrupted ? .green : .red
        lines += ["", report.evaluatedExpectations.isEmpty ? summary : summaryColor.paint(summary, enabled: color)]
        return lines
    }
}

extension String {
    /// Left-justified in `width` characters.
    func padding(to width: Int) -> String {
        self + String(repeating: " ", count: max(0, width - count))
    }
}
