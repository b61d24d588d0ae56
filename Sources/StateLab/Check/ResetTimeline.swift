/// The resets that touched one counter, indexed so the checker can ask, for
/// any instant or interval, which resets certainly came before it and whether
/// one overlapped it.
struct ResetTimeline: Sendable {
    /// Reset ends, sorted.
    private let ends: [UInt64]
    /// prefixMaxStart[i]: the latest start among the resets holding ends[0...i].
    private let prefixMaxStart: [UInt64]
    private let starts: SortedTimes

    init(_ resets: [ResetRecord]) {
        let byEnd = resets.sorted { $0.end < $1.end }
        ends = byEnd.map(\.end)
        var running: UInt64 = 0
        prefixMaxStart = byEnd.map { reset in
            running = max(running, reset.start)
            return running
        }
        starts = SortedTimes(resets.map(\.start))
    }

    var isEmpty: Bool { ends.isEmpty }

    /// The resets that ended before `t`, summed up: the latest start among
    /// them (an increment that ended before it was wiped) and the latest end
    /// (an increment that started after it certainly counts). `index` is how
    /// many resets that is, so equal windows share an index.
    struct Window: Sendable {
        var index: Int
        var latestStart: UInt64
        var latestEnd: UInt64
    }

    func window(before t: UInt64) -> Window? {
        let k = SortedTimes.countBelow(t, in: ends)
        guard k > 0 else { return nil }
        return Window(index: k, latestStart: prefixMaxStart[k - 1], latestEnd: ends[k - 1])
    }

    /// Every reset, summed up the same way.
    var all: Window? {
        guard let lastEnd = ends.last, let lastStart = prefixMaxStart.last else { return nil }
        return Window(index: ends.count, latestStart: lastStart, latestEnd: lastEnd)
    }

    /// Whether some reset's interval meets [start, end].
    func overlaps(start: UInt64, end: UInt64) -> Bool {
        // Resets that ended before `start` are a subset of those that began by `end`.
        starts.countAtMost(end) > SortedTimes.countBelow(start, in: ends)
    }

    /// How many resets ended before `t`: the epoch of something that began at `t`.
    func epoch(at t: UInt64) -> Int {
        SortedTimes.countBelow(t, in: ends)
    }
}

extension SortedTimes {
    /// Binary search over an array already sorted.
    static func countBelow(_ t: UInt64, in sorted: [UInt64]) -> Int {
        var low = 0, high = sorted.count
        while low < high {
            let mid = (low + high) / 2
            if sorted[mid] < t { low = mid + 1 } else { high = mid }
        }
        return low
    }
}
