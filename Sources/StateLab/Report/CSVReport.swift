import Foundation

/// A header and one row per run, quoted as RFC 4180 says: a field holding a
/// comma, a quote or a line break is put in quotes, quotes doubled; lines end
/// in CRLF. Numbers are plain (no thousands separators) for spreadsheets.
enum CSVReport {
    static let header = [
        "label", "strategy", "mode", "workers", "race_window_us", "concurrency", "skipped", "verdict",
        "acknowledged", "failed", "indeterminate", "final_min", "final_max", "lost", "lost_percent",
        "unexpected", "duplicates", "divergent", "throughput_rps", "p50_ms", "p90_ms", "p99_ms", "p999_ms",
        "max_ms", "expectations_held", "expectations_total", "failed_expectations", "restarts", "lost_to_restart",
        "durable",
    ]

    static func render(_ runs: [RunResult]) -> String {
        ([header] + runs.map(row)).map { $0.map(quote).joined(separator: ",") + "\r\n" }.joined()
    }

    static func row(_ run: RunResult) -> [String] {
        let check = run.check
        let leading = [
            run.label, run.isExternal ? "" : run.strategy.rawValue, run.isExternal ? "" : run.mode.rawValue, String(run.workers),
            String(run.raceWindowMicros), String(run.concurrency), run.skipped ?? "",
        ]
        // A skipped run has no numbers: empty fields, not zeros.
        guard !run.isSkipped else { return leading + Array(repeating: "", count: header.count - leading.count) }
        let latency = run.latency
        let held = run.expectations.filter(\.holds).count
        return leading + [
            check.verdict.rawValue,
            String(check.acknowledged), String(check.failed), String(check.indeterminate),
            String(check.finalMin), String(check.finalMax), String(check.lost), number(check.lostPercent),
            String(check.unexpected), String(check.duplicates), String(check.divergent),
            number(run.throughputRPS), number(latency.p50), number(latency.p90), number(latency.p99),
            number(latency.p999), number(latency.max),
            String(held), String(run.expectations.count),
            run.failedExpectations.map(\.expectation.text).joined(separator: "; "),
            String(check.restarts.count), check.lostToRestart.map(String.init) ?? "", check.durable.map(String.init) ?? "",
        ]
    }

    static func number(_ value: Double) -> String { ReportNumbers.plain(value) ?? "" }

    static func quote(_ field: String) -> String {
        // Scalars, not Characters: "\r\n" is one Character equal to neither "\r" nor "\n".
        guard field.unicodeScalars.contains(where: { ",\"\r\n".unicodeScalars.contains($0) }) else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
