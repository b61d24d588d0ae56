import Foundation
import Testing
@testable import StateLab

/// The limit check on hand-made histories: a correct limiter of each kind is
/// never blamed, even at its most generous, and a limiter kept per process is.
@Suite struct LimitCheckTests {
    static let second: UInt64 = 1_000_000_000

    /// An accepted operation from `start` ms to `end` ms, answered by `pid`.
    func accepted(_ startMillis: Double, _ endMillis: Double, pid: Int32 = 1) -> IncrementRecord {
        IncrementRecord(outcome: .ok, pid: pid, start: UInt64(startMillis * 1e6), end: UInt64(endMillis * 1e6))
    }

    func refused(_ atMillis: Double, pid: Int32 = 1) -> IncrementRecord {
        IncrementRecord(outcome: .fail, pid: pid, start: UInt64(atMillis * 1e6), end: UInt64(atMillis * 1e6) + 1000, refused: true)
    }

    func check(_ records: [IncrementRecord], _ limit: LimitSpec) -> CheckResult {
        let recorder = HistoryRecorder(origin: 0, resolution: 0, limit: limit, checksCounter: false)
        for record in records { recorder.add(record) }
        recorder.recordFinal(reads: [], unread: [], settled: true)
        return recorder.check(shared: true)
    }

    @Test func aLimitInAllCountsEveryAcceptedOne() throws {
        let records = (0..<120).map { accepted(Double($0), Double($0) + 0.5) } + (0..<30).map { refused(200 + Double($0)) }
        let result = check(records, LimitSpec(count: 100))
        let limit = try #require(result.limit)
        #expect(limit.accepted == 120 && limit.refused == 30 && limit.overLimit == 20)
        #expect(result.verdict == .overLimit)
        #expect(result.explanation.contains("120 accepted against a limit of 100 in all"), "\(result.explanation)")
        #expect(check(Array(records.dropFirst(20)), LimitSpec(count: 100)).verdict == .ok)
    }

    /// A correct fixed window at its most generous: N just before a boundary and N just after.
    @Test func aFixedWindowsTwoHalvesAcrossABoundaryAreNotBlamed() {
        let window = LimitSpec(count: 50, window: 60, algorithm: .fixed)
        let late = (0..<50).map { accepted(59_000 + Double($0) * 10, 59_000 + Double($0) * 10 + 2) }
        let early = (0..<50).map { accepted(60_100 + Double($0) * 10, 60_100 + Double($0) * 10 + 2) }
        let result = check(late + early, window)
        #expect(result.verdict == .ok, "\(result.explanation)")
        #expect(result.limit?.overLimit == 0)
        // A moving window allows N in any window: the same history is over it.
        var moving = window
        moving.algorithm = .moving
        #expect(check(late + early, moving).limit?.overLimit == 50)
    }

