/// A report as one self-contained HTML page: the summary table and the
/// verdicts in the terminal's words, then per run its charts over time, its
/// reads against what the history allows, each pid's share, and its witnessed
/// races drawn as Jepsen timelines. Inline CSS and inline SVG only: the page
/// loads nothing, runs no script, and reads the same offline years later.
///
/// Pure, like `ReportWriter`: every sentence comes from `ReportSections`,
/// `RunColumns` and the check; every figure from the run and its evidence.
public enum HTMLReport {
    /// `statelab compare`: the scenario's runs.
    public static func compare(_ report: CompareReport) -> String {
        let title = "statelab compare: \(report.scenarioName)"
        var body = "<header><h1>\(escape(title))</h1>"
            + "<p class=\"meta\">Scenario file: <code>\(escape(report.scenarioPath))</code></p></header>"
        body += overview(report, alwaysSummarize: true)
        for (index, run) in report.runs.enumerated() { body += runSection(run, number: index + 1) }
        return document(title: title, body: body)
    }

    /// `statelab load`: one run against `target` (a URL or "statelab serve ..." description).
    public static func load(_ run: RunResult, target: String) -> String {
        let title = "statelab load: \(target)"
        var body = "<header><h1>\(escape(title))</h1></header>"
        body += overview(CompareReport(scenarioName: target, scenarioPath: "", runs: [run]), alwaysSummarize: false)
        body += runSection(run, number: 1)
        return document(title: title, body: body)
    }

    static func document(title: String, body: String) -> String {
        """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(escape(title))</title>
        <style>\(style)</style>
        </head>
        <body>
        <main>
        \(body)
        <footer>Written by statelab. This page is self-contained: it loads nothing and runs no script.</footer>
        </main>
        </body>
        </html>

        """
    }

