import Foundation
import Testing
@testable import StateLab

/// Hand-made histories with known answers, Jepsen's counter cases among them.
@Suite struct CheckerTests {
    let pidA: Int32 = 101
    let pidB: Int32 = 202

    func ok(_ count: Int?, pid: Int32? = 101, _ start: UInt64, _ end: UInt64) -> IncrementRecord {
        IncrementRecord(outcome: .ok, count: count, pid: pid, start: start, end: end)
    }

    func failed(_ start: UInt64, _ end: UInt64) -> IncrementRecord {
        IncrementRecord(outcome: .fail, start: start, end: end)
    }

    func unsure(_ start: UInt64, _ end: UInt64, pid: Int32? = nil) -> IncrementRecord {
        IncrementRecord(outcome: .indeterminate, pid: pid, start: start, end: end)
    }

    func read(_ value: Int, pid: Int32 = 101, worker: Int? = 0, _ start: UInt64, _ end: UInt64) -> ReadRecord {
        ReadRecord(pid: pid, worker: worker, value: value, start: start, end: end)
    }

    /// Three increments one after another, counts 1...3, then one final read.
    func sequential(final: Int) -> History {
        let increments = [ok(1, 0, 10), ok(2, 20, 30), ok(3, 40, 50)]
        let last = read(final, 100, 110)
        return History(increments: increments, reads: [last], finalReads: [last])
    }

    @Test func emptyHistoryIsUnknown() {
        let result = Checker.check(History(), shared: true)
        #expect(result.acknowledged == 0 && result.failed == 0 && result.indeterminate == 0)
        #expect(result.finalMin == 0 && result.finalMax == 0 && result.final == 0)
        #expect(result.lost == 0 && result.unexpected == 0 && result.duplicates == 0)
        #expect(result.witnesses.isEmpty && result.readViolations.isEmpty && result.perWorker.isEmpty)
        #expect(!result.divergent)
        // Nothing was read, so nothing can be said: never "ok".
        #expect(result.verdict == .unknown)
        #expect(Checker.check(History(), shared: false).verdict == .unknown)
    }

    @Test func exactHistoryIsOk() {
        let result = Checker.check(sequential(final: 3), shared: true)
        #expect(result.acknowledged == 3 && result.acknowledgedSinceReset == 3)
        #expect(result.final == 3 && result.lost == 0 && result.unexpected == 0)
        #expect(result.readViolationCount == 0)
        #expect(result.verdict == .ok)
        #expect(result.perWorker == [WorkerTally(pid: pidA, worker: 0, count: 3, acknowledged: 3)])
    }

    @Test func readAboveEveryAttemptedIncrementIsInvalid() {
        let result = Checker.check(sequential(final: 4), shared: true)
        #expect(result.readViolationCount == 1)
        #expect(result.readViolations.first?.lower == 3)
        #expect(result.readViolations.first?.upper == 3)
        #expect(result.unexpected == 1)
        #expect(result.lost == 0)
        #expect(result.verdict == .errors)
    }

    @Test func readBelowTheAcknowledgedBeforeItIsInvalid() {
        let early = read(1, 60, 70)
        var history = sequential(final: 3)
        history.reads.insert(early, at: 0)
        let result = Checker.check(history, shared: true)
        #expect(result.readViolations == [ReadViolation(read: early, lower: 3, upper: 3)])
        // The final read is fine, so nothing is lost: the violation alone makes it "errors".
        #expect(result.lost == 0)
        #expect(result.verdict == .errors)
    }

    @Test func lowFinalReadIsLostUpdates() {
        let result = Checker.check(sequential(final: 2), shared: true)
        #expect(result.lost == 1)
        #expect(result.readViolationCount == 1)
        #expect(result.verdict == .lostUpdates)
        #expect(abs(result.lostPercent - 100.0 / 3) < 0.001)
    }

    @Test func failedIncrementNeverRaisesTheUpperBound() {
        var history = sequential(final: 4)
        history.increments.append(failed(55, 60))
        let result = Checker.check(history, shared: true)
        #expect(result.failed == 1)
        #expect(result.readViolations.first?.upper == 3)
        #expect(result.unexpected == 1)
        #expect(result.verdict == .errors)
    }

