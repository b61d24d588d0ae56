/// Sorted timestamps answering "how many are before t" by binary search:
/// the checker's building block for staying O(n log n) on 100k+ increments.
struct SortedTimes: Sendable {
    private(set) var times: [UInt64]

    init<S: Sequence>(_ times: S) where S.Element == UInt64 {
        self.times = times.sorted()
    }

    var count: Int { times.count }

    /// How many times are strictly below `t`.
    func countBelow(_ t: UInt64) -> Int {
        SortedTimes.countBelow(t, in: times)
    }

    /// How many times are at most `t`.
    func countAtMost(_ t: UInt64) -> Int {
        t == .max ? times.count : countBelow(t + 1)
    }
}
