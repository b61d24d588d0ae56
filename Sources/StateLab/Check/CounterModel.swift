/// Which counter each increment, read and reset belongs to: one counter for a
/// shared store, one per worker pid for an unshared one (global).
///
/// Resets: a reset empties the counter it went through. For a shared store
/// that is the one counter; for an unshared store, only the worker whose pid
/// the reset names (a reset with no pid is taken to reach every worker).
struct CounterModel {
    /// How an increment stands toward the counter's final value.
    enum Standing {
        /// It applied after the last reset: it must be in the final value.
        case certain
        /// It may be in the final value: indeterminate, or overlapping a reset.
        case possible
        /// It ended before the last reset began: the reset erased it.
        case wiped
        /// It failed: it never applied.
        case never
    }

    let shared: Bool
    private let allResets: ResetTimeline
    private let resetsByPid: [Int32: ResetTimeline]
    /// Resets without a pid, which reach every worker's copy.
    private let resetsToEveryone: ResetTimeline
    /// Read bounds per counter: key nil is the shared counter, or (unshared)
    /// the increments whose pid is unknown, which only raise upper bounds.
    private var bounds: [Int32?: ReadBounds]

    init(history: History, shared: Bool) {
        self.shared = shared
        allResets = ResetTimeline(history.resets)
        if shared {
            resetsByPid = [:]
            resetsToEveryone = allResets
            bounds = [nil: ReadBounds(history.increments)]
        } else {
            let everyone = history.resets.filter { $0.pid == nil }
            resetsToEveryone = ResetTimeline(everyone)
            resetsByPid = Dictionary(grouping: history.resets.filter { $0.pid != nil }, by: { $0.pid! })
                .mapValues { ResetTimeline($0 + everyone) }
            bounds = Dictionary(grouping: history.increments, by: \.pid).mapValues(ReadBounds.init)
        }
    }

    /// The resets that touched the counter of `pid` (nil: the shared counter,
    /// or an unknown worker, for which every reset may have counted).
    private func timeline(for pid: Int32?) -> ResetTimeline {
        guard !shared, let pid else { return allResets }
        return resetsByPid[pid] ?? resetsToEveryone
    }

    func standing(of increment: IncrementRecord) -> Standing {
        switch increment.outcome {
        case .fail: return .never
        // It may still apply after its timeout, hence after any reset.
        case .indeterminate: return .possible
        case .ok: break
        }
        if !shared && increment.pid == nil {
            // An unknown worker: a reset may or may not have erased it, so
            // only one that started after every reset is certain.
            guard let last = allResets.all else { return .certain }
            return increment.start > last.latestEnd ? .certain : .possible
        }
        guard let last = timeline(for: increment.pid).all else { return .certain }
        if increment.start > last.latestEnd { return .certain }
        if increment.end < last.latestStart { return .wiped }
        return .possible
    }

    /// Ok increments that returned a count another one of the same counter and
    /// reset epoch also returned. Increments overlapping a reset are left out:
    /// their count may belong to either side of it. In an unshared store equal
    /// counts from different workers are expected, so counts group per pid.
    func duplicates(in increments: [IncrementRecord]) -> (Int, [DuplicateWitness]) {
        struct Key: Hashable { var counter: Int32; var epoch: Int; var count: Int }
        func key(_ increment: IncrementRecord) -> Key? {
            guard increment.outcome == .ok, let count = increment.count else { return nil }
            let counter: Int32
            if shared { counter = 0 } else if let pid = increment.pid { counter = pid } else { return nil }
            let resets = timeline(for: shared ? nil : counter)
            guard !resets.overlaps(start: increment.start, end: increment.end) else { return nil }
            return Key(counter: counter, epoch: resets.epoch(at: increment.start), count: count)
        }

        var occurrences: [Key: Int] = [:]
        for increment in increments {
            if let key = key(increment) { occurrences[key, default: 0] += 1 }
        }
        let repeated = occurrences.filter { $0.value > 1 }
        let duplicates = repeated.values.reduce(0) { $0 + $1 - 1 }
        let shown = repeated.keys
            .sorted { ($0.epoch, $0.count, $0.counter) < ($1.epoch, $1.count, $1.counter) }
            .prefix(Checker.witnessCap)
        var pids = Dictionary(uniqueKeysWithValues: shown.map { ($0, [Int32]()) })
        for increment in increments {
            if let key = key(increment), pids[key] != nil, let pid = increment.pid { pids[key]!.append(pid) }
        }
        return (duplicates, shown.map { DuplicateWitness(count: $0.count, pids: pids[$0] ?? []) })
    }

    /// Reads out of their bounds, capped, plus the total. Reads before the last
    /// reset are checked against the bounds of their own epoch; a read that
    /// overlaps a reset is skipped, since it may see either side of it.
    mutating func readViolations(in reads: [ReadRecord]) -> ([ReadViolation], Int) {
        var violations: [ReadViolation] = []
        var total = 0
        for read in reads {
            let counter: Int32? = shared ? nil : read.pid
            let resets = timeline(for: counter)
            if resets.overlaps(start: read.start, end: read.end) { continue }
            let window = resets.window(before: read.start)
            var lower = 0, upper = 0
            if bounds[counter] != nil {
                lower = bounds[counter]!.lower(readStart: read.start, after: window)
                upper = bounds[counter]!.upper(readEnd: read.end, after: window)
            }
            if !shared, let unknown = bounds[nil] {
                upper += unknown.upper(readEnd: read.end, after: window)
            }
            guard read.value < lower || read.value > upper else { continue }
            total += 1
            if violations.count < Checker.readViolationCap {
                violations.append(ReadViolation(read: read, lower: lower, upper: upper))
            }
        }
        return (violations, total)
    }
}
