/// The columns of one run's row, shared by the table and markdown formats so
/// both show the same thing.
enum RunColumns {
    static let columns: [TextTable.Column] = [
        .init(title: "strategy", alignment: .left),
        .init(title: "mode", alignment: .left),
        .init(title: "workers", alignment: .right),
        .init(title: "acked", alignment: .right),
        .init(title: "failed", alignment: .right),
        .init(title: "indet", alignment: .right),
        .init(title: "final", alignment: .right),
        .init(title: "lost", alignment: .right),
        .init(title: "dups", alignment: .right),
        .init(title: "divergent", alignment: .left),
        .init(title: "req/s", alignment: .right),
        .init(title: "p50 ms", alignment: .right),
        .init(title: "p99 ms", alignment: .right),
        .init(title: "verdict", alignment: .left),
    ]

    /// The runs' columns: `columns`, and a restart column when a run had a
    /// store, app or worker restart (what the restart kept).
    static func columns(for runs: [RunResult]) -> [TextTable.Column] {
        guard showsRestarts(runs) else { return columns }
        var all = columns
        all.insert(.init(title: "restart", alignment: .left), at: all.count - 1)
        return all
    }

    static func showsRestarts(_ runs: [RunResult]) -> Bool { runs.contains { !$0.check.restarts.isEmpty } }

    /// "durable", "lost 1,000" (to the restart, not to races), "?" when the
    /// reads were not exact, "-" without a restart.
    static func restartText(_ check: CheckResult) -> String {
        guard !check.restarts.isEmpty else { return "-" }
        guard let lost = check.lostToRestart, check.durable != nil else { return "?" }
        return check.durable == true ? "durable" : "lost \(ReportNumbers.grouped(lost))"
    }

    static func row(_ run: RunResult, restarts: Bool) -> TextTable.Row {
        guard restarts, case .cells(var cells) = row(run) else { return row(run) }
        let text = restartText(run.check)
        cells.insert(.init(text, color: text.hasPrefix("lost") ? .yellow : nil), at: cells.count - 1)
        return .cells(cells)
    }

    /// The cells before a skipped run's reason.
    static func leading(_ run: RunResult) -> [TextTable.Cell] {
        // The user's app has no strategy or mode of statelab's: its run's name stands there.
        run.isExternal ? [.init(run.label), .init("-")] : [.init(run.strategy.rawValue), .init(run.mode.rawValue)]
    }

    /// "skipped: redis-server not found ...".
    static func skippedText(_ reason: String) -> String { "skipped: \(reason)" }

    static func row(_ run: RunResult) -> TextTable.Row {
        if let reason = run.skipped { return .spanning(leading(run), skippedText(reason)) }
        let check = run.check
        return .cells(leading(run) + [
            .init(ReportNumbers.grouped(run.workers)),
            .init(ReportNumbers.grouped(check.acknowledged)),
            .init(ReportNumbers.grouped(check.failed)),
            .init(ReportNumbers.grouped(check.indeterminate)),
            .init(ReportNumbers.finalRange(check)),
            .init(ReportNumbers.lost(check), color: check.lost > 0 ? .red : nil),
            .init(ReportNumbers.grouped(check.duplicates)),
            .init(check.divergent ? "yes" : "no", color: check.divergent ? .yellow : nil),
            .init(ReportNumbers.rate(run.throughputRPS)),
            .init(ReportNumbers.millis(run.latency.p50)),
            .init(ReportNumbers.millis(run.latency.p99)),
            .init(check.verdict.rawValue, color: TerminalColor.of(check.verdict)),
        ])
    }
}
