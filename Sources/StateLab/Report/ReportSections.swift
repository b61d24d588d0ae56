/// What follows the table of runs, in words: duplicate witnesses, anything
/// else the check found, each expectation and a one-line summary. Table and
/// markdown lay these out differently but say the same.
enum ReportSections {
    /// "shm/naive: count 41 returned 2 times, by pids 123, 456", the first five per run,
    /// then how many duplicates there were in all when some are not shown.
    static func witnessLines(_ runs: [RunResult]) -> [String] {
        runs.filter { !$0.isSkipped }.flatMap { run -> [String] in
            let shown = run.check.witnesses.prefix(Checker.witnessCap)
            var lines = shown.map { "\(run.label): \(CheckResult.describe($0, step: run.check.step))" }
            if run.check.duplicates > shown.count {
                lines.append("\(run.label): \(ReportNumbers.grouped(run.check.duplicates)) duplicates in all, \(shown.count) shown")
            }
            return lines
        }
    }


    /// "shm/naive: lost-updates: 12 of 2,000 acknowledged increments are missing ...":
    /// each run's verdict and the sentence that explains it, the words the dashboard shows.
    static func verdictLines(_ runs: [RunResult]) -> [String] {
        runs.filter { !$0.isSkipped }.map { "\($0.label): \($0.check.verdict.rawValue): \($0.check.explanation)" }
    }

    /// "global: pid 11 answered 512 (26%), read 512; pid 12 ...": each worker's
    /// share of the increments and its final read, the heart of what a
    /// multi-worker app does with its state.
    static func workerLines(_ runs: [RunResult]) -> [String] {
        runs.filter { !$0.isSkipped && !$0.check.perWorker.isEmpty }.map { run in
            let total = max(1, run.check.acknowledged)
            func line(_ worker: WorkerTally) -> String {
                let share = Int((Double(worker.acknowledged) * 100 / Double(total)).rounded())
                return "pid \(worker.pid) answered \(ReportNumbers.grouped(worker.acknowledged)) (\(share)%), read \(ReportNumbers.grouped(worker.count))"
            }
            // With hosts, grouped by host: "host 1: pid 11 ...; pid 12 ... | host 2: ...".
            if run.check.perWorker.contains(where: { $0.host != nil }) {
                let hosts = Dictionary(grouping: run.check.perWorker, by: { $0.host ?? -1 })
                let groups = hosts.keys.sorted().map { host in
                    let name = hosts[host]!.first?.hostName.map { "host \($0)" } ?? "host \(host + 1)"
                    return "\(name): " + hosts[host]!.map(line).joined(separator: "; ")
                }
                return "\(run.label): \(groups.joined(separator: " | "))"
            }
            return "\(run.label): \(run.check.perWorker.map(line).joined(separator: "; "))"
        }
    }

    /// "flask: limit 50 per 1m (fixed window, assumed): 200 accepted, 200 refused, 100 over; pid 11: 50 accepted, 50 refused; ...".
    static func limitLines(_ runs: [RunResult]) -> [String] {
        runs.filter { !$0.isSkipped }.compactMap { run in
            guard let limit = run.check.limit else { return nil }
            var head = "limit " + (limit.windowSeconds.map { "\(ReportNumbers.grouped(limit.limit)) per \(DurationText.format(.nanoseconds(Int64($0 * 1e9))))" }
                ?? "\(ReportNumbers.grouped(limit.limit)) in all")
            if let algorithm = limit.algorithm { head += " (\(algorithm)\(limit.assumed ? ", assumed" : ""))" }
            head += ": \(ReportNumbers.grouped(limit.accepted)) accepted, \(ReportNumbers.grouped(limit.refused)) refused, "
                + "\(ReportNumbers.grouped(limit.overLimit)) over"
            let pids = limit.perPid.map { "pid \($0.pid): \(ReportNumbers.grouped($0.accepted)) accepted, \(ReportNumbers.grouped($0.refused)) refused" }
            return "\(run.label): " + ([head] + pids).joined(separator: "; ")
        }
    }

