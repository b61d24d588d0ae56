import Testing
@testable import StateLab

/// A connection keeps one timeout timer, armed by an earlier request, instead
/// of one per request: these check that it never times out a request early
/// and times out each slow one at that request's own deadline.
@Suite(.serialized) struct LoadTimeoutTests {
    @Test func answersSlowerThanHalfTheTimeoutAreNeverTimedOut() async throws {
        // Each answer takes 0.2 s of a 0.5 s timeout, so the timer armed by the
        // first request fires while the third is in flight and must re-arm.
        var behavior = TestCounterServer.Behavior()
        behavior.delay = 0.2
        let server = try TestCounterServer(behavior: behavior)
        defer { server.shutdown() }
        let plan = LoadPlan(port: server.port, stop: .count(6), concurrency: 1, timeout: 0.5)
        let result = try await LoadGenerator(plan: plan).run()
        #expect(result.okCount == 6)
        #expect(result.indeterminateCount == 0)
        #expect(server.count == 6)
    }

    @Test func aStallAfterQuickAnswersTimesOutAtThatRequestsOwnDeadline() async throws {
        // Answers 1-3 take 0.2 s each; from the 4th on, the server stalls for 3 s.
        var behavior = TestCounterServer.Behavior()
        behavior.delay = 0.2
        behavior.stall = (atIncrement: 4, seconds: 3)
        let server = try TestCounterServer(behavior: behavior)
        defer { server.shutdown() }
        let plan = LoadPlan(port: server.port, stop: .count(5), concurrency: 1, timeout: 0.5)
        let result = try await LoadGenerator(plan: plan).run()
        #expect(result.okCount == 3)
        #expect(result.indeterminateCount == 2)
        for record in result.increments where record.outcome == .indeterminate {
            let waited = Double(record.end - record.start) / 1e9
            // Not at the stale deadline of an earlier request (too early), nor a whole period late.
            #expect(waited >= 0.49 && waited < 0.9, "timed out after \(waited) s with a 0.5 s timeout")
        }
    }
}
