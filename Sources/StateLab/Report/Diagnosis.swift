/// One finding about a run, in words and with the figures it rests on.
/// Reports print `text` under the table; JSON carries all three.
public struct Diagnosis: Sendable, Codable, Equatable {
    /// Stable and machine-readable: latency-floor, queueing, uneven-share,
    /// per-worker-state, partial-reset, unreached-workers.
    public var code: String
    public var text: String
    public var evidence: [String: EvidenceValue]

    public init(code: String, text: String, evidence: [String: EvidenceValue]) {
        self.code = code
        self.text = text
        self.evidence = evidence
    }
}

/// A number or a string, encoded as the bare JSON value.
public enum EvidenceValue: Sendable, Codable, Equatable {
    case number(Double)
    case text(String)

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let number = try? container.decode(Double.self) {
            self = .number(number)
        } else {
            self = .text(try container.decode(String.self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .number(let number): try container.encode(number)
        case .text(let text): try container.encode(text)
        }
    }

    public var number: Double? {
        if case .number(let number) = self { return number }
        return nil
    }
}

/// Turns a run's results into diagnoses. A pure function of what the run
/// measured, never of how the target was started or named: the same
/// evidence gives the same diagnosis for statelab's own app and any other.
public enum Diagnoser {
    /// A probe p50 in this band, on a mostly idle machine, is the Nagle +
    /// delayed-ACK floor (Linux's delayed ACK is 40 ms; about 44 ms was measured).
    public static let floorBandMillis: ClosedRange<Double> = 30...60
    /// "Mostly idle": at most this share busy during the probe: of one core
    /// for the answering worker when its CPU is known, else of all cores. A
    /// server that burns 40 ms of CPU per request at concurrency 1 keeps a
    /// whole core busy; an idle wait does not.
    public static let idleBusyFraction = 0.5
    /// Fewer answered probe requests than this say nothing.
    public static let minimumProbeAnswers = 10
    /// The load's p50 counts as queueing when it is within this factor of
    /// concurrency / throughput (Little's law).
    public static let littleTolerance = 2.0
    /// A pid answering more than this share (with 2 workers or more) is uneven...
    public static let unevenShare = 0.6
    /// ...or one answering this many times its fair share.
    public static let unevenFairMultiple = 2.0
    /// Fewer acknowledged increments than this say nothing about shares.
    public static let minimumAcknowledgedForShare = 100

    public static func diagnose(outcome: RunOutcome, concurrency: Int) -> [Diagnosis] {
        let probe = outcome.probe
        var found: [Diagnosis] = []
        if let latency = latency(load: outcome.load, probe: probe, concurrency: concurrency) { found.append(latency) }
        if let limit = perProcessLimit(outcome.check) { found.append(limit) }
        // A limit alone reads nothing: the counter's diagnoses have nothing to go on.
        guard outcome.check.counterChecked else { return found }
        if let uneven = unevenShare(outcome) { found.append(uneven) }
        if let perWorker = perWorkerState(outcome.check) { found.append(perWorker) }
        found += partialResets(outcome)
        if let unreached = unreachedWorkers(outcome) { found.append(unreached) }
        return found
    }

    /// Two or more workers each accepted about the limit, together over it:
    /// the limiter keeps its counts in each process (flask-limiter's and
    /// slowapi's memory:// storage under several workers).
    static func perProcessLimit(_ check: CheckResult) -> Diagnosis? {
        guard let limit = check.limit, limit.perProcess else { return nil }
        let accepting = limit.fullPids
        let per = limit.windowSeconds.map { "\(ReportNumbers.grouped(limit.limit)) per \(DurationText.format(.nanoseconds(Int64($0 * 1e9))))" }
            ?? "\(ReportNumbers.grouped(limit.limit))"
        let each = accepting.map { "pid \($0.pid) \(ReportNumbers.grouped($0.accepted))" }.joined(separator: ", ")
        return Diagnosis(code: "per-process-limit", text: """
            per-process limit: each of \(accepting.count) workers enforces its own \(per): \(ReportNumbers.grouped(limit.accepted)) \
            accepted (\(each)). The limiter keeps its counts in each worker's memory (flask-limiter's or slowapi's \
            memory:// storage, a module-level dict); use a storage every worker shares, such as redis://.
            """, evidence: [
                "limit": .number(Double(limit.limit)),
                "accepted": .number(Double(limit.accepted)),
                "accepting_pids": .number(Double(accepting.count)),
                "over_limit": .number(Double(limit.overLimit)),
            ])
    }

