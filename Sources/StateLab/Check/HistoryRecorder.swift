import NIOConcurrencyHelpers

/// A worker that could not be read at the end of a run: it is left out of
/// `final`, never taken for a read of 0.
public struct UnreadWorker: Sendable, Codable, Equatable {
    public var pid: Int32
    public var worker: Int?
    public var reason: String

    public init(pid: Int32, worker: Int? = nil, reason: String) {
        self.pid = pid
        self.worker = worker
        self.reason = reason
    }
}

/// A reset the run asked for, handed to whoever sends it. Its start is
/// already in the history when the token exists.
public struct ResetToken: Sendable, Hashable {
    let id: Int
    public let worker: Int?
}

/// One run's history, checked as it streams in. Increments are folded into
/// per-counter tallies as they end (bins of their times, one byte per count
/// value for duplicates), so memory does not grow with the run's length;
/// reads and resets are few and kept whole. It folds two views at once, one
/// shared counter and one counter per pid, so a run whose sharing is only
/// known at the end (an app at a URL) is checked either way.
///
/// Resets are operations with a start, an end and an outcome. Increments that
/// end while a reset is in flight wait until its outcome is known, so each is
/// folded against every reset that could have overlapped it.
///
/// Safe from any thread; one lock, held only for folding.
public final class HistoryRecorder: @unchecked Sendable {
    struct ResetOperation: Sendable {
        var id: Int
        var pid: Int32?
        var worker: Int?
        var start: UInt64
        var end: UInt64?
        var outcome: Outcome?
        var error: String?
        /// Ok increments that ended before it started, and that started after it ended.
        var acknowledgedBefore = 0
        var acknowledgedSince = 0
        /// Duplicates per counter when its outcome came out indeterminate: what a
        /// check that assumes it applied may still count.
        var duplicatesBefore: [CounterKey: Int] = [:]
        /// A store or app restart rather than POST /reset: a reset to a value
        /// only known once it is back (`base`), measured with the load held.
        var restart: RestartSummary.Scope?
        /// What the counter held once it ended: 0 for a reset, the read after a restart.
        var base = 0
        /// The count read, with nothing in flight, just before the restart began.
        var before: Int?
        /// Both reads were taken with nothing in flight, so `before` and `base` are exact.
        var exact = true
        /// The host of `pid` (`--hosts`, a counter per host), when known.
        var host: Int?

        func touches(_ key: CounterKey) -> Bool {
            switch key {
            case .shared, .unknownPid, .unknownHost: return true
            case .pid(let counter): return pid == nil || pid == counter
            case .host(let counter): return pid == nil || host == nil || host == counter
            }
        }
    }

    /// A counter of either view.
    enum CounterKey: Hashable, Sendable {
        case shared
        case pid(Int32)
        /// Increments whose answer named no pid (unshared view only).
        case unknownPid
        /// One host's counter (`--hosts` with a store each host has its own of:
        /// shared by its workers, not across hosts): the per-host view.
        case host(Int)
        /// Increments of the per-host view whose pid is of no known host.
        case unknownHost
    }

    struct Step: Sendable {
        var afterAcknowledged: Int
        var worker: Int?
        var perform: @Sendable (ResetToken) -> Void
    }

    struct State: Sendable {
        var clock: BinClock
        var tallies: [CounterKey: CounterTally] = [:]
        var pids = PidTable()
        var ok = 0, failed = 0, indeterminate = 0
        /// Ok increments per pid (compared, not hashed, for a few workers).
        var okByPid = PidMap<Int>()
        var resets: [ResetOperation] = []
        var resetsInFlight = 0
        var waiting: [IncrementRecord] = []
        var steps: [Step] = []
        var reads: [ReadRecord] = []
        var finalReads: [ReadRecord] = []
        var unread: [UnreadWorker] = []
        var settled = true
        var finalTaken = false
        var faults: [FaultRecord] = []
        var restarts: [RestartSummary] = []
        /// Workers a fault killed or replaced, with why they are gone.
        var departed: [Int32: String] = [:]
        var missedFaults: [String] = []
        /// With a limit: every certainly accepted operation's times, and the refusals.
        var accepted: [LimitChecker.Accepted] = []
        var refused = 0
        var refusedByPid: [Int32: Int] = [:]
        /// With a limit: what each answer's X-RateLimit-Remaining said.
        var remaining: [LimitChecker.Remaining] = []
        /// What a report draws (bins, races), when one was asked for.
        var evidence: EvidenceRecorder?
    }