    @Test func indeterminateIncrementRaisesTheUpperBound() {
        var history = sequential(final: 4)
        history.increments.append(unsure(55, 60))
        let result = Checker.check(history, shared: true)
        #expect(result.indeterminate == 1)
        #expect(result.readViolationCount == 0)
        #expect(result.unexpected == 0)
        #expect(result.lost == 0)
        // One doubtful answer among certain ones widens the bounds; it is not an error.
        #expect(result.inconclusive == nil)
        #expect(result.verdict == .ok)
    }

    @Test func indeterminateIncrementMayApplyAfterItsTimeout() {
        // Timed out at 20, before the read began: it may still land during the read.
        let increments = [unsure(0, 20)]
        let late = read(1, 30, 40)
        let result = Checker.check(History(increments: increments, reads: [late], finalReads: [late]), shared: true)
        #expect(result.readViolationCount == 0)
        #expect(result.lost == 0 && result.unexpected == 0)
    }

    @Test func readConcurrentWithAnIncrementMaySeeItOrNot() {
        let increments = [ok(1, 0, 100)]
        for value in [0, 1] {
            let during = read(value, 50, 60)
            let history = History(increments: increments, reads: [during], finalReads: [])
            #expect(Checker.check(history, shared: true).readViolationCount == 0)
        }
        let tooHigh = read(2, 50, 60)
        #expect(Checker.check(History(increments: increments, reads: [tooHigh]), shared: true).readViolationCount == 1)
    }

    @Test func finalReadsAreCheckedOnceEvenWhenAlsoInReads() {
        let last = read(9, 100, 110)
        let history = History(increments: [ok(1, 0, 10)], reads: [last], finalReads: [last])
        #expect(Checker.check(history, shared: true).readViolationCount == 1)
        let onlyFinal = History(increments: [ok(1, 0, 10)], reads: [], finalReads: [last])
        #expect(Checker.check(onlyFinal, shared: true).readViolationCount == 1)
    }