    // MARK: Latency

    /// The probe has no queue: a floor there is per request. A slow load with
    /// a fast probe is only its connections waiting their turn.
    static func latency(load: LoadResult, probe: LatencyProbe.Result?, concurrency: Int) -> Diagnosis? {
        guard let probe, probe.answered >= minimumProbeAnswers else { return nil }
        var evidence: [String: EvidenceValue] = [
            "probe_requests": .number(Double(probe.answered)),
            "probe_p50_ms": .number(probe.p50Millis),
            "probe_p90_ms": .number(probe.p90Millis),
            "load_p50_ms": .number(load.latency.p50),
            "load_throughput_rps": .number(load.throughput),
            "concurrency": .number(Double(concurrency)),
        ]
        if let busy = probe.cpuBusyFraction { evidence["probe_cpu_busy"] = .number(busy) }
        if let server = probe.serverCPUFraction { evidence["probe_server_cpu"] = .number(server) }
        evidence["cores"] = .number(Double(probe.cores))

        if floorBandMillis.contains(probe.p50Millis) {
            // The worker's own CPU when known: other programs on a shared machine do not make it work.
            let idle: String
            if let server = probe.serverCPUFraction {
                guard server <= idleBusyFraction else { return nil }
                idle = "while the answering worker used \(percent(server)) of a core"
            } else {
                guard let busy = probe.cpuBusyFraction, busy <= idleBusyFraction else { return nil }
                idle = "while the machine was \(percent(busy)) busy"
            }
            let p50 = ReportNumbers.millis(probe.p50Millis)
            return Diagnosis(code: "latency-floor", text: """
                latency floor: one request at a time takes \(p50) ms (p50 of \(probe.answered) sequential GETs on one \
                keep-alive connection) \(idle): the server waits, it does not work. \
                That is Nagle's algorithm meeting delayed ACK: the server writes the answer's head and body in separate \
                writes without TCP_NODELAY, and the last segment waits for the client's ACK (about 40 ms). Fix: set \
                TCP_NODELAY on accepted sockets, e.g. run the app under gunicorn with uvicorn workers \
                (gunicorn -k uvicorn.workers.UvicornWorker), or use a server that sets it
                """, evidence: evidence)
        }

        guard concurrency > 1, load.throughput > 0, probe.p50Millis < floorBandMillis.lowerBound,
              load.latency.p50 >= floorBandMillis.lowerBound else { return nil }
        let queued = Double(concurrency) / load.throughput * 1000
        evidence["little_p50_ms"] = .number(queued)
        let ratio = load.latency.p50 / queued
        guard ratio >= 1 / littleTolerance, ratio <= littleTolerance else { return nil }
        return Diagnosis(code: "queueing", text: """
            queueing: the load's p50 of \(ReportNumbers.millis(load.latency.p50)) ms is \(concurrency) connections \
            waiting their turn at \(ReportNumbers.rate(load.throughput)) req/s (concurrency / throughput = \
            \(ReportNumbers.millis(queued)) ms); one request alone takes \(ReportNumbers.millis(probe.p50Millis)) ms, \
            so there is no per-request floor
            """, evidence: evidence)
    }

    // MARK: Workers

