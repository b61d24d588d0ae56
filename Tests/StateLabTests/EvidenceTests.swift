import Foundation
import Testing
@testable import StateLab

/// What a report draws is folded beside the check, from the same operations:
/// the race it shows is a duplicate the check counted, with the operations
/// around it; the bins add up to the run's figures; memory stays bounded.
@Suite struct EvidenceTests {
    let origin: UInt64 = 1_000_000_000
    let pidA: Int32 = 101
    let pidB: Int32 = 202

    func op(_ count: Int?, pid: Int32?, _ start: UInt64, _ end: UInt64, outcome: Outcome = .ok,
            read: Int? = nil, readAt: UInt64 = 0, wroteAt: UInt64 = 0) -> IncrementRecord {
        var record = IncrementRecord(outcome: outcome, count: count, pid: pid, start: origin + start, end: origin + end)
        if let read { record.trace = IncrementTrace(readAt: origin + readAt, readValue: read, wroteAt: origin + wroteAt) }
        return record
    }

    func recorder(views: HistoryRecorder.Views = .shared) -> HistoryRecorder {
        HistoryRecorder(origin: origin, resolution: 0, views: views, evidence: true)
    }

    @Test func aDuplicateIsDrawnWithBothReadsAndWritesAndTheOperationsAroundIt() throws {
        let history = recorder()
        history.add(op(1, pid: pidA, 0, 100, read: 0, readAt: 20, wroteAt: 30))
        // Both read 1 before either wrote 2.
        history.add(op(2, pid: pidA, 200, 400, read: 1, readAt: 220, wroteAt: 300))
        history.add(op(2, pid: pidB, 210, 420, read: 1, readAt: 230, wroteAt: 310))
        // Far away in time: not drawn with the race.
        history.add(op(3, pid: pidB, 5_000, 5_100, read: 2, readAt: 5_020, wroteAt: 5_030))
        history.recordFinal(reads: [ReadRecord(pid: pidA, value: 3, start: origin + 6_000, end: origin + 6_100)], unread: [], settled: true)
        let check = history.check(shared: true)
        #expect(check.duplicates == 1)
        let evidence = try #require(history.evidence(shared: true))
        #expect(evidence.insideView)
        let race = try #require(evidence.races.first)
        #expect(evidence.races.count == 1)
        #expect(race.count == 2)
        #expect(race.colliding.map(\.pid) == [pidA, pidB])
        #expect(race.colliding.map(\.readValue) == [1, 1])
        #expect(race.ops.count == 2, "only operations overlapping the race are drawn")
        #expect(race.sentence == "pid 101 and pid 202 both read 1 before either wrote 2: each wrote 2, so one increment was lost.")
        #expect(evidence.reads.map(\.final) == [true])
    }

    @Test func anOperationStillInFlightWhenTheRaceIsSeenJoinsItLater() throws {
        let history = recorder()
        history.add(op(1, pid: pidA, 0, 100))
        history.add(op(1, pid: pidB, 10, 110))
        // Sent during the race, answered after both.
        history.add(op(2, pid: pidA, 50, 900))
        let race = try #require(history.evidence(shared: true)?.races.first)
        #expect(race.ops.map(\.count) == [1, 1, 2])
        #expect(race.ops.map(\.colliding) == [true, true, false])
        #expect(race.sentence.contains("both answered 1"), "no inside view: \(race.sentence)")
    }

    @Test func aPerWorkerCounterDrawsOnlyItsOwnDuplicates() throws {
        let history = recorder(views: .both)
        // Two workers with their own counters both answer 1: divergence, not a race.
        history.add(op(1, pid: pidA, 0, 100))
        history.add(op(1, pid: pidB, 10, 110))
        #expect(history.evidence(shared: false)?.races.isEmpty == true)
        #expect(history.evidence(shared: true)?.races.count == 1)
    }

    @Test func onlyAFewRacesAreKept() {
        let history = recorder()
        for count in 1...20 {
            let at = UInt64(count) * 1_000
            history.add(op(count, pid: pidA, at, at + 100))
            history.add(op(count, pid: pidB, at + 10, at + 110))
        }
        #expect(history.check(shared: true).duplicates == 20)
        #expect(history.evidence(shared: true)?.races.map(\.count) == [1, 2, 3])
        // The dashboard follows the run: its race is the latest.
        #expect(history.latestRace(shared: true)?.count == 20)
    }

