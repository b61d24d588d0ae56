import Testing
@testable import StateLab

/// A connection keeps one timeout timer, armed by an earlier request, instead
/// of one per request: these check that it never times out a request early
/// and times out each slow one at that request's own deadline.
///
/// Against a real server they assert only what a busy machine cannot break:
/// no request is given up before its own timeout has passed since it was
/// sent (a timer never fires early), and answers far inside the timeout are
/// ok. That the timer then waits exactly until the request's own deadline,
/// not a whole timeout more, is checked on times the test chooses.
@Suite(.serialized) struct LoadTimeoutTests {
    @Test(.timeLimit(.minutes(1)))
    func answersSlowerThanTheTimerPeriodAreNeverTimedOutEarly() async throws {
        // Each answer takes 0.2 s of a 1 s timeout, so the timer armed by the
        // first request fires while the 5th or 6th is in flight and must re-arm
        // for that request's deadline instead of timing it out.
        var behavior = TestCounterServer.Behavior()
        behavior.delay = 0.2
        let server = try TestCounterServer(behavior: behavior)
        defer { server.shutdown() }
        let timeout = 1.0
        let plan = LoadPlan(port: server.port, stop: .count(8), concurrency: 1, timeout: timeout)
        let result = try await LoadGenerator(plan: plan).run()
        #expect(result.okCount + result.indeterminateCount == 8)
        #expect(server.count == 8)
        // A stale timer would time out the request in flight within 0.2 s of its send.
        for record in result.increments where record.outcome == .indeterminate {
            let waited = Double(record.end - record.start) / 1e9
            #expect(waited >= timeout, "timed out after \(waited) s with a \(timeout) s timeout")
        }
        // Answers take a fifth of the timeout: on any machine most are ok.
        #expect(result.okCount >= 1)
    }

    @Test(.timeLimit(.minutes(1)))
    func aStallAfterQuickAnswersTimesOutAtThatRequestsOwnDeadline() async throws {
        // Answers 1-3 take 0.2 s each; from the 4th on, the server stalls for
        // 20 s, ten times the 2 s timeout. The timer armed by the first request
        // fires while the 4th is in flight, before its own deadline.
        var behavior = TestCounterServer.Behavior()
        behavior.delay = 0.2
        behavior.stall = (atIncrement: 4, seconds: 20)
        let server = try TestCounterServer(behavior: behavior)
        defer { server.shutdown() }
        let timeout = 2.0
        let plan = LoadPlan(port: server.port, stop: .count(5), concurrency: 1, timeout: timeout)
        let result = try await LoadGenerator(plan: plan).run()
        #expect(result.okCount == 3)
        #expect(result.indeterminateCount == 2)
        for record in result.increments where record.outcome == .indeterminate {
            let waited = Double(record.end - record.start) / 1e9
            // Not at the stale deadline of an earlier request.
            #expect(waited >= timeout, "timed out after \(waited) s with a \(timeout) s timeout")
        }
    }

    /// The timer's decision when it fires, on a clock the test controls.
    @Test func aFiringTimerTimesOutOnlyAtTheRequestsOwnDeadlineAndOtherwiseWaitsExactlyUntilIt() {
        let sentAt: UInt64 = 10_000_000_000
        let timeout: UInt64 = 500_000_000
        func check(_ now: UInt64) -> LoadConnection.TimeoutCheck {
            LoadConnection.timeoutCheck(sentAt: sentAt, timeoutNanos: timeout, now: now)
        }
        // Armed by an earlier request, it fires 1 ns to 499 ms into this one's wait:
        // re-arm for what is left, never a whole timeout more.
        #expect(check(sentAt + 1) == .rearm(inNanoseconds: timeout - 1))
        #expect(check(sentAt + 300_000_000) == .rearm(inNanoseconds: 200_000_000))
        #expect(check(sentAt + timeout - 1) == .rearm(inNanoseconds: 1))
        #expect(check(sentAt) == .rearm(inNanoseconds: timeout))
        // At or after the deadline (a late timer on a busy machine): time out now.
        #expect(check(sentAt + timeout) == .timeOut)
        #expect(check(sentAt + 60_000_000_000) == .timeOut)
    }
}
