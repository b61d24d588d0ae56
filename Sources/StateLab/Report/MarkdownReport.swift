/// GitHub markdown: the same columns as the table, then the same sections as lists.
enum MarkdownReport {
    static func compare(_ report: CompareReport) -> String {
        var lines = ["## statelab compare: \(escape(report.scenarioName))", "",
                     "Scenario file: `\(report.scenarioPath)`", ""]
        lines += runTable(report.runs)
        lines += sections(report)
        return lines.joined(separator: "\n") + "\n"
    }

    static func load(_ run: RunResult, target: String) -> String {
        var lines = ["## statelab load: \(escape(target))", ""]
        lines += runTable([run])
        if !run.isSkipped, !run.check.perWorker.isEmpty {
            lines += ["", "| worker | pid | final count | acked |", "|---:|---:|---:|---:|"]
            lines += run.check.perWorker.map { tally in
                "| \(tally.worker.map(String.init) ?? "-") | \(tally.pid) | \(ReportNumbers.grouped(tally.count)) | \(ReportNumbers.grouped(tally.acknowledged)) |"
            }
        }
        lines += sections(CompareReport(scenarioName: target, scenarioPath: "", runs: [run]), alwaysSummarize: false)
        return lines.joined(separator: "\n") + "\n"
    }

    /// Header, alignment row and one row per run; a skipped run's reason sits in
    /// the workers column and the other cells stay empty.
    static func runTable(_ runs: [RunResult]) -> [String] {
        let columns = RunColumns.columns(for: runs)
        let restarts = RunColumns.showsRestarts(runs)
        var lines = [row(columns.map(\.title)), row(columns.map { $0.alignment == .right ? "---:" : "---" })]
        for run in runs {
            switch RunColumns.row(run, restarts: restarts) {
            case .cells(let cells):
                lines.append(row(cells.map(\.text)))
            case .spanning(let leading, let text):
                let cells = leading.map(\.text) + [text]
                lines.append(row(cells + Array(repeating: "", count: max(0, columns.count - cells.count))))
            }
        }
        return lines
    }

    static func sections(_ report: CompareReport, alwaysSummarize: Bool = true) -> [String] {
        var lines: [String] = []
        func section(_ title: String, _ items: [String]) {
            guard !items.isEmpty else { return }
            lines += ["", "### \(title)", ""] + items.map { "- " + $0 }
        }
        section("Verdicts", ReportSections.verdictLines(report.runs).map(escape))
        section("Limits", ReportSections.limitLines(report.runs).map(escape))
        if alwaysSummarize { section("Workers", ReportSections.workerLines(report.runs).map(escape)) }
        section("Duplicate witnesses", ReportSections.witnessLines(report.runs).map(escape))
        section("Notes", ReportSections.noteLines(report.runs).map(escape))
        section("Diagnosis", ReportSections.diagnosisLines(report.runs).map(escape))
        section("Expectations", ReportSections.expectationLines(report.runs).map { line in
            "\(line.status.mark) \(line.status.word): `\(line.label)` \(escape(line.text)) \(line.detail)"
        })
        if alwaysSummarize || !report.runs.allSatisfy(\.expectations.isEmpty) {
            lines += ["", "**\(ReportSections.summary(report))**"]
        }
        return lines
    }

    static func row(_ cells: [String]) -> String {
        "| " + cells.map(escape).joined(separator: " | ") + " |"
    }

    /// A pipe would end the cell; a line break would end the table.
    static func escape(_ text: String) -> String {
        var escaped = ""
        for character in text {
            switch character {
            case "|": escaped += "\\|"
            case "\n", "\r", "\r\n": escaped += " "
            default: escaped.append(character)
            }
        }
        return escaped
    }
}