    @Test func theSentenceCountsTheRequestsAndTheIncrementsLost() throws {
        func race(_ pids: [Int32], inside: Bool) -> RaceTrace {
            RaceTrace(count: 42, ops: pids.enumerated().map { index, pid in
                let at = Double(index) * 1e-5
                return RaceOp(pid: pid, start: at, end: at + 1e-3, outcome: .ok, count: 42, readAt: inside ? at + 1e-4 : nil,
                              readValue: inside ? 41 : nil, wroteAt: inside ? at + 5e-4 : nil, colliding: true)
            })
        }
        #expect(race([1, 2, 2, 3], inside: true).sentence
            == "pid 1, pid 2 (2 requests) and pid 3 all 4 read 41 before any wrote 42: each wrote 42, so 3 increments were lost.")
        #expect(race([7, 7], inside: true).sentence
            == "2 requests to pid 7 both read 41 before either wrote 42: each wrote 42, so one increment was lost.")
        var late = race([1, 2], inside: true)
        late.ops[1].readAt = 0.01  // after the first one's write
        #expect(late.sentence == "pid 1 and pid 2 both read 41 and each wrote 42, so one increment was lost; one read came after another's write of 42: a slower increment's late write had put the count back to 41 in between.")
        #expect(race([1, 2, 3], inside: false).sentence
            == "pid 1, pid 2 and pid 3 all 3 answered 42: their requests overlapped, each was acknowledged, and the count went up by one for the 3.")
    }

    @Test func binsAddUpToTheRunAndCoarsenPastTheirBound() throws {
        let history = recorder()
        // 30 minutes of one operation a second: more than maxBins bins of 100 ms.
        for second in 0..<1_800 {
            let start = UInt64(second) * 1_000_000_000
            history.add(op(second + 1, pid: pidA, start, start + 2_000_000))
        }
        history.add(op(nil, pid: nil, 5, 6, outcome: .fail))
        history.add(op(nil, pid: nil, 7, 8, outcome: .indeterminate))
        let evidence = try #require(history.evidence(shared: true))
        #expect(evidence.bins.count <= EvidenceRecorder.maxBins)
        #expect(evidence.binSeconds > 1)
        #expect(evidence.bins.reduce(0) { $0 + $1.ok } == 1_800)
        #expect(evidence.bins.reduce(0) { $0 + $1.failed } == 1)
        #expect(evidence.bins.reduce(0) { $0 + $1.indeterminate } == 1)
        #expect(evidence.bins.reduce(0) { $0 + $1.started } == 1_801, "ok and indeterminate may apply; a fail never")
        // 2 ms each: the median is drawn within a bucket's width of it, never above the largest.
        let p50 = try #require(evidence.bins.last(where: { $0.ok > 0 })?.p50Ms)
        #expect(p50 >= 1.5 && p50 <= 2.0, "\(p50)")
    }

    @Test func logBucketsBoundTheirQuantiles() {
        for nanos: UInt64 in [1, 1_000, 1_024, 1_500, 65_535, 1_000_000, 123_456_789, 60_000_000_000, .max / 2] {
            let bucket = LogBuckets.bucket(of: nanos)
            #expect(bucket >= 0 && bucket < LogBuckets.count)
            if nanos >= 1_024 && nanos < 1 << 36 {
                #expect(LogBuckets.upperEdge(of: bucket) >= Double(nanos), "\(nanos)")
                #expect(LogBuckets.upperEdge(of: bucket) <= Double(nanos) * 1.25 + 1, "\(nanos)")
            }
        }
    }

    @Test func withoutEvidenceNothingIsKept() {
        let history = HistoryRecorder(origin: origin, resolution: 0, views: .shared)
        history.add(op(1, pid: pidA, 0, 100))
        history.add(op(1, pid: pidB, 10, 110))
        #expect(history.evidence(shared: true) == nil)
        #expect(history.latestRace(shared: true) == nil)
    }
}
