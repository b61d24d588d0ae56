/// Everything the checker needs about the increments of one counter, folded
/// as they arrive instead of kept one by one: bins of their times, per-epoch
/// counts and the counts they returned. An epoch is how many of this
/// counter's resets had ended before an increment started.
struct CounterTally: Sendable {
    /// Starts of every increment that may have applied (ok and indeterminate), for upper bounds.
    var attemptStarts = TimeBins()
    /// Ends of ok increments by epoch: lower bounds after a reset, and (all
    /// epochs together) the ones a reset certainly wiped.
    var okEndsByEpoch: [Int: TimeBins] = [:]
    var okByEpoch: [Int: Int] = [:]
    var ok = 0
    var indeterminate = 0
    var failed = 0
    var duplicates = 0
    var witnesses = WitnessList()
    private var countsByEpoch: [Int: CountSet] = [:]

    mutating func fold(_ increment: IncrementRecord, epoch: Int, overlapsReset: Bool, clock: BinClock,
                       pidIndex: UInt8?, pids: PidTable) {
        switch increment.outcome {
        case .fail:
            failed += 1
        case .indeterminate:
            indeterminate += 1
            attemptStarts.add(bin: clock.bin(increment.start))
        case .ok:
            ok += 1
            okByEpoch[epoch, default: 0] += 1
            attemptStarts.add(bin: clock.bin(increment.start))
            okEndsByEpoch[epoch, default: TimeBins()].add(bin: clock.bin(increment.end))
            // An increment overlapping a reset may have counted on either side of it.
            guard !overlapsReset, let count = increment.count else { return }
            switch countsByEpoch[epoch, default: CountSet()].insert(count, pidIndex: pidIndex) {
            case .first:
                break
            case .second(let first):
                duplicates += 1
                witnesses.secondSighting(epoch: epoch, count: count, first: pids.pid(at: first), second: increment.pid)
            case .again:
                duplicates += 1
                witnesses.laterSighting(epoch: epoch, count: count, pid: increment.pid)
            }
        }
    }

    /// Ok increments that certainly ended before `t`, in any epoch.
    func okEndedBefore(_ t: UInt64, clock: BinClock) -> Int {
        okEndsByEpoch.values.reduce(0) { $0 + $1.countBelow(t, clock: clock) }
    }

    mutating func coarsen(_ doublings: Int) {
        attemptStarts.coarsen(doublings)
        for key in Array(okEndsByEpoch.keys) { okEndsByEpoch[key]!.coarsen(doublings) }
    }

    mutating func seal() {
        attemptStarts.seal()
        for key in Array(okEndsByEpoch.keys) { okEndsByEpoch[key]!.seal() }
    }
}