    /// Text made safe for HTML content and attribute values alike. Control
    /// characters an app may send (other than tab and newline) become U+FFFD.
    /// The colon of "://" is written as a character reference: the page shows
    /// the target's URL as typed, yet its source holds no URL, so a check that
    /// the page refers to nothing outside it never mistakes text for a link.
    static func escape(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        let scalars = Array(text.unicodeScalars)
        for (index, scalar) in scalars.enumerated() {
            switch scalar {
            case ":" where scalars[index + 1..<min(index + 3, scalars.count)].elementsEqual(["/", "/"]):
                escaped += "&#58;"
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            case "\t", "\n": escaped.unicodeScalars.append(scalar)
            case _ where scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value): escaped += "\u{FFFD}"
            default: escaped.unicodeScalars.append(scalar)
            }
        }
        return escaped
    }

    /// A line of `ReportSections` made for `[run]`, without the run's label in
    /// front: inside the run's own section the heading already names it.
    static func unlabelled(_ line: String, _ run: RunResult) -> String {
        let prefix = "\(run.label): "
        guard line.hasPrefix(prefix) else { return line }
        return String(line.dropFirst(prefix.count).drop { $0 == " " })
    }

    /// What a run's section is marked with: its verdict, or "skipped".
    static func verdictName(_ run: RunResult) -> String {
        run.isSkipped ? "skipped" : run.check.verdict.rawValue
    }

    static func badge(_ run: RunResult) -> String {
        "<span class=\"badge v-\(verdictName(run))\">\(escape(verdictName(run)))</span>"
    }

    // MARK: the overview

    /// The summary table, the verdicts in the terminal's words, the summary line.
    static func overview(_ report: CompareReport, alwaysSummarize: Bool) -> String {
        var html = "<section class=\"overview\">" + summaryTable(report.runs)
        let verdicts = report.runs.enumerated().flatMap { index, run in
            ReportSections.verdictLines([run]).map { line in
                "<li class=\"v-\(verdictName(run))\">\(escape(line)) <a class=\"jump\" href=\"#run-\(index + 1)\">details</a></li>"
            }
        }
        if !verdicts.isEmpty { html += "<h2>Verdicts</h2><ul class=\"verdicts\">\(verdicts.joined())</ul>" }
        if alwaysSummarize || !report.runs.allSatisfy(\.expectations.isEmpty) {
            html += "<p class=\"summary\">\(escape(ReportSections.summary(report)))</p>"
        }
        return html + "</section>\n"
    }

    /// RunColumns' columns and rows; each row's first cell links to its run's section.
    static func summaryTable(_ runs: [RunResult]) -> String {
        let columns = RunColumns.columns(for: runs)
        let restarts = RunColumns.showsRestarts(runs)
        let alignment = { (index: Int) in index < columns.count && columns[index].alignment == .right ? " class=\"num\"" : "" }
        var html = "<div class=\"table-wrap\"><table class=\"summary\"><thead><tr>"
        html += columns.enumerated().map { "<th\(alignment($0.offset))>\(escape($0.element.title))</th>" }.joined()
        html += "</tr></thead><tbody>"
        for (index, run) in runs.enumerated() {
            let link = { (text: String) in "<a href=\"#run-\(index + 1)\" title=\"\(escape(run.label))\">\(text)</a>" }
            func cells(_ cells: [TextTable.Cell]) -> String {
                cells.enumerated().map { position, cell in
                    var text = escape(cell.text)
                    // The verdict's cell: its word in the verdict's colour, as the terminal paints it.
                    if cell.text == run.check.verdict.rawValue, cell.color == TerminalColor.of(run.check.verdict) {
                        text = "<span class=\"verdict v-\(verdictName(run))\">\(text)</span>"
                    } else if let color = cell.color {
                        text = "<span class=\"\(colorClass(color))\">\(text)</span>"
                    }
                    return "<td\(alignment(position))>\(position == 0 ? link(text) : text)</td>"
                }.joined()
            }
            html += "<tr data-verdict=\"\(verdictName(run))\">"
            switch RunColumns.row(run, restarts: restarts) {
            case .cells(let all):
                html += cells(all)
            case .spanning(let leading, let text):
                html += cells(leading) + "<td class=\"skip\" colspan=\"\(max(1, columns.count - leading.count))\">\(escape(text))</td>"
            }
            html += "</tr>"
        }
        return html + "</tbody></table></div>"
    }

    /// The table's cell colours as classes: red and yellow mark lost updates, restarts' losses and divergence.
    static func colorClass(_ color: TerminalColor) -> String {
        switch color {
        case .red: "c-red"
        case .yellow: "c-yellow"
        case .green: "c-green"
        case .magenta, .dim: "c-grey"
        case .bold: "c-strong"
        }
    }

    // MARK: a run

    static func runSection(_ run: RunResult, number: Int) -> String {
        var html = "<section class=\"run\" id=\"run-\(number)\" data-verdict=\"\(verdictName(run))\">"
        html += "<h2>\(badge(run)) <span class=\"label\">\(escape(run.label))</span></h2>"
        if let reason = run.skipped {
            html += "<p class=\"skipped\">\(escape(RunColumns.skippedText(reason)))</p>"
            return html + textSections(run) + "</section>\n"
        }
        html += "<p class=\"explanation\">\(escape(run.check.explanation))</p>"
        html += "<dl class=\"figures\">" + LoadSummary.values(run, color: false).map { name, value in
            "<div><dt>\(escape(name))</dt><dd>\(escape(value))</dd></div>"
        }.joined() + "</dl>"
        let colors = PidColors(run)
        let shares = sharesChart(run) ?? ""
        if let evidence = run.evidence {
            let timeline = RunTimeline(evidence, check: run.check, elapsed: run.elapsed)
            html += "<div class=\"charts\">"
            if evidence.bins.isEmpty {
                html += "<p class=\"no-evidence\">No operation was recorded over time, so there is no throughput or latency to draw.</p>"
            } else {
                html += throughputChart(evidence, timeline: timeline) + latencyChart(evidence, timeline: timeline)
            }
            if run.check.counterChecked { html += readsChart(run, evidence: evidence, timeline: timeline, colors: colors) }
            html += shares + "</div>"
            html += races(run, evidence: evidence, colors: colors)
        } else {
            html += "<p class=\"no-evidence\">This run has no timeline: its evidence over time (bins, reads, races) was not collected.</p>"
            html += "<div class=\"charts\">\(shares)</div>"
        }
        return html + textSections(run) + "</section>\n"
    }

    /// The terminal's sections for this run alone, under the terminal's names.
    static func textSections(_ run: RunResult) -> String {
        func section(_ kind: String, _ title: String, _ lines: [String]) -> String {
            guard !lines.isEmpty else { return "" }
            return "<h3>\(escape(title))</h3><ul class=\"\(kind)\">"
                + lines.map { "<li>\(escape(unlabelled($0, run)))</li>" }.joined() + "</ul>\n"
        }
        var html = section("limits", "Limits (operations accepted and refused, per pid)", ReportSections.limitLines([run]))
        html += section("witnesses", "Duplicate witnesses (two ok increments got the same count: an update was lost)",
                        ReportSections.witnessLines([run]))
        html += section("notes", "Notes", ReportSections.noteLines([run]))
        html += section("diagnosis", "Diagnosis", ReportSections.diagnosisLines([run]))
        let expectations = ReportSections.expectationLines([run])
        if !expectations.isEmpty {
            html += "<h3>Expectations</h3><ul class=\"expectations\">" + expectations.map { line in
                let status = switch line.status {
                case .held: "held"
                case .failed: "failed"
                case .skipped: "skipped"
                }
                return "<li class=\"\(status)\"><span class=\"mark\">\(escape(line.status.mark)) \(escape(line.status.word))</span> "
                    + "<code>\(escape(line.text))</code> \(escape(line.detail))</li>"
            }.joined() + "</ul>\n"
        }
        return html
    }
}
