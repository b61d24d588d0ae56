/// The verdict in plain words: one sentence that says why the check gave
/// the verdict it gave, from the check's own figures. `compare`, `load` and
/// the dashboard all print this sentence; none of them derives its own.
extension CheckResult {
    public var explanation: String {
        guard let limit else { return counterExplanation }
        guard counterChecked else { return limit.sentence }
        // Both verdicts, the one that decided first.
        guard verdict == .overLimit else { return "\(counterExplanation); limit: \(limit.sentence)" }
        var counter = self
        counter.verdict = counterVerdict ?? verdict
        return "\(limit.sentence); count: \(counter.verdict.rawValue): \(counter.counterExplanation)"
    }

    /// The counter's half of the explanation.
    private var counterExplanation: String {
        switch verdict {
        case .overLimit:
            return limit?.sentence ?? "more were accepted than the limit allows"
        case .unknown:
            return inconclusive ?? "nothing was checked yet"
        case .lostUpdates:
            let missing = lost > 0
                ? "\(ReportNumbers.grouped(lost)) of \(ReportNumbers.grouped(acknowledgedSinceReset)) acknowledged increments are missing from the final count \(ReportNumbers.grouped(final))"
                : "the final count holds every acknowledged increment, yet two answers carried the same count: one update overwrote another"
            guard let witness = witnesses.first else { return missing }
            return "\(missing); \(Self.describe(witness, step: step))"
        case .divergent:
            if let hosts, hosts.count > 1 { return hostsExplanation(hosts) }
            let how = shared
                ? "the workers read different counts of one shared store at the end"
                : "each worker keeps its own counter"
            return "\(how): final reads from \(ReportNumbers.grouped(finalMin)) to \(ReportNumbers.grouped(finalMax))"
        case .errors:
            if unexpected > 0 {
                return "the final count \(ReportNumbers.grouped(final)) is \(ReportNumbers.grouped(unexpected)) above every increment that may have applied"
            }
            if readViolationCount > 0 {
                let reads = readViolationCount == 1 ? "read was" : "reads were"
                return "\(ReportNumbers.grouped(readViolationCount)) \(reads) outside what the history allows"
            }
            return inconclusive ?? "the history could not be checked"
        case .ok:
            let all = "every one of the \(ReportNumbers.grouped(acknowledgedSinceReset)) acknowledged increments is in the final count \(ReportNumbers.grouped(final))"
            let uncertain = final - acknowledgedSinceReset
            return uncertain > 0 ? "\(all); \(ReportNumbers.grouped(uncertain)) uncertain ones applied too" : all
        }
    }

    /// "the 3 hosts hold 3 separate counts (host 1 1,012, host 2 998, host 3 990)
    /// of 3,000 acknowledged; within each host its 2 workers agree".
    private func hostsExplanation(_ hosts: [HostTally]) -> String {
        let counts = hosts.map { "\($0.name.map { "host \($0)" } ?? "host \($0.host + 1)") \($0.agree ? ReportNumbers.grouped($0.high) : "\(ReportNumbers.grouped($0.low))-\(ReportNumbers.grouped($0.high))")" }
        let what: String
        if !shared {
            what = "each worker on each of the \(hosts.count) hosts keeps its own counter (\(counts.joined(separator: ", ")))"
        } else if perWorker.allSatisfy({ $0.host != nil }) && hosts.allSatisfy(\.agree) && Set(hosts.map(\.high)).count == 1 && hosts.count > 1 {
            what = "the \(hosts.count) hosts hold \(hosts.count) separate counts that happen to be equal (\(counts.joined(separator: ", "))), so a read sees one host's part"
        } else {
            what = "the \(hosts.count) hosts hold \(hosts.count) separate counts (\(counts.joined(separator: ", ")))"
        }
        let within: String
        if !shared {
            within = ""
        } else if hosts.allSatisfy(\.agree) {
            let sizes = Set(hosts.map(\.workers))
            within = "; within each host \(sizes.count == 1 && sizes.first! > 1 ? "its \(sizes.first!) workers agree" : "its workers agree")"
        } else {
            within = "; " + hosts.filter { !$0.agree }.map { "host \($0.host + 1)'s workers read \(ReportNumbers.grouped($0.low)) to \(ReportNumbers.grouped($0.high))" }.joined(separator: ", ")
        }
        return "\(what) of \(ReportNumbers.grouped(acknowledgedSinceReset)) acknowledged\(within)"
    }

    /// "count 5 returned 4 times, by pids 11865 (x2), 11866, 11868".
    public static func describe(_ witness: DuplicateWitness, step: Int = 1) -> String {
        // A stock counts down: its answers carry the stock left, the witness the count the check used.
        let count = step < 0 ? "stock \(ReportNumbers.grouped(-witness.count))" : "count \(ReportNumbers.grouped(witness.count))"
        if witness.pids.isEmpty { return "\(count) returned more than once (pids unknown)" }
        // "returned 8 times, by pids 11, 12 (x5), 13": a pid twice is two store threads of one worker.
        var times: [Int32: Int] = [:]
        witness.pids.forEach { times[$0, default: 0] += 1 }
        let pids = times.keys.sorted().map { times[$0]! > 1 ? "\($0) (x\(times[$0]!))" : "\($0)" }
        return "\(count) returned \(witness.pids.count) times, by \(pids.count == 1 ? "pid" : "pids") \(pids.joined(separator: ", "))"
    }

    /// The restarts' sentences, as the report prints them ("store restart at
    /// 1.20 s: 1,000 before, 0 after: not durable (1,000 lost to the restart)").
    public var restartSentences: [String] { restarts.map(\.sentence) }
}