    /// Four workers each keeping their own 50 per minute: 200 in a second.
    @Test func fourWorkersEachWithItsOwnLimitAreBlamedAndNamed() throws {
        var records: [IncrementRecord] = []
        for pid in Int32(1)...4 {
            records += (0..<50).map { accepted(Double(pid) * 100 + Double($0) * 5, Double(pid) * 100 + Double($0) * 5 + 3, pid: pid) }
            records += (0..<10).map { refused(900 + Double($0), pid: pid) }
        }
        let result = check(records, LimitSpec(count: 50, window: 60, algorithm: .fixed, assumed: true))
        let limit = try #require(result.limit)
        #expect(limit.overLimit == 100 && limit.perProcess && limit.accepting == 4)
        #expect(limit.perPid.map(\.accepted) == [50, 50, 50, 50] && limit.perPid.map(\.refused) == [10, 10, 10, 10])
        #expect(result.verdict == .overLimit)
        #expect(result.explanation.hasPrefix("pid 1 accepted 50, pid 2 accepted 50, pid 3 accepted 50, pid 4 accepted 50: 200 accepted against a limit of 50 per 1m"),
                "\(result.explanation)")
        #expect(result.explanation.contains("each worker enforces its own limit"))
    }

    /// An operation counts inside an interval only when its whole request lay inside it.
    @Test func slowAnswersAreNotCountedInsideAShortWindow() {
        // 10 accepted in 1 s by a moving window of 5 per second: each request took 1.5 s,
        // so none lies wholly inside any 1-second interval with four others.
        let records = (0..<10).map { accepted(Double($0) * 100, Double($0) * 100 + 1500) }
        #expect(check(records, LimitSpec(count: 5, window: 1, algorithm: .moving)).verdict == .ok)
        let quick = (0..<10).map { accepted(Double($0) * 50, Double($0) * 50 + 5) }
        #expect(check(quick, LimitSpec(count: 5, window: 1, algorithm: .moving)).limit?.overLimit == 5)
    }

    /// A token bucket of 10 refilled at 10 per second: a burst of 10, then one every 100 ms, is correct.
    @Test func aTokenBucketsBurstAndRefillAreNotBlamed() {
        let bucket = LimitSpec(count: 10, window: 1, algorithm: .tokenBucket(burst: 10))
        let burst = (0..<10).map { accepted(Double($0), Double($0) + 0.5) }
        let refill = (1...20).map { accepted(Double($0) * 100 + 1, Double($0) * 100 + 2) }
        #expect(check(burst + refill, bucket).verdict == .ok)
        let greedy = (0..<30).map { accepted(Double($0), Double($0) + 0.5) }
        #expect(check(greedy, bucket).limit?.overLimit ?? 0 >= 19)
    }

    @Test func operationsWhoseFateIsUnknownNeverCountAsAccepted() {
        let unsure = (0..<200).map { IncrementRecord(outcome: .indeterminate, start: UInt64($0) * 1000, end: UInt64($0) * 1000 + 10) }
        let result = check(unsure + [accepted(0, 1)], LimitSpec(count: 100))
        #expect(result.verdict == .ok && result.limit?.indeterminate == 200)
    }

    @Test func aStockIsBothACounterAndALimit() {
        // Three checkouts of a stock of 2: the counter reads 3 sold (stock -1), all acknowledged.
        let recorder = HistoryRecorder(origin: 0, resolution: 0, limit: LimitSpec(count: 2))
        for index in 0..<3 { recorder.add(accepted(Double(index * 10), Double(index * 10 + 5))) }
        recorder.recordFinal(reads: [ReadRecord(pid: 1, value: 3, start: 100_000_000, end: 101_000_000)], unread: [], settled: true)
        let result = recorder.check(shared: true)
        #expect(result.verdict == .overLimit && result.counterVerdict == .ok && result.limit?.overLimit == 1)
        #expect(result.explanation.contains("count: ok"), "\(result.explanation)")
        #expect(result.fields()["oversold"] == .number(1))
    }

    /// An answer at `atMillis` (lasting 1 ms) saying `remaining`, its window ending at `windowEndMillis`.
    func said(_ remaining: Int32, at atMillis: Double, windowEnd windowEndMillis: Double?, pid: Int32) -> IncrementRecord {
        var record = accepted(atMillis, atMillis + 1, pid: pid)
        record.remaining = remaining
        record.windowEnd = windowEndMillis.map { UInt64($0 * 1e6) }
        return record
    }

    @Test func remainingThatRisesWithinAWindowIsNoted() throws {
        let limit = LimitSpec(count: 50, window: 60, algorithm: .fixed)
        // One shared count: 49, 48, 47 ... then a new window at 60 s starts again at 49.
        var shared: [IncrementRecord] = []
        for index in 0..<10 {
            shared.append(said(Int32(49 - index), at: Double(index) * 10, windowEnd: 60_000, pid: Int32(1 + index % 4)))
        }
        shared.append(said(49, at: 61_000, windowEnd: 120_000, pid: 2))
        #expect(try #require(check(shared, limit).limit).remainingRises == 0)
        // Two workers, each with its own count: pid 2 says 48 after pid 1 said 45 in a window still open.
        let own = [said(49, at: 0, windowEnd: 60_000, pid: 1), said(45, at: 10, windowEnd: 60_000, pid: 1),
                   said(48, at: 20, windowEnd: 60_010, pid: 2)]
        let result = try #require(check(own, limit).limit)
        #expect(result.remainingRises == 1 && result.remainingSeen == 3)
        #expect(result.firstRemainingRise?.hasPrefix("pid 2 said 48 remaining") == true, "\(result.firstRemainingRise ?? "")")
        // Without a Reset header the window's end is unknown: nothing is assumed open.
        let blind = own.map { record -> IncrementRecord in var copy = record; copy.windowEnd = nil; return copy }
        #expect(try #require(check(blind, limit).limit).remainingRises == 0)
        // A moving window gives back what slid out: a rise is no evidence there.
        #expect(try #require(check(own, LimitSpec(count: 50, window: 60, algorithm: .moving)).limit).remainingRises == 0)
        // A rise is a note, not a verdict: the algorithm may have been assumed.
        #expect(check(own, limit).verdict == .ok)
    }

    @Test func theResetHeaderIsEpochSecondsOrSecondsFromNow() {
        let now: UInt64 = 5_000_000_000
        // 30 s from now either way, less the second a rounded header may hide.
        let delta = LoadConnection.windowEnd(reset: 30, now: now)
        #expect(delta == now + 29_000_000_000)
        let epoch = LoadConnection.windowEnd(reset: Date().timeIntervalSince1970 + 30, now: now)
        // Less by however long the two clock readings were apart (a busy machine may pause between them).
        #expect(epoch > now + 20_000_000_000 && epoch <= now + 29_000_000_000)
        #expect(LoadConnection.windowEnd(reset: 0.5, now: now) == now)
    }
}