    /// Which counters to fold: one shared counter, one per worker, or both
    /// (an app at a URL, whose sharing is only known from the final reads).
    public struct Views: OptionSet, Sendable {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }
        public static let shared = Views(rawValue: 1)
        public static let perWorker = Views(rawValue: 2)
        /// One counter per host (`--hosts`, a store each host has its own of); needs `hostOf`.
        public static let perHost = Views(rawValue: 4)
        public static let both: Views = [.shared, .perWorker]
    }

    private let lock = NIOLock()
    private var state: State
    public let origin: UInt64
    public let views: Views
    /// The limit the app promises, checked over the accepted operations' times; nil: none.
    public let limit: LimitSpec?
    /// Whether the value the app reads is checked as a counter (there is a read).
    public let checksCounter: Bool
    /// Where every operation is written as it happens (`--history`), if anywhere.
    public let export: HistoryStream?
    /// What one applied operation adds (for the export).
    public let step: Int
    /// With `--hosts`: each pid's host, for the per-host view (one counter
    /// per host, shared by its workers: `.host`).
    public let hostOf: (@Sendable (Int32) -> Int?)?

    /// - Parameters:
    ///   - resolution: the starting bin width, `1 << resolution` ns; 10 (about
    ///     a microsecond) for a live run, 0 (exact) for a short history.
    ///   - maxBins: bins per array before they coarsen: memory per array is 4 bytes each.
    ///   - views: the counters to fold; folding only the one that will be checked halves the work.
    ///   - evidence: keep what a report draws (`RunEvidence`): bins over time and witnessed races.
    ///   - export: the run's stream in a `--history` file.
    public init(origin: UInt64 = MonotonicClock.now(), resolution: Int = 10, maxBins: Int = 1 << 18,
                views: Views = .both, limit: LimitSpec? = nil, checksCounter: Bool = true,
                evidence: Bool = false, export: HistoryStream? = nil, step: Int = 1,
                hostOf: (@Sendable (Int32) -> Int?)? = nil) {
        self.hostOf = hostOf
        self.origin = origin
        self.views = views
        self.limit = limit
        self.checksCounter = checksCounter
        self.export = export
        self.step = step
        state = State(clock: BinClock(origin: origin, maxBins: maxBins, shift: resolution))
        if evidence { state.evidence = EvidenceRecorder(origin: origin) }
    }

    /// Connection `process` sent an operation at `time` (for the export only).
    public func invoked(process: Int32, at time: UInt64) {
        export?.invoke(process: process, step: step, time: time)
    }

    /// Ok increments so far.
    public var acknowledged: Int { lock.withLock { state.ok } }

    // MARK: Increments

    /// Records one increment that ended (ok, fail or indeterminate). Called on
    /// the load's event loops; steps due at this count start here, in the same
    /// critical section, so a reset after N acknowledged starts after exactly N.
    public func add(_ increment: IncrementRecord) {
        var increment = increment
        // The host once, outside the lock: the fold and the export use the same.
        if views.contains(.perHost), let hostOf, let pid = increment.pid { increment.host = hostOf(pid) }
        export?.complete(increment, step: step, host: increment.host)
        let due: [(Step, ResetToken)] = lock.withLock {
            switch increment.outcome {
            case .ok:
                state.ok += 1
                if let pid = increment.pid { state.okByPid.update(pid, initial: 0) { $0 += 1 } }
                if limit != nil { state.accepted.append(LimitChecker.Accepted(start: increment.start, end: increment.end)) }
                for index in state.resets.indices {
                    if increment.end < state.resets[index].start { state.resets[index].acknowledgedBefore += 1 }
                    if let end = state.resets[index].end, increment.start > end { state.resets[index].acknowledgedSince += 1 }
                }
            case .fail:
                state.failed += 1
                if increment.refused {
                    state.refused += 1
                    if let pid = increment.pid { state.refusedByPid[pid, default: 0] += 1 }
                }
            case .indeterminate: state.indeterminate += 1
            }
            if limit != nil, let remaining = increment.remaining {
                state.remaining.append(LimitChecker.Remaining(start: increment.start, end: increment.end, remaining: remaining,
                                                              windowEnd: increment.windowEnd, pid: increment.pid))
            }
            // A failed increment folds the same whatever a reset does: only the others
            // wait, so a long store outage's quick 503s do not pile up here.
            if state.resetsInFlight > 0 && increment.outcome != .fail {
                state.waiting.append(increment)
            } else {
                fold(increment)
            }
            let acknowledged = state.ok
            guard increment.outcome == .ok, state.steps.contains(where: { $0.afterAcknowledged == acknowledged }) else { return [] }
            let due = state.steps.filter { $0.afterAcknowledged == acknowledged }
            state.steps.removeAll { $0.afterAcknowledged == acknowledged }
            return due.map { step in (step, beginResetLocked(pid: nil, worker: step.worker)) }
        }
        for (step, token) in due { step.perform(token) }
    }

    /// A reset through `worker` once exactly `count` increments are acknowledged.
    /// `perform` runs on the thread that acknowledged the last of them: it must
    /// hand the request on (it must not block), then call `endReset`.
    public func scheduleReset(afterAcknowledged count: Int, worker: Int?, perform: @escaping @Sendable (ResetToken) -> Void) {
        lock.withLock { state.steps.append(Step(afterAcknowledged: count, worker: worker, perform: perform)) }
    }

    /// The steps that never fired, in words: a run where one was due fails.
    public var missedSteps: [String] {
        lock.withLock {
            state.steps.map { "reset_after \(ReportNumbers.grouped($0.afterAcknowledged)) never happened: only \(ReportNumbers.grouped(state.ok)) increments were acknowledged" }
                + state.missedFaults
        }
    }

    /// A fault step that was due and never happened (or failed): the run fails.
    public func missedFault(_ text: String) {
        lock.withLock { state.missedFaults.append(text) }
    }

    // MARK: Resets

    /// Notes a reset as begun, now; send it after this returns.
    public func beginReset(pid: Int32?, worker: Int?) -> ResetToken {
        lock.withLock { beginResetLocked(pid: pid, worker: worker) }
    }

    /// `restart`: a store or app restart rather than POST /reset, with the count read just before it.
    private func beginResetLocked(pid: Int32?, worker: Int?, restart: RestartSummary.Scope? = nil,
                                  before: Int? = nil, exact: Bool = true) -> ResetToken {
        let id = state.resets.count
        var reset = ResetOperation(id: id, pid: pid, worker: worker, start: MonotonicClock.now(), acknowledgedBefore: state.ok)
        reset.host = pid.flatMap { hostOf?($0) }
        reset.restart = restart
        reset.before = before
        reset.exact = exact
        state.resets.append(reset)
        export?.reset(reset, outcome: nil, time: reset.start)
        state.resetsInFlight += 1
        return ResetToken(id: id, worker: worker)
    }

    /// How the reset ended: ok (it applied), indeterminate (no answer: it may
    /// apply, now or later) or fail (it certainly did not apply). `pid` is the
    /// worker that answered, when the sender only learns it from the answer.
    public func endReset(_ token: ResetToken, outcome: Outcome, pid: Int32? = nil, error: String? = nil) {
        lock.withLock {
            guard state.resets.indices.contains(token.id), state.resets[token.id].end == nil else { return }
            let end = MonotonicClock.now()
            state.resets[token.id].end = end
            state.resets[token.id].outcome = outcome
            state.resets[token.id].error = error
            if let pid {
                state.resets[token.id].pid = pid
                state.resets[token.id].host = hostOf?(pid)
            }
            export?.reset(state.resets[token.id], outcome: outcome, time: end)
            if outcome == .indeterminate {
                state.resets[token.id].duplicatesBefore = state.tallies.mapValues(\.duplicates)
            }
            state.resetsInFlight -= 1
            guard state.resetsInFlight == 0 else { return }
            let waiting = state.waiting
            state.waiting = []
            for increment in waiting { fold(increment) }
        }
    }

    /// A reset whose times and outcome are already known (a history checked after the fact).
    func addFinishedReset(_ reset: ResetRecord) {
        lock.withLock {
            var operation = ResetOperation(id: state.resets.count, pid: reset.pid, worker: reset.worker,
                                           start: reset.start, end: reset.end, outcome: reset.outcome)
            if reset.outcome == .indeterminate { operation.duplicatesBefore = [:] }
            operation.host = reset.pid.flatMap { hostOf?($0) }
            state.resets.append(operation)
        }
    }

    // MARK: Restarts and faults

    /// A restart of the shared counter's store (or of the app around it)
    /// begins now: increments that end before it are in the old epoch, those
    /// that overlap it may be on either side. `before` is the count read just
    /// before, with nothing in flight (nil if it could not be read so).
    public func beginRestart(_ scope: RestartSummary.Scope, before: Int?, exact: Bool) -> ResetToken {
        lock.withLock { beginResetLocked(pid: nil, worker: nil, restart: scope, before: before, exact: exact && before != nil) }
    }

    /// The restart is over and the counter read `after` (nil: it could not be
    /// read, so the restart's effect is unknown).
    public func endRestart(_ token: ResetToken, after: Int?, exact: Bool, note: String? = nil) {
        lock.withLock {
            guard state.resets.indices.contains(token.id) else { return }
            var reset = state.resets[token.id]
            reset.base = after ?? 0
            reset.exact = reset.exact && exact && after != nil
            state.resets[token.id] = reset
            let acknowledged = reset.acknowledgedBefore
            state.restarts.append(RestartSummary(
                scope: reset.restart ?? .store, atSeconds: Double(reset.start &- origin) / 1e9,
                acknowledgedBefore: acknowledged, before: reset.before, after: after, exact: reset.exact, note: note))
        }
        endReset(token, outcome: after == nil ? .indeterminate : .ok, error: after == nil ? "the count could not be read after the restart" : nil)
    }

    /// A restart of one worker's own counter (global): its pid leaves the
    /// history, so this is not a reset of any counter still read.
    public func recordRestart(_ restart: RestartSummary) {
        lock.withLock { state.restarts.append(restart) }
        export?.event("restart_worker", value: restart.sentence, time: MonotonicClock.now())
    }

    /// A fault step, as it happened.
    /// Store, app and worker restarts recorded so far.
    public var restartCount: Int { lock.withLock { state.restarts.count } }

    public func recordFault(_ fault: FaultRecord) {
        lock.withLock { state.faults.append(fault) }
        // f is the kind (kill_store); the value says the step as written and what it did.
        let kind = String(fault.step.prefix { $0.isLetter || $0 == "_" })
        export?.event(kind, pid: fault.pid, value: "\(fault.step): \(fault.outcome)", time: MonotonicClock.now())
    }

    /// Adds what was learnt after the step (a lock recovery) to the fault recorded at `index`.
    public func addFaultEvent(_ event: String, toFault index: Int) {
        lock.withLock {
            guard state.faults.indices.contains(index) else { return }
            state.faults[index].events.append(event)
        }
    }

    /// Increments held until a reset or restart in flight ends (for tests).
    var waitingCount: Int { lock.withLock { state.waiting.count } }

    /// A worker a fault took away, and why: the check leaves its counter out with this reason.
    public func departed(pid: Int32, reason: String) {
        lock.withLock { state.departed[pid] = reason }
        export?.event("departed", pid: pid, value: reason, time: MonotonicClock.now())
    }

    /// Milliseconds since the history's origin, for fault records.
    public func secondsSinceOrigin(_ time: UInt64 = MonotonicClock.now()) -> Double { Double(time &- origin) / 1e9 }

    // MARK: Reads

    /// A read taken while the run goes on.
    public func recordRead(_ read: ReadRecord) {
        lock.withLock { state.reads.append(read) }
        export?.read(read, final: false)
    }

    /// The reads taken once the load had ended, one per worker that answered,
    /// the workers that did not, and whether repeated reads agreed.
    public func recordFinal(reads: [ReadRecord], unread: [UnreadWorker], settled: Bool) {
        lock.withLock {
            state.finalReads = reads
            state.unread = unread
            state.settled = settled
            state.finalTaken = true
        }
        if let export {
            for read in reads { export.read(read, final: true) }
            export.final(settled: settled, unread: unread)
        }
    }

    /// What a report draws for the view that was checked; nil unless the recorder was made to keep it.
    public func evidence(shared: Bool, perHost: Bool = false) -> RunEvidence? {
        lock.withLock {
            guard var evidence = state.evidence?.evidence(shared: shared, reads: state.reads, finalReads: state.finalReads)
            else { return nil }
            // The shared view's races are repeats across hosts too: none is drawn for a counter per host.
            if perHost { evidence.races = [] }
            return evidence
        }
    }

    /// The latest witnessed lost update of a view, for the dashboard's race view.
    public func latestRace(shared: Bool) -> RaceTrace? {
        lock.withLock { state.evidence?.latestRace(shared: shared) }
    }

    /// The final reads recorded so far.
    public var finalReads: [ReadRecord] { lock.withLock { state.finalReads } }

    // MARK: Folding

    // Only resets that ended and applied count when folding; indeterminate ones are weighed at the check.
    private func fold(_ increment: IncrementRecord) {
        let doublings = state.clock.widen(toFit: max(increment.start, increment.end == .max ? increment.start : increment.end))
        if doublings > 0 {
            for key in Array(state.tallies.keys) { state.tallies[key]!.coarsen(doublings) }
        }
        let pidIndex = state.pids.index(of: increment.pid)
        let (clock, pids) = (state.clock, state.pids)
        let unsharedKey: CounterKey = increment.pid.map { .pid($0) } ?? .unknownPid
        // No array of keys: this runs once per increment, under the lock.
        if views.contains(.perHost) {
            // No race evidence: a count repeated on two hosts is no race, and the evidence
            // recorder pairs a repeat with any increment of that count.
            _ = fold(increment, into: increment.host.map { .host($0) } ?? .unknownHost, clock: clock, pidIndex: pidIndex, pids: pids)
        }
        if views.contains(.shared), fold(increment, into: .shared, clock: clock, pidIndex: pidIndex, pids: pids) {
            state.evidence?.duplicate(increment, shared: true)
        }
        if views.contains(.perWorker), fold(increment, into: unsharedKey, clock: clock, pidIndex: pidIndex, pids: pids),
           unsharedKey != .unknownPid {
            state.evidence?.duplicate(increment, shared: false)
        }
        state.evidence?.fold(increment)
    }

    private func fold(_ increment: IncrementRecord, into key: CounterKey, clock: BinClock, pidIndex: UInt8?, pids: PidTable) -> Bool {
        var epoch = 0
        var overlaps = false
        for reset in state.resets where reset.outcome == .ok && reset.touches(key) {
            guard let end = reset.end else { continue }
            if end < increment.start { epoch += 1 }
            if reset.start <= increment.end && end >= increment.start { overlaps = true }
        }
        return state.tallies[key, default: CounterTally()].fold(
            increment, epoch: epoch, overlapsReset: overlaps, clock: clock, pidIndex: pidIndex, pids: pids)
    }

    // MARK: The check

    /// What the checker reads: a sealed copy, taken under the lock; the recorder itself is left open.
    struct Snapshot: Sendable {
        var origin: UInt64
        var clock: BinClock
        var tallies: [CounterKey: CounterTally]
        var ok: Int, failed: Int, indeterminate: Int
        var okByPid: [Int32: Int]
        var resets: [ResetOperation]
        var reads: [ReadRecord]
        var finalReads: [ReadRecord]
        var unread: [UnreadWorker]
        var settled: Bool
        var finalTaken: Bool
        var missedSteps: [String]
        var faults: [FaultRecord]
        var restarts: [RestartSummary]
        var departed: [Int32: String]
        /// With a limit: the operations it is judged over.
        var limit: LimitChecker.History?
        var checksCounter: Bool
        /// The shared view holds one counter per host (`.host`), not `.shared`.
        var byHost = false
    }

    func snapshot(perHost: Bool = false) -> Snapshot {
        let missed = missedSteps
        return lock.withLock {
            // The recorder goes on after a check (the dashboard checks after every burst):
            // everything below changes a copy, and the state is put back as it was.
            let saved = state
            defer { state = saved }
            // A reset still without an answer is indeterminate, as far as this check knows.
            let now = MonotonicClock.now()
            for index in state.resets.indices where state.resets[index].end == nil {
                state.resets[index].end = now
                state.resets[index].outcome = .indeterminate
                state.resets[index].duplicatesBefore = state.tallies.mapValues(\.duplicates)
            }
            state.resetsInFlight = 0
            for increment in state.waiting { fold(increment) }
            state.waiting = []
            for key in Array(state.tallies.keys) { state.tallies[key]!.seal() }
            return Snapshot(origin: origin, clock: state.clock, tallies: state.tallies, ok: state.ok,
                            failed: state.failed, indeterminate: state.indeterminate, okByPid: state.okByPid.dictionary,
                            resets: state.resets, reads: state.reads, finalReads: state.finalReads,
                            unread: state.unread, settled: state.settled, finalTaken: state.finalTaken,
                            missedSteps: missed, faults: state.faults, restarts: state.restarts,
                            departed: state.departed, limit: limitHistory(), checksCounter: checksCounter,
                            byHost: perHost)
        }
    }

    /// What the limit is judged over: the operations accepted since the last reset that applied (under the lock).
    private func limitHistory() -> LimitChecker.History? {
        guard let limit else { return nil }
        let lastReset = state.resets.filter { $0.outcome == .ok && $0.restart == nil }.compactMap(\.end).max()
        let accepted = lastReset.map { end in state.accepted.filter { $0.start > end } } ?? state.accepted
        return LimitChecker.History(spec: limit, accepted: accepted, refused: state.refused, indeterminate: state.indeterminate,
                                    acceptedByPid: state.okByPid.dictionary, refusedByPid: state.refusedByPid,
                                    remaining: state.remaining.filter { observed in lastReset.map { observed.start > $0 } ?? true })
    }

    /// Checks everything recorded so far, as one shared counter or one per
    /// worker; that view must have been folded (`views`).
    /// `perHost`: one counter per host (`shared` must be true), folded with `.perHost`.
    public func check(shared: Bool, perHost: Bool = false) -> CheckResult {
        precondition(views.contains(perHost ? .perHost : shared ? .shared : .perWorker), "checking a view the recorder did not fold")
        precondition(!perHost || shared, "a counter per host is shared by its workers")
        return Checker.check(snapshot(perHost: perHost), shared: shared)
    }
}