    /// The rest of the check that has no column: unexpected increments, reads
    /// out of bounds, workers that could not be read.
    static func noteLines(_ runs: [RunResult]) -> [String] {
        runs.filter { !$0.isSkipped }.flatMap { run -> [String] in
            var notes: [String] = []
            let check = run.check
            if check.unexpected > 0 {
                notes.append("\(run.label): \(ReportNumbers.grouped(check.unexpected)) unexpected (the final count is above every increment that may have applied)")
            }
            if check.readViolationCount > 0 {
                notes.append("\(run.label): \(ReportNumbers.grouped(check.readViolationCount)) \(check.readViolationCount == 1 ? "read" : "reads") out of bounds")
                for violation in check.readViolations.prefix(violationSamples) {
                    notes.append("\(run.label):   \(describe(violation, in: check))")
                }
            }
            let named = Set(check.unread.map(\.pid))
            let unreached = run.unreachedPids.filter { !named.contains($0) }
            if !unreached.isEmpty {
                let pids = unreached.map(String.init).joined(separator: ", ")
                notes.append("\(run.label): could not read \(unreached.count == 1 ? "worker" : "workers") \(pids)")
            }
            for worker in check.unread {
                let index = worker.worker.map { "worker \($0), " } ?? ""
                notes.append("\(run.label): unread: \(index)pid \(worker.pid): \(worker.reason) (left out of final)")
            }
            if let reason = check.inconclusive {
                notes.append("\(run.label): \(check.verdict == .unknown ? "unknown" : "inconclusive"): \(reason)")
            }
            if check.unsettled {
                notes.append("\(run.label): unsettled: the final reads kept changing after the load ended")
            }
            for step in check.missedSteps { notes.append("\(run.label): FAILED: \(step)") }
            if run.interrupted { notes.append("\(run.label): interrupted before it finished") }
            notes += run.notes.map { "\(run.label): \($0)" }
            return notes
        }
    }

    /// "load: latency floor: ...", one line per diagnosis of each run.
    /// A diagnosis already explained for an earlier run is given in its first sentence only.
    static func diagnosisLines(_ runs: [RunResult]) -> [String] {
        var explained: Set<String> = []
        return runs.filter { !$0.isSkipped }.flatMap { run in
            run.diagnosis.map { diagnosis in
                defer { explained.insert(diagnosis.code) }
                guard explained.contains(diagnosis.code), let end = diagnosis.text.range(of: ". ")
                else { return "\(run.label): \(diagnosis.text)" }
                return "\(run.label): \(diagnosis.text[..<end.lowerBound]) (see above)"
            }
        }
    }

    /// Read violations printed under the table; JSON has up to `Checker.readViolationCap`.
    static let violationSamples = 5

    /// "pid 123 read 7 at 1.25 s, outside [9, 12]".
    static func describe(_ violation: ReadViolation, in check: CheckResult) -> String {
        let read = violation.read
        let at = String(format: "%.3f", check.secondsIntoRun(read.start))
        return "pid \(read.pid) read \(ReportNumbers.grouped(read.value)) at \(at) s, outside [\(ReportNumbers.grouped(violation.lower)), \(ReportNumbers.grouped(violation.upper))]"
    }

    enum Status {
        case held, failed, skipped

        /// A mark and a word, so the line reads without colour.
        var mark: String {
            switch self {
            case .held: return "✓"
            case .failed: return "✗"
            case .skipped: return "○"
            }
        }

        var word: String {
            switch self {
            case .held: return "ok"
            case .failed: return "FAILED"
            case .skipped: return "skipped"
            }
        }

        var color: TerminalColor {
            switch self {
            case .held: return .green
            case .failed: return .red
            case .skipped: return .dim
            }
        }
    }

    struct ExpectationLine {
        var status: Status
        var label: String
        var text: String
        /// "(got 0)", or "(run skipped)".
        var detail: String
    }

    static func expectationLines(_ runs: [RunResult]) -> [ExpectationLine] {
        runs.flatMap { run in
            run.expectations.map { outcome in
                if run.isSkipped {
                    return ExpectationLine(status: .skipped, label: run.label, text: outcome.expectation.text,
                                           detail: "(run skipped)")
                }
                return ExpectationLine(status: outcome.holds ? .held : .failed, label: run.label,
                                       text: outcome.expectation.text, detail: "(got \(got(outcome.actual)))")
            }
        }
    }

    static func got(_ value: ResultValue?) -> String {
        switch value {
        case .number(let number)?: return ReportNumbers.plain(number) ?? "\(number)"
        case .bool(let flag)?: return String(flag)
        case .text(let text)?: return text
        case nil: return "nothing"
        }
    }

    /// "5 of 6 expectations held; 1 run skipped".
    static func summary(_ report: CompareReport) -> String {
        let total = report.evaluatedExpectations.count
        var line = total == 0
            ? "no expectations checked"
            : "\(report.heldCount) of \(total) \(total == 1 ? "expectation" : "expectations") held"
        let skipped = report.skippedRuns.count
        if skipped > 0 { line += "; \(skipped) \(skipped == 1 ? "run" : "runs") skipped" }
        let failed = report.runs.filter { !$0.failures.isEmpty }.count
        if failed > 0 { line += "; \(failed) \(failed == 1 ? "run" : "runs") failed (see Notes)" }
        if report.interrupted { line += "; interrupted: only the runs above finished" }
        return line
    }
}
