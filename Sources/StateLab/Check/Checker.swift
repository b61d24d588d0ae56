/// Jepsen's counter checker, adapted to a counter that may be shared by every
/// worker (manager, shm, sqlite, redis) or copied into each one (global), and
/// run over a history folded as it streamed (`HistoryRecorder`).
///
/// It never blames a correct store: every rounding widens the bounds, a
/// worker it could not read is left out rather than read as 0, and an
/// operation whose outcome is unknown is weighed both ways (see `Hypotheses`).
public enum Checker {
    /// How many read violations and duplicate witnesses a result keeps.
    public static let readViolationCap = 20
    public static let witnessCap = 5

    static func check(_ history: HistoryRecorder.Snapshot, shared: Bool) -> CheckResult {
        let view = View(history: history, shared: shared)
        var figures = view.figures(assumingIndeterminateResetsApplied: false)
        var inconclusive: String?
        // A reset that got no answer may have applied at any time after it was
        // sent. The check first assumes it did not; if that leaves something
        // missing, the reset could explain it, so the check assumes it applied.
        if figures.foundSomething, let reset = view.firstIndeterminateReset {
            figures = view.figures(assumingIndeterminateResetsApplied: true)
            if !figures.foundSomething {
                inconclusive = reset.restart != nil
                    ? "the count after the \(reset.restart!.rawValue) restart could not be read: what it kept is unknown, and that would explain the missing increments"
                    : "the reset through \(describe(reset)) got no answer: it may have applied, and that would explain the missing increments"
            }
        }
        if inconclusive == nil { inconclusive = figures.inconclusive(settled: history.settled) }
        if inconclusive == nil, shared, let restart = history.resets.first(where: { $0.restart != nil && !$0.exact }) {
            inconclusive = "the \(restart.restart!.rawValue) restart at \(String(format: "%.2f", Double(restart.start &- history.origin) / 1e9)) s was measured while increments were still in flight (or its count could not be read), so what the counter held across it is not known exactly"
        }

        let finals = history.finalReads.map(\.value)
        var divergent = Set(finals).count > 1 && (history.settled || !shared)
        // A counter per host: split even when the hosts' counts happen to be
        // equal, since a read sees only its own host's part of the total.
        if shared, history.byHost, history.settled, let total = StoreCount.perHost(history.finalReads),
           Set(history.finalReads.compactMap(\.host)).count > 1, total > (finals.max() ?? 0) {
            divergent = true
        }
        // The check tells workers apart by pid: one pid on two hosts is two workers it cannot separate.
        if inconclusive == nil, let pid = Dictionary(grouping: history.finalReads.filter { $0.hostName != nil }, by: \.pid)
            .first(where: { Set($0.value.compactMap(\.hostName)).count > 1 }) {
            let hosts = Set(pid.value.compactMap(\.hostName)).sorted().joined(separator: " and ")
            inconclusive = "pid \(pid.key) answered from \(hosts): the check tells workers apart by pid, so it cannot tell these two apart"
        }
        let noRead = history.finalReads.isEmpty
        let verdict = CheckResult.verdict(
            unknown: noRead, lost: figures.lost, duplicates: figures.duplicates, divergent: divergent,
            unexpected: figures.unexpected, readViolations: figures.violationCount, inconclusive: inconclusive)
        // Hosts an app statelab did not start named in its answers (X-Worker-Host), numbered in name order.
        let names = Set(history.finalReads.compactMap(\.hostName)).sorted()
        let named = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })
        let perWorker = history.finalReads
            .map { read -> ReadRecord in
                var read = read
                if read.host == nil, let name = read.hostName { read.host = named[name] }
                return read
            }
            .sorted { ($0.host ?? .max, $0.worker ?? .max, $0.pid) < ($1.host ?? .max, $1.worker ?? .max, $1.pid) }
            .map { read -> WorkerTally in
                var tally = WorkerTally(pid: read.pid, worker: read.worker, count: read.value,
                                        acknowledged: history.okByPid[read.pid] ?? 0, host: read.host)
                tally.hostName = read.hostName
                return tally
            }

        var result = CheckResult(
            shared: shared, acknowledged: history.ok, failed: history.failed, indeterminate: history.indeterminate,
            acknowledgedSinceReset: figures.counted ?? figures.certain, finalMin: finals.min() ?? 0, finalMax: finals.max() ?? 0,
            final: figures.final, lost: figures.lost, unexpected: figures.unexpected, duplicates: figures.duplicates,
            witnesses: figures.witnesses, divergent: divergent, readViolations: figures.violations,
            readViolationCount: figures.violationCount, perWorker: perWorker, verdict: verdict)
        result.unread = view.unread
        result.hosts = HostTally.of(perWorker)
        result.perHost = shared && history.byHost
        result.unsettled = !history.settled
        result.inconclusive = inconclusive
        result.origin = history.origin
        result.missedSteps = history.missedSteps
        result.faults = history.faults
        result.restarts = history.restarts
        result.replacedPids = history.departed.keys.sorted()
        result.resets = history.resets.filter { $0.restart == nil }.map { reset in
            ResetSummary(pid: reset.pid, worker: reset.worker, outcome: reset.outcome ?? .indeterminate,
                         atSeconds: Double(reset.start &- history.origin) / 1e9,
                         acknowledgedBefore: reset.acknowledgedBefore, acknowledgedSince: reset.acknowledgedSince,
                         error: reset.error)
        }
        if noRead {
            result.inconclusive = history.unread.isEmpty
                ? "no worker was read at the end"
                : "no worker could be read at the end (\(view.unread.map { "pid \($0.pid): \($0.reason)" }.joined(separator: "; ")))"
        }
        if !history.checksCounter {
            // A limit alone: nothing is read, so no counter verdict.
            result.counterChecked = false
            result.verdict = .ok
            result.inconclusive = nil
            result.unread = []
        }
        if let limitHistory = history.limit {
            let limit = LimitChecker.judge(limitHistory, origin: history.origin)
            result.limit = limit
            if limit.overLimit > 0, result.verdict != .lostUpdates {
                if result.counterChecked { result.counterVerdict = result.verdict }
                result.verdict = .overLimit
            }
        }
        return result
    }

    static func describe(_ reset: HistoryRecorder.ResetOperation) -> String {
        var words: [String] = []
        if let worker = reset.worker { words.append("worker \(worker)") }
        if let pid = reset.pid { words.append(words.isEmpty ? "pid \(pid)" : "(pid \(pid))") }
        return words.isEmpty ? "the app" : words.joined(separator: " ")
    }
}

