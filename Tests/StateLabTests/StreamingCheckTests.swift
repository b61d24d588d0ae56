import Foundation
import NIOConcurrencyHelpers
import Testing
@testable import StateLab

/// The checker's rules that keep it from blaming a correct store: unread
/// workers, resets without an answer, uncertainty, unsettled reads, coarse
/// bins; and the recorder's exact reset trigger.
@Suite struct StreamingCheckTests {
    let pidA: Int32 = 101
    let pidB: Int32 = 202

    func ok(_ count: Int?, pid: Int32? = 101, _ start: UInt64, _ end: UInt64) -> IncrementRecord {
        IncrementRecord(outcome: .ok, count: count, pid: pid, start: start, end: end)
    }

    func read(_ value: Int, pid: Int32 = 101, _ start: UInt64, _ end: UInt64) -> ReadRecord {
        ReadRecord(pid: pid, worker: nil, value: value, start: start, end: end)
    }

    @Test func anUnreadWorkerIsLeftOutNeverReadAsZero() {
        let increments = [ok(1, pid: pidA, 0, 10), ok(2, pid: pidB, 20, 30), ok(3, pid: pidA, 40, 50)]
        let history = History(increments: increments, reads: [], finalReads: [read(3, pid: pidA, 100, 110)],
                              unread: [UnreadWorker(pid: pidB, worker: 1, reason: "no answer within 5 s")])
        let result = Checker.check(history, shared: true)
        #expect(result.final == 3 && result.lost == 0)
        #expect(result.unread == [UnreadWorker(pid: pidB, worker: 1, reason: "no answer within 5 s")])
        #expect(result.verdict == .ok)
    }

    @Test func globalLeavesAnUnreadWorkersOwnIncrementsOut() {
        // Each worker has its own counter: B's three increments went with B.
        let increments = [ok(1, pid: pidA, 0, 10), ok(2, pid: pidA, 20, 30),
                          ok(1, pid: pidB, 0, 10), ok(2, pid: pidB, 20, 30), ok(3, pid: pidB, 40, 50)]
        let history = History(increments: increments, finalReads: [read(2, pid: pidA, 100, 110)],
                              unread: [UnreadWorker(pid: pidB, reason: "stopped")])
        let result = Checker.check(history, shared: false)
        #expect(result.final == 2 && result.acknowledgedSinceReset == 2 && result.lost == 0)
        #expect(result.verdict == .ok)
        // Read as 0 instead, the same history would claim 3 lost.
        let zero = Checker.check(History(increments: increments, finalReads: [read(2, pid: pidA, 100, 110), read(0, pid: pidB, 100, 110)]), shared: false)
        #expect(zero.lost == 3)
    }

    @Test func noWorkerReadIsUnknownWithTheReason() {
        let history = History(increments: [ok(1, 0, 10)], unread: [UnreadWorker(pid: pidA, reason: "stopped (SIGSTOP)")])
        let result = Checker.check(history, shared: true)
        #expect(result.verdict == .unknown)
        #expect(result.inconclusive?.contains("stopped (SIGSTOP)") == true)
        #expect(result.lost == 0)
    }

    func resetWithoutAnswer(final: Int) -> History {
        // Three before the reset, three after; the reset got no answer.
        let increments = [ok(1, 0, 10), ok(2, 20, 30), ok(3, 40, 50), ok(4, 120, 130), ok(5, 140, 150), ok(6, 160, 170)]
        let last = read(final, 200, 210)
        return History(increments: increments, reads: [last], finalReads: [last],
                       resets: [ResetRecord(pid: pidA, worker: 0, start: 100, end: 110, outcome: .indeterminate)])
    }

    @Test func aResetWithoutAnswerThatDidNotApplyStillChecksOk() {
        let result = Checker.check(resetWithoutAnswer(final: 6), shared: true)
        #expect(result.lost == 0 && result.unexpected == 0)
        #expect(result.inconclusive == nil)
        #expect(result.verdict == .ok)
        #expect(result.resets.map(\.outcome) == [.indeterminate])
    }

    @Test func aResetWithoutAnswerThatMayHaveAppliedMakesTheCheckInconclusiveNotLost() {
        // 2 is what the store holds if the reset applied just before the last two: not a loss.
        let result = Checker.check(resetWithoutAnswer(final: 2), shared: true)
        #expect(result.lost == 0)
        #expect(result.verdict == .errors)
        #expect(result.inconclusive?.contains("worker 0") == true)
    }