    static func unevenShare(_ outcome: RunOutcome) -> Diagnosis? {
        // Workers a fault replaced answered for part of the run only: shares say nothing then.
        guard outcome.check.replacedPids.isEmpty else { return nil }
        let acknowledged = outcome.load.perPid.mapValues(\.acknowledged)
        let total = acknowledged.values.reduce(0, +)
        let known = Set(acknowledged.keys).union(outcome.check.perWorker.map(\.pid))
        guard known.count >= 2, total >= minimumAcknowledgedForShare,
              let top = acknowledged.max(by: { ($0.value, $1.key) < ($1.value, $0.key) }) else { return nil }
        let share = Double(top.value) / Double(total)
        let fair = 1 / Double(known.count)
        guard share > unevenShare || share >= unevenFairMultiple * fair else { return nil }
        var evidence: [String: EvidenceValue] = [
            "top_pid": .number(Double(top.key)), "top_share": .number(share),
            "fair_share": .number(fair), "workers": .number(Double(known.count)),
            "acknowledged": .number(Double(total)),
        ]
        for pid in known { evidence["share_pid_\(pid)"] = .number(Double(acknowledged[pid] ?? 0) / Double(total)) }
        let shares = known.sorted().map { "pid \($0) \(percent(Double(acknowledged[$0] ?? 0) / Double(total)))" }
        return Diagnosis(code: "uneven-share", text: """
            uneven share: pid \(top.key) answered \(percent(share)) of the \(ReportNumbers.grouped(total)) acknowledged \
            increments (fair share with \(known.count) workers: \(percent(fair)); \(shares.joined(separator: ", "))). \
            A keep-alive connection stays with the worker that accepted it, so which worker accepted each \
            connection decided the split
            """, evidence: evidence)
    }

    /// Settled final reads that differ: each worker answers from its own counter.
    static func perWorkerState(_ check: CheckResult) -> Diagnosis? {
        let reads = check.perWorker
        guard reads.count >= 2, !check.unsettled, Set(reads.map(\.count)).count > 1 else { return nil }
        let sum = reads.reduce(0) { $0 + $1.count }
        var evidence: [String: EvidenceValue] = [
            "sum": .number(Double(sum)), "acknowledged": .number(Double(check.acknowledged)),
            "workers_read": .number(Double(reads.count)),
        ]
        for tally in reads { evidence["read_pid_\(tally.pid)"] = .number(Double(tally.count)) }
        let listed = reads.sorted { $0.pid < $1.pid }.map { "pid \($0.pid) read \(ReportNumbers.grouped($0.count))" }
        return Diagnosis(code: "per-worker-state", text: """
            per-worker state: the workers report different counts (\(listed.joined(separator: ", ")); sum \
            \(ReportNumbers.grouped(sum)) of \(ReportNumbers.grouped(check.acknowledged)) acknowledged): each worker \
            process keeps its own counter (a module-level global), and a client sees whichever worker it reached. \
            Keep the count in a store every worker shares (Redis, a database, shared memory)
            """, evidence: evidence)
    }