    @Test func duplicateCountsAreWitnessesOfLostUpdates() {
        // Two workers read 1 and both wrote 2; three wrote 3.
        let increments = [
            ok(1, pid: pidA, 0, 10), ok(2, pid: pidA, 20, 30), ok(2, pid: pidB, 20, 31),
            ok(3, pid: pidA, 40, 50), ok(3, pid: pidB, 40, 51), ok(3, pid: nil, 40, 52),
        ]
        let last = read(3, 100, 110)
        let result = Checker.check(History(increments: increments, reads: [last], finalReads: [last]), shared: true)
        #expect(result.duplicates == 3)
        #expect(result.witnesses == [
            DuplicateWitness(count: 2, pids: [pidA, pidB]),
            DuplicateWitness(count: 3, pids: [pidA, pidB]),
        ])
        #expect(result.lost == 3)
        #expect(result.verdict == .lostUpdates)
    }

    @Test func duplicatesAloneMakeLostUpdates() {
        // The final read happens to be right (an indeterminate one filled the gap),
        // but two acknowledged increments returned the same count.
        let increments = [ok(1, pid: pidA, 0, 10), ok(1, pid: pidB, 0, 11), unsure(0, 12)]
        let last = read(2, 100, 110)
        let result = Checker.check(History(increments: increments, reads: [last], finalReads: [last]), shared: true)
        #expect(result.lost == 0)
        #expect(result.duplicates == 1)
        #expect(result.verdict == .lostUpdates)
    }

    @Test func witnessesAreCapped() {
        var increments: [IncrementRecord] = []
        for count in 1...10 {
            let start = UInt64(count) * 10
            increments.append(ok(count, pid: pidA, start, start + 5))
            increments.append(ok(count, pid: pidB, start, start + 6))
        }
        let result = Checker.check(History(increments: increments), shared: true)
        #expect(result.duplicates == 10)
        #expect(result.witnesses.count == Checker.witnessCap)
        #expect(result.witnesses.map { $0.count } == [1, 2, 3, 4, 5])
    }

    @Test func differentFinalReadsOfASharedStoreAreDivergent() {
        let increments = [ok(1, pid: pidA, 0, 10), ok(2, pid: pidB, 20, 30)]
        let finals = [read(2, pid: pidA, worker: 0, 100, 110), read(1, pid: pidB, worker: 1, 100, 111)]
        let result = Checker.check(History(increments: increments, reads: finals, finalReads: finals), shared: true)
        #expect(result.divergent)
        #expect(result.finalMin == 1 && result.finalMax == 2)
        // Lost is measured against the highest final read: a lower bound.
        #expect(result.final == 2 && result.lost == 0)
        #expect(result.readViolationCount == 1)
        #expect(result.verdict == .divergent)
    }

    @Test func unsharedStoreSumsTheWorkers() {
        // global: each worker counts its own increments, so equal counts are normal.
        let increments = [
            ok(1, pid: pidA, 0, 10), ok(2, pid: pidA, 20, 30),
            ok(1, pid: pidB, 0, 10), ok(2, pid: pidB, 20, 30), ok(3, pid: pidB, 40, 50),
        ]
        let finals = [read(2, pid: pidA, worker: 0, 100, 110), read(3, pid: pidB, worker: 1, 100, 110)]
        let result = Checker.check(History(increments: increments, reads: finals, finalReads: finals), shared: false)
        #expect(!result.shared)
        #expect(result.final == 5 && result.lost == 0 && result.unexpected == 0)
        #expect(result.duplicates == 0)
        #expect(result.readViolationCount == 0)
        #expect(result.divergent)
        #expect(result.verdict == .divergent)
        #expect(result.perWorker == [
            WorkerTally(pid: pidA, worker: 0, count: 2, acknowledged: 2),
            WorkerTally(pid: pidB, worker: 1, count: 3, acknowledged: 3),
        ])
        // The same history read as one shared counter would be a mess of duplicates.
        #expect(Checker.check(History(increments: increments, reads: finals, finalReads: finals), shared: true)
            .verdict == .lostUpdates)
    }

    @Test func unsharedStoreLosesWhenTheSumFallsShort() {
        let increments = [ok(1, pid: pidA, 0, 10), ok(2, pid: pidA, 20, 30), ok(1, pid: pidB, 0, 10)]
        let finals = [read(1, pid: pidA, worker: 0, 100, 110), read(1, pid: pidB, worker: 1, 100, 110)]
        let result = Checker.check(History(increments: increments, reads: finals, finalReads: finals), shared: false)
        #expect(result.final == 2 && result.lost == 1)
        #expect(result.readViolations.map(\.read.pid) == [pidA])
        #expect(result.verdict == .lostUpdates)
    }

    @Test func unsharedReadBoundsArePerWorker() {
        // Worker A saw 2 increments; reading A's counter as 3 counts B's, which it can't hold.
        let increments = [ok(1, pid: pidA, 0, 10), ok(2, pid: pidA, 20, 30), ok(1, pid: pidB, 0, 10)]
        let finals = [read(3, pid: pidA, worker: 0, 100, 110), read(1, pid: pidB, worker: 1, 100, 110)]
        let result = Checker.check(History(increments: increments, reads: finals, finalReads: finals), shared: false)
        #expect(result.readViolations == [ReadViolation(read: finals[0], lower: 2, upper: 2)])
        #expect(result.unexpected == 1)
    }

    @Test func unsharedUnknownPidOnlyRaisesUpperBounds() {
        let increments = [ok(1, pid: pidA, 0, 10), ok(nil, pid: nil, 20, 30)]
        for value in [1, 2] {
            let finals = [read(value, pid: pidA, worker: 0, 100, 110)]
            let result = Checker.check(History(increments: increments, reads: finals, finalReads: finals), shared: false)
            #expect(result.readViolationCount == 0)
        }
        let tooHigh = [read(3, pid: pidA, worker: 0, 100, 110)]
        let result = Checker.check(History(increments: increments, reads: tooHigh, finalReads: tooHigh), shared: false)
        #expect(result.readViolations.first?.upper == 2)
        #expect(result.readViolations.first?.lower == 1)
    }

    /// Three increments, a reset from 100 to 110, one increment overlapping it,
    /// two after it (counts 1, 2 again).
    func resetHistory(final: Int, extraReads: [ReadRecord] = []) -> History {
        let increments = [
            ok(1, 0, 10), ok(2, 20, 30), ok(3, 40, 50),
            ok(1, 95, 105),
            ok(2, 120, 130), ok(3, 140, 150),
        ]
        let last = read(final, 200, 210)
        return History(increments: increments, reads: extraReads + [last], finalReads: [last],
                       resets: [ResetRecord(pid: pidA, start: 100, end: 110)])
    }

    @Test func resetStartsANewEpoch() {
        let result = Checker.check(resetHistory(final: 3), shared: true)
        #expect(result.acknowledged == 6)
        // The overlapping increment only raises the upper bound.
        #expect(result.acknowledgedSinceReset == 2)
        #expect(result.lost == 0 && result.unexpected == 0)
        // Counts 1, 2, 3 repeat across the reset: that is not a duplicate.
        #expect(result.duplicates == 0)
        #expect(result.readViolationCount == 0)
        #expect(result.verdict == .ok)

        // Without the overlapping one the final could be 2; below that, updates were lost.
        #expect(Checker.check(resetHistory(final: 2), shared: true).lost == 0)
        let low = Checker.check(resetHistory(final: 1), shared: true)
        #expect(low.lost == 1 && low.verdict == .lostUpdates)
        // Increments before the reset no longer count toward the upper bound.
        let high = Checker.check(resetHistory(final: 4), shared: true)
        #expect(high.unexpected == 1 && high.readViolationCount == 1)
    }

    @Test func readsBeforeTheResetUseTheirOwnEpoch() {
        // Between the third increment and the reset the counter must be exactly 3.
        let good = Checker.check(resetHistory(final: 3, extraReads: [read(3, 60, 70)]), shared: true)
        #expect(good.readViolationCount == 0)
        let bad = Checker.check(resetHistory(final: 3, extraReads: [read(1, 60, 70)]), shared: true)
        #expect(bad.readViolations.first?.lower == 3)
        // A read overlapping the reset may see either side: it is skipped.
        let either = Checker.check(resetHistory(final: 3, extraReads: [read(99, 105, 115)]), shared: true)
        #expect(either.readViolationCount == 0)
        // After the reset: at least the 2 that followed it, at most those plus the overlapping one.
        let after = Checker.check(resetHistory(final: 3, extraReads: [read(4, 160, 170)]), shared: true)
        #expect(after.readViolations.first?.lower == 2)
        #expect(after.readViolations.first?.upper == 3)
    }

    @Test func duplicateAfterAResetIsStillCaught() {
        var history = resetHistory(final: 3)
        history.increments.append(ok(3, pid: pidB, 140, 151))
        let result = Checker.check(history, shared: true)
        #expect(result.duplicates == 1)
        #expect(result.witnesses == [DuplicateWitness(count: 3, pids: [pidA, pidB])])
    }

    @Test func unsharedResetOnlyEmptiesTheWorkerItWentThrough() {
        // global: /reset through worker A leaves B's copy alone; that is divergence, not loss.
        let increments = [
            ok(1, pid: pidA, 0, 10), ok(2, pid: pidA, 20, 30),
            ok(1, pid: pidB, 0, 10), ok(2, pid: pidB, 20, 30),
            ok(1, pid: pidA, 120, 130),
        ]
        let finals = [read(1, pid: pidA, worker: 0, 200, 210), read(2, pid: pidB, worker: 1, 200, 210)]
        let history = History(increments: increments, reads: finals, finalReads: finals,
                              resets: [ResetRecord(pid: pidA, start: 100, end: 110)])
        let result = Checker.check(history, shared: false)
        #expect(result.acknowledgedSinceReset == 3)
        #expect(result.lost == 0 && result.unexpected == 0 && result.duplicates == 0)
        #expect(result.readViolationCount == 0)
        #expect(result.verdict == .divergent)
    }

    @Test func unsharedResetWithoutPidReachesEveryWorker() {
        let increments = [
            ok(1, pid: pidA, 0, 10), ok(2, pid: pidA, 20, 30), ok(1, pid: pidB, 0, 10),
            ok(1, pid: pidA, 120, 130), ok(1, pid: pidB, 120, 130),
        ]
        let finals = [read(1, pid: pidA, worker: 0, 200, 210), read(1, pid: pidB, worker: 1, 200, 210)]
        let history = History(increments: increments, reads: finals, finalReads: finals,
                              resets: [ResetRecord(pid: nil, start: 100, end: 110)])
        let result = Checker.check(history, shared: false)
        #expect(result.acknowledgedSinceReset == 2)
        #expect(result.lost == 0 && result.unexpected == 0 && result.readViolationCount == 0)
        #expect(result.verdict == .ok)
    }

    @Test func verdictPrecedence() {
        func verdict(unknown: Bool = false, lost: Int = 0, duplicates: Int = 0, divergent: Bool = false,
                     unexpected: Int = 0, violations: Int = 0, inconclusive: String? = nil) -> Verdict {
            CheckResult.verdict(unknown: unknown, lost: lost, duplicates: duplicates, divergent: divergent,
                                unexpected: unexpected, readViolations: violations, inconclusive: inconclusive)
        }
        #expect(verdict() == .ok)
        #expect(verdict(unknown: true, lost: 1, divergent: true) == .unknown)
        #expect(verdict(lost: 1, divergent: true, inconclusive: "x") == .lostUpdates)
        #expect(verdict(duplicates: 1) == .lostUpdates)
        #expect(verdict(divergent: true, unexpected: 3) == .divergent)
        #expect(verdict(inconclusive: "timeouts") == .errors)
        #expect(verdict(unexpected: 1) == .errors)
        #expect(verdict(violations: 1) == .errors)
        #expect(Verdict.lostUpdates.rawValue == "lost-updates")
    }

    @Test func resultRoundTripsThroughJSON() throws {
        let result = Checker.check(resetHistory(final: 1, extraReads: [read(1, 60, 70)]), shared: true)
        let data = try JSONEncoder().encode(result)
        #expect(try JSONDecoder().decode(CheckResult.self, from: data) == result)
    }

    @Test func fieldsNameEveryResultFigure() {
        let fields = Checker.check(sequential(final: 2), shared: true).fields(workers: 4, throughputRPS: 1234, p99Ms: 3)
        #expect(fields["lost"] == .number(1))
        #expect(fields["verdict"] == .text("lost-updates"))
        #expect(fields["divergent"] == .bool(false))
        #expect(fields["workers"] == .number(4))
        #expect(fields["throughput_rps"] == .number(1234))
        #expect(fields["p50_ms"] == nil)
        #expect(Set(fields.keys).isSubset(of: Set(Expectation.knownFields)))
    }

    @Test(.timeLimit(.minutes(2))) func largeHistoryWithCoarseBinsStaysExactWhereItMatters() {
        // 200k increments, a read every 1000: the bins coarsen (1 ns bins cannot hold 2 ms),
        // and the rounding may only widen bounds, so a correct history stays clean and exact.
        let total = 200_000
        var increments: [IncrementRecord] = []
        increments.reserveCapacity(total)
        var reads: [ReadRecord] = []
        for index in 0..<total {
            let start = UInt64(index) * 10
            increments.append(ok(index + 1, pid: Int32(index % 4), start, start + 5))
            if index % 1000 == 999 { reads.append(read(index + 1, pid: 0, start + 6, start + 7)) }
        }
        let last = read(total, pid: 0, UInt64(total) * 10 + 100, UInt64(total) * 10 + 200)
        let result = Checker.check(History(increments: increments, reads: reads + [last], finalReads: [last]), shared: true)
        #expect(result.verdict == .ok)
        #expect(result.readViolationCount == 0)
        #expect(result.acknowledgedSinceReset == total && result.lost == 0)
        // A final read one short is one lost, whatever the bin width.
        let short = read(total - 1, pid: 0, UInt64(total) * 10 + 100, UInt64(total) * 10 + 200)
        let lossy = Checker.check(History(increments: increments, reads: reads + [short], finalReads: [short]), shared: true)
        #expect(lossy.lost == 1 && lossy.verdict == .lostUpdates)
    }
}
