/// Turns results into the text `statelab compare` and `statelab load` print.
/// Pure: it never looks at the terminal, so the caller decides on colour
/// (stdout is a tty and NO_COLOR is unset) and where the text goes.
public enum ReportWriter {
    public static func render(_ report: CompareReport, as format: ReportFormat, color: Bool = false) -> String {
        switch format {
        case .table: return TableReport.compare(report, color: color)
        case .markdown: return MarkdownReport.compare(report)
        case .json: return JSONReport.compare(report)
        case .csv: return CSVReport.render(report.runs)
        }
    }

    /// One load run against `target` (a URL or "statelab serve ..." description).
    public static func renderLoad(_ run: RunResult, target: String, as format: ReportFormat, color: Bool = false) -> String {
        switch format {
        case .table: return LoadSummary.render(run, target: target, color: color)
        case .markdown: return MarkdownReport.load(run, target: target)
        case .json: return JSONReport.load(run, target: target)
        case .csv: return CSVReport.render([run])
        }
    }
}
