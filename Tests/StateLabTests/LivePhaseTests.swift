import StateLab
import Testing

/// The live run's phase logic, with no process started: which step may
/// follow which, and that a refused move changes nothing.
@Suite struct LivePhaseTests {
    /// One move, outside #expect (a macro cannot mutate its argument).
    static func step(_ machine: inout LivePhaseMachine, _ next: LivePhase) -> Bool { machine.move(to: next) }

    @Test func aBurstIsCheckedBeforeAnythingElseTouchesTheStore() {
        var machine = LivePhaseMachine()
        #expect(machine.phase == .starting)
        #expect(Self.step(&machine, .idle))
        #expect(Self.step(&machine, .loading))
        // While a burst runs: no reset, no fault, no second burst, no compare.
        for refused: LivePhase in [.resetting, .faulting(.killStore), .loading, .comparing, .idle] where refused != .idle {
            #expect(!Self.step(&machine, refused), "\(refused) during a burst")
            #expect(machine.phase == .loading)
        }
        #expect(Self.step(&machine, .settling))
        for refused: LivePhase in [.resetting, .faulting(.restartApp), .loading, .comparing] {
            #expect(!Self.step(&machine, refused), "\(refused) while the burst is checked")
        }
        #expect(Self.step(&machine, .idle))
    }

    @Test func faultsAndResetsAreCheckedAfterwards() {
        var machine = LivePhaseMachine()
        machine.move(to: .idle)
        #expect(Self.step(&machine, .faulting(.killStore)))
        #expect(!Self.step(&machine, .faulting(.restartStore)), "one fault at a time")
        #expect(Self.step(&machine, .settling))
        #expect(Self.step(&machine, .idle))
        #expect(Self.step(&machine, .resetting))
        #expect(Self.step(&machine, .settling))
        #expect(Self.step(&machine, .idle))
        // A refused fault goes back without a check.
        #expect(Self.step(&machine, .faulting(.killWorker)))
        #expect(Self.step(&machine, .idle))
    }

    @Test func stoppingIsReachableFromEverywhereAndLeftForNothing() {
        let all: [LivePhase] = [.starting, .idle, .loading, .settling, .resetting, .faulting(.restartApp), .comparing, .stopping]
        for phase in all where phase != .stopping {
            #expect(phase.canMove(to: .stopping), "\(phase)")
        }
        for next in all { #expect(!LivePhase.stopping.canMove(to: next), "stopping -> \(next)") }
    }

    @Test func aRelaunchLeavesABurstButNotACompareOrAFault() {
        #expect(LivePhase.loading.canMove(to: .starting))
        #expect(LivePhase.settling.canMove(to: .starting))
        #expect(LivePhase.idle.canMove(to: .starting))
        #expect(!LivePhase.comparing.canMove(to: .starting))
        #expect(!LivePhase.faulting(.restartStore).canMove(to: .starting))
        #expect(!LivePhase.resetting.canMove(to: .starting))
    }

    @Test func everyBusyPhaseSaysWhy() {
        for phase: LivePhase in [.starting, .loading, .settling, .resetting, .faulting(.killStore), .comparing, .stopping] {
            #expect(phase.busyReason?.isEmpty == false, "\(phase)")
        }
        #expect(LivePhase.idle.busyReason == nil)
    }
}
