/// Everything the checker needs about the increments of one counter, folded
/// as they arrive instead of kept one by one: bins of their times, per-epoch
/// counts and the counts they returned. An epoch is how many of this
/// counter's resets had ended before an increment started.
struct CounterTally: Sendable {
    /// Starts of every increment that may have applied (ok and indeterminate), for upper bounds.
    var attemptStarts = TimeBins()
    /// Ends of ok increments by epoch (the index): lower bounds after a reset,
    /// and (all epochs together) the ones a reset certainly wiped.
    private(set) var okEndsByEpoch: [TimeBins] = []
    private(set) var okByEpoch: [Int] = []
    var ok = 0
    var indeterminate = 0
    var failed = 0
    var duplicates = 0
    var witnesses = WitnessList()
    /// The counts seen, by epoch (epochs are 0, 1, 2 ...: an array, no hashing per increment).
    private var countsByEpoch: [CountSet] = []

    /// Returns true when the increment's count was seen before in its epoch: a witness of a lost update.
    @discardableResult
    mutating func fold(_ increment: IncrementRecord, epoch: Int, overlapsReset: Bool, clock: BinClock,
                       pidIndex: UInt8?, pids: PidTable) -> Bool {
        switch increment.outcome {
        case .fail:
            failed += 1
            return false
        case .indeterminate:
            indeterminate += 1
            attemptStarts.add(bin: clock.bin(increment.start))
            return false
        case .ok:
            ok += 1
            while okByEpoch.count <= epoch {
                okByEpoch.append(0)
                okEndsByEpoch.append(TimeBins())
            }
            okByEpoch[epoch] += 1
            attemptStarts.add(bin: clock.bin(increment.start))
            okEndsByEpoch[epoch].add(bin: clock.bin(increment.end))
            // An increment overlapping a reset may have counted on either side of it.
            guard !overlapsReset, let count = increment.count else { return false }
            while countsByEpoch.count <= epoch { countsByEpoch.append(CountSet()) }
            switch countsByEpoch[epoch].insert(count, pidIndex: pidIndex) {
            case .first:
                return false
            case .second(let first):
                duplicates += 1
                witnesses.secondSighting(epoch: epoch, count: count, first: pids.pid(at: first), second: increment.pid)
                return true
            case .again:
                duplicates += 1
                witnesses.laterSighting(epoch: epoch, count: count, pid: increment.pid)
                return true
            }
        }
    }

    /// Ok increments that certainly ended before `t`, in any epoch.
    func okEndedBefore(_ t: UInt64, clock: BinClock) -> Int {
        okEndsByEpoch.reduce(0) { $0 + $1.countBelow(t, clock: clock) }
    }

    /// Ok increments of one epoch.
    func ok(inEpoch epoch: Int) -> Int { epoch < okByEpoch.count ? okByEpoch[epoch] : 0 }

    /// Ok increments of one epoch that certainly ended before `t`.
    func okEnded(before t: UInt64, inEpoch epoch: Int, clock: BinClock) -> Int {
        epoch < okEndsByEpoch.count ? okEndsByEpoch[epoch].countBelow(t, clock: clock) : 0
    }

    mutating func coarsen(_ doublings: Int) {
        attemptStarts.coarsen(doublings)
        for index in okEndsByEpoch.indices { okEndsByEpoch[index].coarsen(doublings) }
    }

    mutating func seal() {
        attemptStarts.seal()
        for index in okEndsByEpoch.indices { okEndsByEpoch[index].seal() }
    }
}