/// The figures of one check, under one assumption about indeterminate resets.
struct CheckFigures {
    var certain = 0
    var possible = 0
    var final = 0
    var lost = 0
    var unexpected = 0
    var duplicates = 0
    var witnesses: [DuplicateWitness] = []
    var violations: [ReadViolation] = []
    var violationCount = 0
    var attempted = 0
    /// With store or app restarts: the increments each epoch should have
    /// counted, summed (what a restart carried over is not counted again).
    var counted: Int?

    /// Evidence that something is wrong.
    var foundSomething: Bool { lost > 0 || duplicates > 0 || violationCount > 0 || unexpected > 0 }

    /// Why these figures can't tell a correct store from a broken one, if they can't.
    func inconclusive(settled: Bool) -> String? {
        if !settled { return "the final reads kept changing after the load had ended" }
        if attempted > 0 && certain == 0 {
            return "no increment is certain to be in the final count (none acknowledged after the last reset)"
        }
        if possible > certain {
            return "more increments are uncertain (\(ReportNumbers.grouped(possible)): timed out, or overlapping a reset) than certain (\(ReportNumbers.grouped(certain)))"
        }
        return nil
    }
}

/// The counters a check looks at and the rules that tie them to the reads.
struct View {
    typealias Key = HistoryRecorder.CounterKey
    let history: HistoryRecorder.Snapshot
    let shared: Bool
    /// Counters whose final read is in `final`.
    let counted: [Key]
    let unread: [UnreadWorker]

