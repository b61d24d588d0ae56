/// `statelab load` in a terminal: one run, so a list of named values (as oha
/// prints its summary) instead of a one-row table, then the per-worker table
/// and the same sections as compare.
enum LoadSummary {
    static func render(_ run: RunResult, target: String, color: Bool) -> String {
        var lines = [TerminalColor.bold.paint("statelab load: \(target)", enabled: color), ""]
        if let reason = run.skipped {
            lines.append("  \(run.label): \(RunColumns.skippedText(reason))")
        } else {
            lines += values(run, color: color).map { name, value in "  \(name.padding(to: 14)) \(value)" }
            lines += perWorker(run, color: color)
        }
        let report = CompareReport(scenarioName: target, scenarioPath: "", runs: [run])
        lines += TableReport.sections(report, color: color, alwaysSummarize: false)
        return lines.joined(separator: "\n") + "\n"
    }

    static func values(_ run: RunResult, color: Bool) -> [(String, String)] {
        let check = run.check
        let latency = run.latency
        var setup = "\(run.label), \(run.workers) \(run.workers == 1 ? "worker" : "workers"), \(run.concurrency) connections"
        if run.raceWindowMicros > 0 { setup += ", race window \(ReportNumbers.grouped(run.raceWindowMicros)) us" }
        var rate = "\(ReportNumbers.rate(run.achievedRate)) req/s sent"
        if let target = run.targetRate { rate += " (target \(ReportNumbers.rate(target)))" }
        let verdictColor = TerminalColor.of(check.verdict)
        let probe = run.probe.map { probe in
            [("probe", "p50 \(ReportNumbers.millis(probe.p50Millis)) ms over \(probe.answered) requests at concurrency 1"
                + (probe.cpuBusyFraction.map { ", machine \(Diagnoser.percent($0)) busy" } ?? "")
                + (probe.serverCPUFraction.map { ", answering worker \(Diagnoser.percent($0)) of a core" } ?? ""))]
        } ?? []
        let limitRows: [(String, String)] = check.limit.map { limit in
            [("accepted", ReportNumbers.grouped(limit.accepted)), ("refused", ReportNumbers.grouped(limit.refused)),
             ("over limit", (limit.overLimit > 0 ? TerminalColor.red : nil).map { $0.paint(ReportNumbers.grouped(limit.overLimit), enabled: color) }
                ?? ReportNumbers.grouped(limit.overLimit))]
        } ?? []
        let counterRows: [(String, String)] = !check.counterChecked ? [] : [
            ("final", ReportNumbers.finalRange(check)),
            ("lost", (check.lost > 0 ? TerminalColor.red : nil)
                .map { $0.paint(ReportNumbers.lost(check), enabled: color) } ?? ReportNumbers.lost(check)),
            ("unexpected", ReportNumbers.grouped(check.unexpected)),
            ("duplicates", ReportNumbers.grouped(check.duplicates)),
            ("divergent", check.divergent ? "yes" : "no"),
        ]
        return [
            ("run", setup),
            ("elapsed", ReportNumbers.seconds(run.elapsed)),
            ("rate", rate),
            ("throughput", "\(ReportNumbers.rate(run.throughputRPS)) req/s acknowledged"),
            ("latency ms", "p50 \(ReportNumbers.millis(latency.p50))  p90 \(ReportNumbers.millis(latency.p90))  "
                + "p99 \(ReportNumbers.millis(latency.p99))  p99.9 \(ReportNumbers.millis(latency.p999))  "
                + "max \(ReportNumbers.millis(latency.max))"),
        ] + probe + [
            ("acknowledged", ReportNumbers.grouped(check.acknowledged)),
            ("failed", ReportNumbers.grouped(check.failed)),
            ("indeterminate", ReportNumbers.grouped(check.indeterminate)),
        ] + counterRows + limitRows + (run.retries.map { [("retries", ReportNumbers.grouped($0))] } ?? [])
          + (check.restarts.isEmpty ? [] : [("restart", RunColumns.restartText(check)
              + " (\(check.restarts.count) \(check.restarts.count == 1 ? "restart" : "restarts"); lost is races only)")]) + [
            ("verdict", verdictColor.paint(check.verdict.rawValue, enabled: color)),
        ]
    }

    static func perWorker(_ run: RunResult, color: Bool) -> [String] {
        guard !run.check.perWorker.isEmpty else { return [] }
        let hosts = run.check.perWorker.contains { $0.host != nil }
        var table = TextTable(columns: (hosts ? [.init(title: "host", alignment: .right)] : []) + [
            .init(title: "worker", alignment: .right), .init(title: "pid", alignment: .right),
            .init(title: "final count", alignment: .right), .init(title: "acked", alignment: .right),
        ])
        for tally in run.check.perWorker {
            table.append(.cells((hosts ? [.init(tally.host.map { String($0 + 1) } ?? "-")] : []) + [
                .init(tally.worker.map(String.init) ?? "-"), .init(String(tally.pid)),
                .init(ReportNumbers.grouped(tally.count)), .init(ReportNumbers.grouped(tally.acknowledged)),
            ]))
        }
        return ["", TerminalColor.bold.paint("Per worker", enabled: color)] + table.lines(color: color).map { "  " + $0 }
    }
}