    /// A reset goes through one worker; with a counter per worker the others keep theirs.
    static func partialResets(_ outcome: RunOutcome) -> [Diagnosis] {
        var found: [Diagnosis] = []
        let check = outcome.check
        // The reset before the load: the worker that answered it read its reset
        // count in the baseline, others still had theirs.
        if let first = outcome.resetFirst, first.outcome == .ok, let pid = first.pid,
           let own = outcome.baselineByPid[pid] {
            let kept = outcome.baselineByPid.filter { $0.key != pid && $0.value > own }
            if !kept.isEmpty {
                var evidence: [String: EvidenceValue] = [
                    "reset_pid": .number(Double(pid)), "when": .text("before the load"),
                    "baseline_pid_\(pid)": .number(Double(own)),
                ]
                for (other, value) in kept { evidence["baseline_pid_\(other)"] = .number(Double(value)) }
                let listed = kept.sorted { $0.key < $1.key }.map { "pid \($0.key) still read \(ReportNumbers.grouped($0.value))" }
                found.append(Diagnosis(code: "partial-reset", text: """
                    partial reset: the reset before the load was answered by pid \(pid) (read \
                    \(ReportNumbers.grouped(own)) after it), but \(listed.joined(separator: ", ")): a reset reaches the \
                    one worker that answers it when each worker keeps its own counter
                    """, evidence: evidence))
            }
        }
        // The last mid-run reset that applied. A worker it reached can count at
        // most what was acknowledged after it began plus the uncertain ones.
        guard let reset = check.resets.last(where: { $0.outcome == .ok }) else { return found }
        let afterReset = check.acknowledged - reset.acknowledgedBefore + check.indeterminate
        let others = check.perWorker.filter { $0.pid != reset.pid }
        let kept = others.filter { $0.count > afterReset }
        let perWorkerCounters = !check.shared && reset.pid != nil && !others.isEmpty
        guard !kept.isEmpty || perWorkerCounters else { return found }
        var evidence: [String: EvidenceValue] = [
            "at_s": .number(reset.atSeconds), "possible_after_reset": .number(Double(afterReset)),
            "counter_per_worker": .text(check.shared ? "no" : "yes"),
        ]
        if let pid = reset.pid { evidence["reset_pid"] = .number(Double(pid)) }
        for tally in check.perWorker { evidence["read_pid_\(tally.pid)"] = .number(Double(tally.count)) }
        let through = reset.pid.map { "pid \($0)" } ?? "one worker"
        let at = String(format: "%.2f", reset.atSeconds)
        let text: String
        if kept.isEmpty {
            text = """
                partial reset: the reset at \(at) s went through \(through) only, and each worker keeps its own \
                counter, so the other \(others.count == 1 ? "worker" : "workers") (\(others.map { "pid \($0.pid)" }.joined(separator: ", "))) \
                kept counting from where \(others.count == 1 ? "it" : "they") were
                """
        } else {
            let listed = kept.map { "pid \($0.pid) read \(ReportNumbers.grouped($0.count))" }.joined(separator: ", ")
            text = """
                partial reset: the reset at \(at) s through \(through) did not reach every worker: \(listed) at the \
                end, more than the \(ReportNumbers.grouped(afterReset)) increments that could have counted after the \
                reset; a reset reaches the one worker that answers it when each worker keeps its own counter
                """
        }
        found.append(Diagnosis(code: "partial-reset", text: text, evidence: evidence))
        return found
    }

    /// Pids that acknowledged increments but gave no final read: left out of `final`.
    static func unreachedWorkers(_ outcome: RunOutcome) -> Diagnosis? {
        let read = Set(outcome.check.perWorker.map(\.pid)).union(outcome.check.replacedPids)
        let missing = outcome.load.perPid.filter { $0.value.acknowledged > 0 && !read.contains($0.key) }
        guard !missing.isEmpty else { return nil }
        var evidence: [String: EvidenceValue] = [
            "unreached": .number(Double(missing.count)), "workers_read": .number(Double(read.count)),
        ]
        for (pid, tally) in missing { evidence["acknowledged_pid_\(pid)"] = .number(Double(tally.acknowledged)) }
        let listed = missing.sorted { $0.key < $1.key }
            .map { "pid \($0.key) (\(ReportNumbers.grouped($0.value.acknowledged)) acknowledged)" }
        return Diagnosis(code: "unreached-workers", text: """
            unreached workers: \(listed.joined(separator: ", ")) answered increments but never a final read, \
            so \(missing.count == 1 ? "its count is" : "their counts are") left out of final. Reads go over fresh \
            connections and the server picks the worker; a busy or exited worker may never be picked
            """, evidence: evidence)
    }

    static func percent(_ fraction: Double) -> String { "\(Int((fraction * 100).rounded()))%" }
}