    init(history: HistoryRecorder.Snapshot, shared: Bool) {
        self.history = history
        self.shared = shared
        var unread = history.unread
        if shared && history.byHost {
            counted = Set(history.finalReads.compactMap(\.host)).sorted().map { .host($0) }
        } else if shared {
            counted = [.shared]
        } else {
            let read = Set(history.finalReads.map(\.pid))
            counted = read.sorted().map { .pid($0) }
            // A pid that answered increments but was not read at the end (a worker
            // that died and was replaced) took its own counter with it: left out.
            let named = Set(unread.map(\.pid))
            for pid in history.okByPid.keys.sorted() where !read.contains(pid) && !named.contains(pid) {
                unread.append(UnreadWorker(pid: pid, reason: history.departed[pid] ?? "no longer a worker at the end"))
            }
        }
        self.unread = unread
    }

    var firstIndeterminateReset: HistoryRecorder.ResetOperation? {
        history.resets.filter { $0.outcome == .indeterminate }.min { $0.start < $1.start }
    }

    /// The earliest indeterminate reset that touches `key`.
    private func indeterminateReset(touching key: Key) -> HistoryRecorder.ResetOperation? {
        history.resets.filter { $0.outcome == .indeterminate && $0.touches(key) }.min { $0.start < $1.start }
    }

    private func applied(to key: Key) -> [HistoryRecorder.ResetOperation] {
        history.resets.filter { $0.outcome == .ok && $0.end != nil && $0.touches(key) }
    }

    func figures(assumingIndeterminateResetsApplied assumeApplied: Bool) -> CheckFigures {
        var figures = CheckFigures()
        figures.attempted = history.ok + history.failed + history.indeterminate
        var witnesses: [WitnessList.Entry] = []
        for key in counted {
            guard let tally = history.tallies[key] else { continue }
            let pending = assumeApplied ? indeterminateReset(touching: key) : nil
            let (certain, possible) = standing(tally, key: key)
            if pending != nil {
                figures.possible += certain + possible
                figures.duplicates += pending?.duplicatesBefore[key] ?? 0
                if (pending?.duplicatesBefore[key] ?? 0) > 0 { witnesses += tally.witnesses.entries }
            } else {
                figures.certain += certain
                figures.possible += possible
                figures.duplicates += tally.duplicates
                witnesses += tally.witnesses.entries
            }
        }
        // Increments whose answer named no worker (or host) may belong to any counter.
        let unknownKey: Key = history.byHost ? .unknownHost : .unknownPid
        if !shared || history.byHost, let unknown = history.tallies[unknownKey] {
            let (certain, possible) = standing(unknown, key: unknownKey)
            let pending = assumeApplied && indeterminateReset(touching: unknownKey) != nil
            if unread.isEmpty && !pending {
                figures.certain += certain
                figures.possible += possible
            } else {
                figures.possible += certain + possible
            }
        }
        let finals = history.finalReads.map(\.value)
        // Shared: every final read sees the same counter; take the highest so
        // "lost" is a lower bound. Unshared: each worker holds part of the total.
        figures.final = (history.byHost && shared ? StoreCount.perHost(history.finalReads) : StoreCount.of(finals, shared: shared)) ?? 0
        if !history.finalReads.isEmpty {
            figures.lost = max(0, figures.certain - figures.final)
            figures.unexpected = max(0, figures.final - (figures.certain + figures.possible))
        }
        if shared, !history.byHost, history.resets.contains(where: { $0.restart != nil }) {
            let before = lostBeforeRestarts(assumeApplied: assumeApplied)
            figures.lost += before.lost
            // Every epoch's own acknowledged increments: what restarts carried over is not counted twice.
            let carried = applied(to: .shared).max(by: { $0.start < $1.start })?.base ?? 0
            figures.counted = before.counted + figures.certain - carried
        }
        figures.witnesses = witnesses.sorted { ($0.epoch, $0.count) < ($1.epoch, $1.count) }
            .prefix(Checker.witnessCap).map { DuplicateWitness(count: $0.count, pids: $0.pids) }
        (figures.violations, figures.violationCount) = readViolations(assumeApplied: assumeApplied)
        return figures
    }

