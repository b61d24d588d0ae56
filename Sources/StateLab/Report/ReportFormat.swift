/// How `statelab compare` and `statelab load` print their result.
public enum ReportFormat: String, CaseIterable, Sendable {
    /// Aligned columns for a terminal.
    case table
    /// A GitHub table and an expectation list.
    case markdown
    /// `statelab.compare/1` or `statelab.load/1`.
    case json
    /// A header and one RFC 4180 row per run.
    case csv
}
