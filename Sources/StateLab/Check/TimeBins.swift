/// Where a time falls among a run's bins. Every bin array of one run shares
/// one clock, so they coarsen together: a bin is `1 << shift` nanoseconds wide
/// from `origin`, and the width doubles whenever a run outgrows `maxBins`.
/// Memory is then bounded by `maxBins` per array, whatever the run's length.
struct BinClock: Sendable {
    let origin: UInt64
    private(set) var shift: Int = 0
    let maxBins: Int

    /// - Parameter shift: the starting width, `1 << shift` ns (0 for exact
    ///   short histories; a live run starts near a microsecond).
    init(origin: UInt64, maxBins: Int = 1 << 19, shift: Int = 0) {
        self.origin = origin
        self.maxBins = maxBins
        self.shift = shift
    }

    /// The bin of `t`; times before the origin fall in bin 0.
    func bin(_ t: UInt64) -> Int {
        t <= origin ? 0 : Int((t - origin) >> UInt64(shift))
    }

    /// Widens bins until `t` fits; returns how many doublings that took.
    mutating func widen(toFit t: UInt64) -> Int {
        var doublings = 0
        while bin(t) >= maxBins {
            shift += 1
            doublings += 1
        }
        return doublings
    }
}

/// How many events fell in each bin. The queries round the way that can
/// only widen a read's bounds, never narrow them, so a coarse bin never makes
/// a correct store look wrong:
/// - `countBelow(t)` counts only bins that end at or before `t` (an undercount);
/// - `countAtMost(t)` counts every bin that starts at or before `t` (an overcount).
/// With 1 ns bins (short histories, the tests) both are exact.
struct TimeBins: Sendable {
    private var counts: [UInt32] = []
    private var prefix: [Int]? = nil
    private(set) var total = 0

    mutating func add(bin: Int) {
        let missing = bin - counts.count + 1
        // At 1 µs bins most increments open a few new ones: appended one by one, no
        // temporary array. A long gap (the first increment of a run, a stall) is one
        // bulk copy of zeros: appending a `repeatElement` element by element instead
        // took 150 ms per 200,000 bins in a debug build, and stalled the load's loop.
        if missing > 0 && missing <= 64 {
            for _ in 0..<missing { counts.append(0) }
        } else if missing > 64 {
            counts += [UInt32](repeating: 0, count: missing)
        }
        counts[bin] &+= 1
        total += 1
        prefix = nil
    }

    /// Merges neighbouring bins `doublings` times, after the clock widened.
    mutating func coarsen(_ doublings: Int) {
        for _ in 0..<doublings {
            let old = counts
            counts = [UInt32](unsafeUninitializedCapacity: (old.count + 1) / 2) { merged, initialized in
                old.withUnsafeBufferPointer { pairs in
                    for index in 0..<merged.count {
                        let second = 2 * index + 1 < pairs.count ? pairs[2 * index + 1] : 0
                        merged[index] = pairs[2 * index] &+ second
                    }
                }
                initialized = merged.count
            }
        }
        prefix = nil
    }

    /// Call once all events are in, before the queries.
    mutating func seal() {
        guard prefix == nil else { return }
        var running = 0
        var sums = [0]
        sums.reserveCapacity(counts.count + 1)
        for count in counts {
            running += Int(count)
            sums.append(running)
        }
        prefix = sums
    }

    private func sum(ofFirst bins: Int) -> Int {
        guard let prefix else { preconditionFailure("TimeBins queried before seal()") }
        return prefix[min(max(bins, 0), prefix.count - 1)]
    }

    /// Events certainly before `t`.
    func countBelow(_ t: UInt64, clock: BinClock) -> Int {
        guard t > clock.origin else { return 0 }
        return sum(ofFirst: Int((t - clock.origin) >> UInt64(clock.shift)))
    }

    /// Events that may be at or before `t`.
    func countAtMost(_ t: UInt64, clock: BinClock) -> Int {
        if t == .max { return total }
        return sum(ofFirst: clock.bin(t) + 1)
    }
}