    /// Ok increments certain to be in the counter's final value (they started
    /// after its last reset ended), and those that may be (indeterminate ones,
    /// and ok ones overlapping a reset). Ok increments that ended before the
    /// last reset began were wiped and are in neither.
    private func standing(_ tally: CounterTally, key: Key) -> (certain: Int, possible: Int) {
        let resets = applied(to: key)
        guard let latest = resets.max(by: { $0.start < $1.start }) else { return (tally.ok, tally.indeterminate) }
        let inEpoch = tally.ok(inEpoch: resets.count)
        // An unknown worker's increment may not be on the reset worker's counter at all.
        let wiped = key == .unknownPid || key == .unknownHost ? 0 : tally.okEndedBefore(latest.start, clock: history.clock)
        // A restart leaves the counter at what was read once it was back; a reset at 0.
        return (inEpoch + latest.base, tally.ok - inEpoch - wiped + tally.indeterminate)
    }

    /// Races lost before each restart: the increments certainly counted since
    /// the epoch began (ok, ended before the restart, on top of what the
    /// epoch started from) less the count read just before it, with nothing
    /// in flight. What the restart itself erased is `lost_to_restart`, not this.
    private func lostBeforeRestarts(assumeApplied: Bool) -> (lost: Int, counted: Int) {
        guard let tally = history.tallies[.shared] else { return (0, 0) }
        var lost = 0, counted = 0
        for restart in history.resets where restart.restart != nil && restart.exact {
            guard let before = restart.before else { continue }
            // Only an epoch whose start is certain: no reset or restart before it
            // with an unknown outcome, none still going on when it began. A lower
            // bound stays one when an epoch is left out.
            let unclear = history.resets.contains { other in
                other.id != restart.id && other.start < restart.start
                    && (other.outcome != .ok || (other.end ?? .max) >= restart.start)
            }
            if unclear || assumeApplied { continue }
            let earlier = applied(to: .shared).filter { $0.end! < restart.start }
            let base = earlier.max(by: { $0.start < $1.start })?.base ?? 0
            let acknowledged = tally.okEnded(before: restart.start, inEpoch: earlier.count, clock: history.clock)
            counted += acknowledged
            lost += max(0, acknowledged + base - before)
        }
        return (lost, counted)
    }

    /// Each read must lie between the ok increments of its counter that ended
    /// before it began (since the last reset before it) and every increment
    /// that may have applied and began before it ended. A read overlapping a
    /// reset is skipped: it may see either side of it.
    private func readViolations(assumeApplied: Bool) -> ([ReadViolation], Int) {
        var violations: [ReadViolation] = []
        var total = 0
        let reads = (history.reads + history.finalReads).sorted { ($0.start, $0.end) < ($1.start, $1.end) }
        for read in reads {
            let key: Key = !shared ? .pid(read.pid) : !history.byHost ? .shared : read.host.map { .host($0) } ?? .unknownHost
            if assumeApplied, let pending = indeterminateReset(touching: key), read.end >= pending.start { continue }
            let resets = applied(to: key)
            if resets.contains(where: { $0.start <= read.end && $0.end! >= read.start }) { continue }
            let before = resets.filter { $0.end! < read.start }
            let latest = before.max(by: { $0.start < $1.start })
            let base = latest?.base ?? 0
            func bounds(_ tally: CounterTally?) -> (Int, Int) {
                guard let tally else { return (base, base) }
                let lower = tally.okEnded(before: read.start, inEpoch: before.count, clock: history.clock) + base
                var upper = tally.attemptStarts.countAtMost(read.end, clock: history.clock) + base
                if let latest { upper -= tally.okEndedBefore(latest.start, clock: history.clock) }
                return (lower, upper)
            }
            var (lower, upper) = bounds(history.tallies[key])
            if !shared || history.byHost { upper += bounds(history.tallies[history.byHost ? .unknownHost : .unknownPid]).1 - base }
            guard read.value < lower || read.value > upper else { continue }
            total += 1
            if violations.count < Checker.readViolationCap {
                violations.append(ReadViolation(read: read, lower: lower, upper: upper))
            }
        }
        return (violations, total)
    }
}