    @Test func mostlyUncertainIncrementsAreInconclusive() {
        let increments = [ok(1, 0, 10)] + (0..<3).map { IncrementRecord(outcome: .indeterminate, start: UInt64(20 + $0), end: 90) }
        let last = read(2, 100, 110)
        let result = Checker.check(History(increments: increments, reads: [last], finalReads: [last]), shared: true)
        #expect(result.lost == 0)
        #expect(result.inconclusive != nil)
        #expect(result.verdict == .errors)
    }

    @Test func failedIncrementsAloneAreNotErrors() {
        let increments = [ok(1, 0, 10), ok(2, 20, 30), IncrementRecord(outcome: .fail, start: 40, end: 50)]
        let last = read(2, 100, 110)
        let result = Checker.check(History(increments: increments, reads: [last], finalReads: [last]), shared: true)
        #expect(result.failed == 1 && result.verdict == .ok)
    }

    @Test func unsettledReadsOfASharedStoreAreNotCalledDivergent() {
        let increments = [ok(1, 0, 10), ok(2, 20, 30)]
        let finals = [read(2, pid: pidA, 100, 110), read(3, pid: pidB, 100, 110)]
        var history = History(increments: increments + [IncrementRecord(outcome: .indeterminate, start: 40, end: 90)],
                              finalReads: finals, settled: false)
        let result = Checker.check(history, shared: true)
        #expect(!result.divergent && result.unsettled)
        #expect(result.verdict == .errors)
        history.settled = true
        #expect(Checker.check(history, shared: true).divergent)
    }

    @Test func coarseBinsOnlyWidenBounds() {
        // Four bins for the whole run: every query rounds, never against the store.
        let recorder = HistoryRecorder(origin: 0, resolution: 0, maxBins: 4)
        for index in 0..<1_000 {
            let start = UInt64(index) * 1_000
            recorder.add(ok(index + 1, start, start + 500))
        }
        for index in stride(from: 0, to: 1_000, by: 50) {
            let at = UInt64(index) * 1_000 + 600
            recorder.recordRead(read(index + 1, at, at + 10))
        }
        recorder.recordFinal(reads: [read(1_000, 2_000_000, 2_000_010)], unread: [], settled: true)
        let result = recorder.check(shared: true)
        #expect(result.readViolationCount == 0)
        #expect(result.lost == 0 && result.verdict == .ok)
    }

    @Test func aScheduledResetStartsAfterExactlyNAcknowledged() {
        let recorder = HistoryRecorder()
        let fired = NIOLockedValueBox<[ResetToken]>([])
        recorder.scheduleReset(afterAcknowledged: 5, worker: 0) { token in fired.withLockedValue { $0.append(token) } }
        for index in 0..<10 {
            let now = MonotonicClock.now()
            recorder.add(IncrementRecord(outcome: index == 2 ? .fail : .ok, count: index + 1, pid: pidA, start: now, end: now + 1))
            if fired.withLockedValue({ $0.count }) == 1, let token = fired.withLockedValue({ $0.first }) {
                recorder.endReset(token, outcome: .ok, pid: pidA)
            }
        }
        #expect(fired.withLockedValue { $0.count } == 1)
        recorder.recordFinal(reads: [read(4, MonotonicClock.now(), MonotonicClock.now() + 1)], unread: [], settled: true)
        let result = recorder.check(shared: true)
        #expect(result.resets.count == 1)
        #expect(result.resets.first?.acknowledgedBefore == 5)
        #expect(result.missedSteps.isEmpty)
    }

    @Test func aStepThatNeverCameIsNamed() {
        let recorder = HistoryRecorder()
        recorder.scheduleReset(afterAcknowledged: 50, worker: 0) { _ in }
        recorder.add(IncrementRecord(outcome: .ok, count: 1, pid: pidA, start: 1, end: 2))
        #expect(recorder.missedSteps == ["reset_after 50 never happened: only 1 increments were acknowledged"])
    }

    @Test func duplicatesCountEveryRepeatAndNameTheLowestCounts() {
        let recorder = HistoryRecorder(origin: 0, resolution: 0)
        // Counts 1...1000 each returned three times, by A, B, then A.
        var t: UInt64 = 1
        for count in 1...1_000 {
            for pid in [pidA, pidB, pidA] {
                recorder.add(ok(count, pid: pid, t, t + 1))
                t += 2
            }
        }
        recorder.recordFinal(reads: [read(1_000, t + 10, t + 20)], unread: [], settled: true)
        let result = recorder.check(shared: true)
        #expect(result.duplicates == 2_000)
        #expect(result.witnesses.map(\.count) == [1, 2, 3, 4, 5])
        #expect(result.witnesses.first?.pids == [pidA, pidB, pidA])
    }
}
