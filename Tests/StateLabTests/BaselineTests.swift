import Testing
@testable import StateLab

/// What a worker counted before the load is taken off its reads until a reset
/// clears its counter; a read whose offset is unknown is left out, never guessed.
@Suite struct BaselineTests {
    static func read(_ pid: Int32, _ value: Int, at start: UInt64, _ end: UInt64? = nil) -> ReadRecord {
        ReadRecord(pid: pid, worker: nil, value: value, start: start, end: end ?? start + 1)
    }

    @Test func aSharedCounterTakesOneValueOffEveryPidUntilAResetClearsIt() throws {
        var baseline = Baseline([Self.read(1, 500, at: 0), Self.read(2, 500, at: 0)], sharing: .auto)
        #expect(baseline.common == 500)
        #expect(baseline.apply(Self.read(3, 520, at: 10))?.value == 20)
        baseline.resets.append(.init(pid: 2, start: 100, end: 110))
        // Shared: a reset through any pid cleared the one counter.
        #expect(baseline.apply(Self.read(1, 530, at: 50, 60))?.value == 30)
        #expect(baseline.apply(Self.read(1, 7, at: 120))?.value == 7)
        #expect(baseline.apply(Self.read(1, 7, at: 105, 130)) == nil, "a read overlapping the reset saw either side")
    }

    @Test func perWorkerCountersAreClearedOnlyForThePidThatAnswered() throws {
        var baseline = Baseline([Self.read(1, 300, at: 0), Self.read(2, 200, at: 0)], sharing: .no)
        #expect(baseline.common == nil)
        baseline.resets.append(.init(pid: 2, start: 100, end: 110))
        #expect(baseline.apply(Self.read(1, 310, at: 120))?.value == 10)
        #expect(baseline.apply(Self.read(2, 4, at: 120))?.value == 4)
        #expect(baseline.apply(Self.read(2, 205, at: 10, 20))?.value == 5)
    }

    @Test func aPidNotReadBeforeTheLoadIsLeftOutWhenTheWorkersDisagreed() {
        let baseline = Baseline([Self.read(1, 300, at: 0), Self.read(2, 200, at: 0)], sharing: .auto)
        #expect(baseline.apply(Self.read(9, 40, at: 10)) == nil)
    }

    @Test func oneWorkerReadIsNotTakenForEveryWorkerUnlessTheCounterIsShared() {
        let auto = Baseline([Self.read(1, 300, at: 0)], sharing: .auto)
        #expect(auto.common == nil)
        #expect(auto.apply(Self.read(2, 40, at: 10)) == nil)
        let shared = Baseline([Self.read(1, 300, at: 0)], sharing: .yes)
        #expect(shared.apply(Self.read(2, 340, at: 10))?.value == 40)
        let zero = Baseline([Self.read(1, 0, at: 0)], sharing: .auto)
        #expect(zero.apply(Self.read(2, 40, at: 10))?.value == 40, "a counter at 0 needs no offset")
    }
}
