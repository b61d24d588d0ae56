/// Folds what a report draws as a run streams, under the history recorder's
/// lock: the run in bins over time (outcomes, the band's edges, latency), and
/// a few witnessed lost updates with the operations around them. Memory is
/// bounded whatever the run's length: bins coarsen past `maxBins`, recent
/// operations live in a ring, and only `raceCap` races per view are kept.
struct EvidenceRecorder: Sendable {
    static let maxBins = 1_200
    static let ringSize = 1_024
    static let raceCap = 3
    /// Operations drawn around a race besides the colliding ones.
    static let contextCap = 30
    /// Completions after a race is seen during which late overlapping operations still join it.
    static let lateBudget = 4_096

    struct Bin: Sendable {
        var ok: Int32 = 0, failed: Int32 = 0, indeterminate: Int32 = 0, started: Int32 = 0
        var maxNanos: UInt64 = 0
        /// Latencies in log buckets (`LogBuckets`), made on the first answer that ends in the bin.
        var latency: [UInt32] = []
    }

    /// A race being gathered: the colliding operations and those that overlapped them.
    struct Race: Sendable {
        var shared: Bool
        var count: Int
        var colliding: [IncrementRecord]
        var context: [IncrementRecord]
        var from: UInt64
        var to: UInt64
        var budget: Int

        /// Another operation returned the race's count.
        mutating func join(_ increment: IncrementRecord) {
            guard !colliding.contains(increment) else { return }
            colliding.append(increment)
            context.removeAll { $0 == increment }
            from = min(from, increment.start)
            to = max(to, increment.end)
        }

        mutating func consider(_ increment: IncrementRecord) {
            budget -= 1
            guard context.count < EvidenceRecorder.contextCap, increment.start <= to, increment.end >= from,
                  !colliding.contains(where: { $0 == increment }) else { return }
            context.append(increment)
        }
    }

    let origin: UInt64
    private(set) var binNanos: UInt64 = 100_000_000
    private var bins: [Bin] = []
    private var ring: [IncrementRecord] = []
    private var ringNext = 0
    /// The ring slot of the latest ok operation that returned each count.
    private var slotByCount: [Int: Int] = [:]
    /// The first `raceCap` races of each view (a report's), and the latest one of each (the dashboard's).
    private(set) var races: [Race] = []
    private var latest: [Bool: Race] = [:]
    private(set) var traced = false

    init(origin: UInt64) {
        self.origin = origin
        ring.reserveCapacity(Self.ringSize)
    }

    // MARK: Folding

    /// One operation that ended, folded once (after any reset it waited for).
    mutating func fold(_ increment: IncrementRecord) {
        if increment.trace != nil { traced = true }
        let end = increment.end == .max ? increment.start : increment.end
        let endBin = bin(of: end)
        switch increment.outcome {
        case .ok: bins[endBin].ok += 1
        case .fail: bins[endBin].failed += 1
        case .indeterminate: bins[endBin].indeterminate += 1
        }
        if increment.outcome != .fail {
            bins[bin(of: increment.start)].started += 1
        }
        if increment.outcome != .indeterminate, end >= increment.start {
            let nanos = end - increment.start
            let index = bin(of: end)  // may have coarsened since endBin was taken
            if bins[index].latency.isEmpty { bins[index].latency = Array(repeating: 0, count: LogBuckets.count) }
            bins[index].latency[LogBuckets.bucket(of: nanos)] += 1
            bins[index].maxNanos = max(bins[index].maxNanos, nanos)
        }
        for index in races.indices where races[index].budget > 0 { races[index].consider(increment) }
        if latest[true]?.budget ?? 0 > 0 { latest[true]!.consider(increment) }
        if latest[false]?.budget ?? 0 > 0 { latest[false]!.consider(increment) }
        remember(increment)
    }

    /// The counter `shared` (or the worker's own) saw `increment`'s count a second
    /// time: keep the race while fewer than `raceCap` are kept for that view.
    /// Called before `fold` for the same operation.
    mutating func duplicate(_ increment: IncrementRecord, shared: Bool) {
        guard let count = increment.count else { return }
        if let index = races.firstIndex(where: { $0.shared == shared && $0.count == count && $0.budget > 0 }) {
            races[index].join(increment)
            if latest[shared]?.count == count { latest[shared]!.join(increment) }
            return
        }
        if latest[shared]?.count == count, latest[shared]!.budget > 0 {
            latest[shared]!.join(increment)
            return
        }
        guard let partner = earlier(count: count, pid: shared ? nil : increment.pid) else { return }
        let from = min(partner.start, increment.start), to = max(partner.end, increment.end)
        var race = Race(shared: shared, count: count, colliding: [partner, increment], context: [], from: from, to: to,
                        budget: Self.lateBudget)
        for slot in ring.indices where ring[slot] != partner { race.consider(ring[slot]) }
        race.budget = Self.lateBudget
        if races.filter({ $0.shared == shared }).count < Self.raceCap { races.append(race) }
        latest[shared] = race
    }

    private mutating func remember(_ increment: IncrementRecord) {
        let slot: Int
        if ring.count < Self.ringSize {
            slot = ring.count
            ring.append(increment)
        } else {
            slot = ringNext
            if let old = ring[slot].count, slotByCount[old] == slot { slotByCount[old] = nil }
            ring[slot] = increment
        }
        ringNext = (slot + 1) % Self.ringSize
        if increment.outcome == .ok, let count = increment.count { slotByCount[count] = slot }
    }

