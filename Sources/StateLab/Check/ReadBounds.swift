/// The increments one counter's reads are checked against, indexed by time.
///
/// A read must lie within [ok increments that ended before it started, every
/// increment that may have applied and started before it ended]. Failed
/// increments are never here; indeterminate ones never "end" (they may still
/// apply after their timeout), so they raise upper bounds and are never wiped
/// by a reset.
struct ReadBounds {
    /// Ok increments (start, end), for lower bounds.
    private let acknowledged: [(start: UInt64, end: UInt64)]
    /// Starts and ends of every increment that may have applied.
    private let attemptStarts: SortedTimes
    private let attemptEnds: SortedTimes
    /// Ends of the ok increments that certainly count after a reset window,
    /// built on demand per window (there are as many windows as resets, one
    /// in practice).
    private var acknowledgedEndsByWindow: [Int: SortedTimes] = [:]

    init(_ increments: [IncrementRecord]) {
        var acknowledged: [(start: UInt64, end: UInt64)] = []
        var starts: [UInt64] = [], ends: [UInt64] = []
        for increment in increments {
            switch increment.outcome {
            case .fail:
                continue
            case .ok:
                acknowledged.append((increment.start, increment.end))
                starts.append(increment.start)
                ends.append(increment.end)
            case .indeterminate:
                starts.append(increment.start)
                ends.append(.max)
            }
        }
        self.acknowledged = acknowledged
        attemptStarts = SortedTimes(starts)
        attemptEnds = SortedTimes(ends)
        acknowledgedEndsByWindow[0] = SortedTimes(acknowledged.map(\.end))
    }

    /// Ok increments that ended before `readStart` and began after the
    /// resets of `window` ended.
    mutating func lower(readStart: UInt64, after window: ResetTimeline.Window?) -> Int {
        let index = window?.index ?? 0
        if acknowledgedEndsByWindow[index] == nil, let window {
            acknowledgedEndsByWindow[index] = SortedTimes(
                acknowledged.lazy.filter { $0.start > window.latestEnd }.map(\.end))
        }
        return acknowledgedEndsByWindow[index]!.countBelow(readStart)
    }

    /// Increments that may have applied, started by `readEnd` and were not
    /// certainly wiped by the resets of `window`.
    func upper(readEnd: UInt64, after window: ResetTimeline.Window?) -> Int {
        let started = attemptStarts.countAtMost(readEnd)
        guard let window else { return started }
        // A wiped increment ended before the reset began, so it also started
        // before the read ended: the subtraction never counts one twice.
        return started - attemptEnds.countBelow(window.latestStart)
    }
}