    /// The latest ok operation still in the ring that returned `count` (on `pid`'s counter when given).
    private func earlier(count: Int, pid: Int32?) -> IncrementRecord? {
        if let slot = slotByCount[count], ring[slot].count == count, pid == nil || ring[slot].pid == pid {
            return ring[slot]
        }
        guard pid != nil else { return nil }
        return ring.last { $0.outcome == .ok && $0.count == count && $0.pid == pid }
    }

    /// The bin `time` falls in, coarsening the bins first when it is past the last one allowed.
    private mutating func bin(of time: UInt64) -> Int {
        let offset = time > origin ? time - origin : 0
        var index = Int(offset / binNanos)
        while index >= Self.maxBins {
            coarsen()
            index = Int(offset / binNanos)
        }
        if index >= bins.count { bins.append(contentsOf: repeatElement(Bin(), count: index - bins.count + 1)) }
        return index
    }

    private mutating func coarsen() {
        binNanos *= 2
        var merged: [Bin] = []
        merged.reserveCapacity(bins.count / 2 + 1)
        var index = 0
        while index < bins.count {
            var bin = bins[index]
            if index + 1 < bins.count {
                let next = bins[index + 1]
                bin.ok += next.ok
                bin.failed += next.failed
                bin.indeterminate += next.indeterminate
                bin.started += next.started
                bin.maxNanos = max(bin.maxNanos, next.maxNanos)
                if bin.latency.isEmpty {
                    bin.latency = next.latency
                } else if !next.latency.isEmpty {
                    for bucket in bin.latency.indices { bin.latency[bucket] += next.latency[bucket] }
                }
            }
            merged.append(bin)
            index += 2
        }
        bins = merged
    }

    // MARK: The evidence

    /// What a report draws, for the view that was checked.
    func evidence(shared: Bool, reads: [ReadRecord], finalReads: [ReadRecord]) -> RunEvidence {
        let seconds = { (time: UInt64) in Double(time &- origin) / 1e9 }
        let binSeconds = Double(binNanos) / 1e9
        let drawnBins = bins.enumerated().map { index, bin in
            EvidenceBin(start: Double(index) * binSeconds, ok: Int(bin.ok), failed: Int(bin.failed),
                        indeterminate: Int(bin.indeterminate), started: Int(bin.started),
                        p50Ms: LogBuckets.quantile(0.5, of: bin.latency, max: bin.maxNanos) / 1e6,
                        p99Ms: LogBuckets.quantile(0.99, of: bin.latency, max: bin.maxNanos) / 1e6,
                        maxMs: Double(bin.maxNanos) / 1e6)
        }
        let drawnReads = reads.map { EvidenceRead(pid: $0.pid, worker: $0.worker, value: $0.value, start: seconds($0.start),
                                                  end: seconds($0.end), final: false) }
            + finalReads.map { EvidenceRead(pid: $0.pid, worker: $0.worker, value: $0.value, start: seconds($0.start),
                                            end: seconds($0.end), final: true) }
        let drawnRaces = races.filter { $0.shared == shared }.map(trace)
        return RunEvidence(binSeconds: binSeconds, bins: drawnBins, reads: drawnReads.sorted { $0.end < $1.end },
                           races: drawnRaces, insideView: traced)
    }

    /// The latest race seen in a view, for the dashboard.
    func latestRace(shared: Bool) -> RaceTrace? {
        latest[shared].map { trace($0) }
    }

    private func trace(_ race: Race) -> RaceTrace {
        let seconds = { (time: UInt64) in Double(time &- origin) / 1e9 }
        return RaceTrace(count: race.count, ops: (race.colliding.map { ($0, true) } + race.context.map { ($0, false) })
            .map { record, colliding in RaceOp(record, colliding: colliding, seconds: seconds) }
            .sorted { ($0.start, $0.end) < ($1.start, $1.end) })
    }
}

extension RaceOp {
    init(_ record: IncrementRecord, colliding: Bool, seconds: (UInt64) -> Double) {
        self.init(pid: record.pid, start: seconds(record.start), end: seconds(record.end == .max ? record.start : record.end),
                  outcome: record.outcome, count: record.count, readAt: record.trace.map { seconds($0.readAt) },
                  readValue: record.trace?.readValue, wroteAt: record.trace.map { seconds($0.wroteAt) }, colliding: colliding)
    }
}

/// Latencies in buckets four to a power of two, from 1 µs to about 70 s:
/// a bin's percentiles to within a sixth, for a chart, at 4 bytes a bucket.
enum LogBuckets {
    static let low = 10  // 2^10 ns, about a microsecond
    static let high = 36
    static let count = (high - low + 1) * 4

    static func bucket(of nanos: UInt64) -> Int {
        guard nanos >= 1 << low else { return 0 }
        let power = min(63 - nanos.leadingZeroBitCount, high)
        let quarter = power >= high ? 3 : Int((nanos >> (power - 2)) & 3)
        return (power - low) * 4 + quarter
    }

    /// The upper edge of a bucket, in ns.
    static func upperEdge(of bucket: Int) -> Double {
        let power = bucket / 4 + low
        let quarter = bucket % 4
        return Double(UInt64(1) << power) * (1 + Double(quarter + 1) / 4)
    }

    /// The `q` quantile of the buckets, in ns, never above the largest seen; 0 when empty.
    static func quantile(_ q: Double, of buckets: [UInt32], max: UInt64) -> Double {
        let total = buckets.reduce(0) { $0 + Int($1) }
        guard total > 0 else { return 0 }
        let rank = Swift.max(1, Int((q * Double(total)).rounded(.up)))
        var seen = 0
        for (index, count) in buckets.enumerated() {
            seen += Int(count)
            if seen >= rank { return Swift.min(upperEdge(of: index), Double(max)) }
        }
        return Double(max)
    }
}
