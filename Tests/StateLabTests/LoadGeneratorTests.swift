import Foundation
import Testing
@testable import StateLab

/// The load generator against a real SwiftNIO counter server on 127.0.0.1.
///
/// Nothing here asserts how fast the machine is: on a busy 2-core machine
/// every request is slower. The tests check what a slow machine cannot change
/// (counts, outcomes, the schedule's intended times, lower bounds on waits)
/// and end within a generous time limit. How close the open model comes to
/// its target rate is measured on a release build by
/// Benchmarks/open-model-rate.sh, and how quickly failing runs end by
/// Benchmarks/exit-times.sh.
@Suite(.serialized) struct LoadGeneratorTests {
    /// The request timeout of tests that are not about timeouts: no answer
    /// from a loopback server gets near it, however busy the machine.
    static let patientTimeout = 30.0

    private func withServer<T>(
        workers: Int = 1, behavior: TestCounterServer.Behavior = .init(),
        _ body: (TestCounterServer) async throws -> T
    ) async throws -> T {
        let server = try TestCounterServer(workers: workers, behavior: behavior)
        defer { server.shutdown() }
        return try await body(server)
    }

    private func seconds(since start: UInt64) -> Double { Double(MonotonicClock.now() - start) / 1e9 }

    // MARK: The schedule, on a clock the test chooses

    @Test func openScheduleIssuesRateTimesDurationTicketsUntilTheDeadline() {
        let start: UInt64 = 5_000_000_000
        // 100/s for 2 s: one every 10 ms, 200 in all, whether the connections
        // ask on time or late, as long as they ask before the deadline.
        for lateness: UInt64 in [0, 1_000_000_000, 1_999_999_999] {
            let schedule = RequestSchedule(stop: .duration(2), rate: 100, startTime: start)
            var tickets: [RequestTicket] = []
            while tickets.count <= 1_000, let ticket = schedule.claim(now: start + lateness) { tickets.append(ticket) }
            #expect(tickets.count == 200, "late by \(lateness) ns")
            #expect(tickets.map(\.index) == Array(0..<200))
            #expect(tickets.map(\.intendedTime) == (0..<200).map { Optional(start + UInt64($0) * 10_000_000) })
            #expect(schedule.claim(now: start) == nil, "the schedule stays finished")
        }
        // Rates whose interval is not a whole number of nanoseconds: never a
        // ticket at or after the deadline, and at most one more than rate x duration.
        for (rate, seconds) in [(3.0, 1.0), (7.0, 0.5), (333.0, 1.5), (1_000.0, 0.0)] {
            let schedule = RequestSchedule(stop: .duration(seconds), rate: rate, startTime: start)
            var tickets: [RequestTicket] = []
            while tickets.count <= 10_000, let ticket = schedule.claim(now: start) { tickets.append(ticket) }
            let deadline = start + UInt64(seconds * 1e9)
            #expect(tickets.allSatisfy { ($0.intendedTime ?? .max) < deadline })
            let expected = rate * seconds
            #expect(Double(tickets.count) >= expected && Double(tickets.count) <= expected.rounded(.up) + 1,
                    "\(tickets.count) tickets at \(rate)/s for \(seconds) s")
        }
    }

    /// `--duration` bounds the open model: a rate the machine cannot keep
    /// leaves a backlog of tickets meant for before the deadline, and once the
    /// deadline passes none of them is handed out (issue 18: `--duration 1s
    /// --rate 1e6` ran 14.8 s).
    @Test func openScheduleHandsOutNothingAfterTheDeadline() {
        let start: UInt64 = 5_000_000_000
        let schedule = RequestSchedule(stop: .duration(1), rate: 1_000_000, startTime: start)
        var claimed = 0
        while claimed < 10, schedule.claim(now: start + 500_000_000) != nil { claimed += 1 }
        #expect(claimed == 10, "before the deadline the backlog is handed out")
        #expect(schedule.claim(now: start + 1_000_000_000) == nil)
        #expect(schedule.claim(now: start + 60_000_000_000) == nil)
        // Asking past the deadline uses up no index.
        #expect(schedule.claim(now: start + 999_999_999)?.index == 10)
    }

    @Test func closedDurationScheduleStopsIssuingAtTheDeadline() {
        let start: UInt64 = 1_000
        let schedule = RequestSchedule(stop: .duration(1), rate: nil, startTime: start)
        let first = schedule.claim(now: start)
        #expect(first?.index == 0 && first?.intendedTime == nil)
        #expect(schedule.claim(now: start + 999_999_999)?.index == 1)
        #expect(schedule.claim(now: start + 1_000_000_000) == nil)
        #expect(schedule.claim(now: start + 60_000_000_000) == nil)
        // Asking past the deadline does not use up indexes.
        #expect(schedule.claim(now: start + 999_999_999)?.index == 2)
    }

    @Test func countScheduleIssuesExactlyNAndStopEndsIt() {
        let start: UInt64 = 1_000
        let closed = RequestSchedule(stop: .count(5), rate: nil, startTime: start)
        #expect((0..<5).map { closed.claim(now: start + UInt64($0) * 60_000_000_000)?.index } == [0, 1, 2, 3, 4])
        #expect(closed.claim(now: start) == nil)

        let open = RequestSchedule(stop: .count(5), rate: 1_000, startTime: start)
        #expect((0..<5).map { _ in open.claim(now: start)?.intendedTime } == (0..<5).map { Optional(start + UInt64($0) * 1_000_000) })
        #expect(open.claim(now: start) == nil)

        let stopped = RequestSchedule(stop: .count(100), rate: nil, startTime: start)
        #expect(stopped.claim(now: start) != nil)
        stopped.stopIssuing()
        #expect(stopped.isStopped)
        #expect(stopped.claim(now: start) == nil)
    }

    // MARK: Stop conditions and pacing

    @Test(.timeLimit(.minutes(1)), arguments: [1, 2])
    func closedModelSendsExactlyNAndEveryOneIsOk(threads: Int) async throws {
        try await withServer { server in
            let total = 2_000
            let plan = LoadPlan(port: server.port, stop: .count(total), concurrency: 8, timeout: Self.patientTimeout, threads: threads)
            let result = try await LoadGenerator(plan: plan).run()
            #expect(result.increments.count == total)
            #expect(result.okCount == total)
            #expect(server.count == total)
            let counts = result.increments.compactMap(\.count)
            #expect(counts.count == total)
            #expect(Set(counts).count == total, "every ok answer carries a distinct count")
            #expect(counts.max() == total)
            #expect(result.perPid[server.pids[0]] == PidTally(acknowledged: total, minCount: 1, maxCount: total))
            #expect(result.increments.allSatisfy { $0.pid == server.pids[0] && $0.end >= $0.start })
            #expect(result.latency.p50 > 0 && result.latency.p50 <= result.latency.p99 && result.latency.p99 <= result.latency.max)
            #expect(result.targetRate == nil && result.throughput > 0)
        }
    }

    @Test func zeroRequestsIsAnEmptyRun() async throws {
        try await withServer { server in
            let result = try await LoadGenerator(plan: LoadPlan(port: server.port, stop: .count(0), concurrency: 4)).run()
            #expect(result.increments.isEmpty)
            #expect(server.count == 0)
        }
    }

    @Test func invalidPlansAreRejected() async throws {
        await #expect(throws: LoadError.self) {
            try await LoadGenerator(plan: LoadPlan(port: 1, stop: .count(1), concurrency: 0)).run()
        }
        await #expect(throws: LoadError.self) {
            try await LoadGenerator(plan: LoadPlan(port: 1, stop: .count(1), concurrency: 1, rate: 0)).run()
        }
    }

    /// The closed model sends until its deadline and then stops: each
    /// connection may send at most the one request it claimed just before.
    @Test(.timeLimit(.minutes(1)))
    func durationStopSendsUntilTheDeadlineAndNoLonger() async throws {
        try await withServer { server in
            let started = MonotonicClock.now()
            let plan = LoadPlan(port: server.port, stop: .duration(1.0), concurrency: 4, timeout: Self.patientTimeout)
            let result = try await LoadGenerator(plan: plan).run()
            // A connection ends only when the schedule refuses it a request, at
            // or after the deadline: a lower bound a slow machine cannot break.
            #expect(seconds(since: started) >= 1.0)
            let records = result.increments
            try #require(!records.isEmpty)
            // The run began no later than its first send, so this is at or after its deadline.
            let deadline = records.map(\.start).min()! + 1_000_000_000
            let late = records.filter { $0.start >= deadline }
            #expect(late.count <= plan.concurrency, "\(late.count) requests sent after the deadline by \(plan.concurrency) connections")
            #expect(result.okCount == records.count)
            #expect(server.count == result.okCount)
        }
    }

    /// The open model sends its schedule: at most rate x duration requests,
    /// each recorded from its intended time, one interval apart, the first N
    /// of the schedule. A busy machine sends some late (their latency grows);
    /// one that is still behind at the deadline sends fewer, never more.
    @Test(.timeLimit(.minutes(1)))
    func openModelSendsItsScheduleAndMeasuresFromIntendedTimes() async throws {
        try await withServer { server in
            let rate = 200.0
            let plan = LoadPlan(port: server.port, stop: .duration(1.0), concurrency: 8, rate: rate, timeout: Self.patientTimeout)
            let result = try await LoadGenerator(plan: plan).run()
            let starts = result.increments.map(\.start).sorted()
            #expect(starts.count <= 200 && starts.count > 0, "\(starts.count) sent")
            #expect(result.okCount == starts.count)
            #expect(server.count == starts.count)
            // Index i is meant for the run's start + i x 5 ms, and index 0 for its start.
            #expect(starts.indices.allSatisfy { starts[$0] - starts[0] == UInt64($0) * 5_000_000 })
            #expect(result.targetRate == rate)
        }
    }

    /// `--duration` bounds the open model (issue 18: `--duration 1s --rate 1e6`
    /// ran 14.8 s): at a rate no machine keeps, nothing is sent after the
    /// deadline, so every request has ended by the deadline plus the request
    /// timeout. Read from the history itself: the first request's intended
    /// time is the schedule's start.
    @Test(.timeLimit(.minutes(1)))
    func openModelAtAnUnkeepableRateEndsByTheDeadlinePlusTheTimeout() async throws {
        try await withServer { server in
            let (duration, timeout) = (0.5, 2.0)
            let plan = LoadPlan(port: server.port, stop: .duration(duration), concurrency: 8, rate: 1_000_000, timeout: timeout)
            let result = try await LoadGenerator(plan: plan).run()
            let start = try #require(result.increments.map(\.start).min())
            let lastEnd = try #require(result.increments.map(\.end).max())
            // A second of slack for the last timer to fire on a busy machine; the backlog alone was 500,000 requests.
            let bound = start + UInt64((duration + timeout + 1) * 1e9)
            #expect(lastEnd <= bound, "the last request ended \(Double(lastEnd - start) / 1e9) s after the start")
            #expect(result.attempted < 500_000, "the whole backlog was sent: \(result.attempted)")
            #expect(server.count == result.okCount)
        }
    }

    /// Latency in the open model is measured from each request's intended send
    /// time, so a server stall shows in every request meant to go out during
    /// it, not only in the few in flight (coordinated omission).
    ///
    /// The server stalls S seconds from the arrival of one increment (at T):
    /// nothing that arrives after T is answered before T + S. A request meant
    /// for t in (T, T + S) is sent at t or later, so its recorded latency is
    /// at least T + S - t whatever the machine's speed: a lower bound. With 8
    /// connections, ~50 requests are meant for the stall; measured from the
    /// send instead, only the 8 sent during it would be recorded in it.
    @Test(.timeLimit(.minutes(1)))
    func openModelLatencyCountsAStallFromTheIntendedSendTime() async throws {
        let stallSeconds = 0.5
        var behavior = TestCounterServer.Behavior()
        behavior.stall = (atIncrement: 50, seconds: stallSeconds)
        try await withServer(behavior: behavior) { server in
            let plan = LoadPlan(port: server.port, stop: .duration(3.0), concurrency: 8, rate: 100, timeout: Self.patientTimeout)
            let result = try await LoadGenerator(plan: plan).run()
            #expect(result.okCount == result.increments.count)
            let stallStart = try #require(server.stallStartedAt, "the 50th increment never arrived")
            let stallEnd = stallStart + UInt64(stallSeconds * 1e9)
            // 1 ms after T: a request may go out up to 20 µs before its time.
            let meantForTheStall = result.increments.filter { $0.start >= stallStart + 1_000_000 && $0.start < stallEnd }
            #expect(meantForTheStall.count > plan.concurrency,
                    "\(meantForTheStall.count) requests recorded as meant for the stall; more than the \(plan.concurrency) connections were")
            for record in meantForTheStall {
                let latency = Double(record.end - record.start) / 1e9
                let stallLeft = Double(stallEnd - record.start) / 1e9
                #expect(record.end >= stallEnd, "latency \(latency) s, less than the \(stallLeft) s of stall after its intended time")
            }
            // The histogram agrees (3 significant digits).
            let longest = meantForTheStall.map { Double(stallEnd - $0.start) / 1e6 }.max() ?? 0
            #expect(result.latency.max >= longest * 0.99, "max \(result.latency.max) ms, stall left \(longest) ms")
        }
    }

    // MARK: Classification

    @Test(.timeLimit(.minutes(1)))
    func refusedConnectionsAreFailAndTheRunEnds() async throws {
        let refusing = try RefusingPort()
        let plan = LoadPlan(port: refusing.port, stop: .count(500), concurrency: 4, timeout: 1)
        let result = try await LoadGenerator(plan: plan).run()
        withExtendedLifetime(refusing) {}
        #expect(result.increments.count == 500)
        #expect(result.failCount == 500)
        #expect(result.perPid.isEmpty)
        // Each connection gives up after its connect attempts; the requests
        // nobody tried are failed at once (start == end), not tried one by one.
        let attempted = result.increments.filter { $0.end > $0.start }.count
        #expect(attempted <= plan.concurrency * plan.maxConnectAttempts, "\(attempted) connects tried")
    }

    @Test(.timeLimit(.minutes(1)))
    func aServerThatGoesAwayEndsTheRunWithTheRestFailed() async throws {
        let server = try TestCounterServer()
        let total = 200_000
        let generator = LoadGenerator(plan: LoadPlan(port: server.port, stop: .count(total), concurrency: 4, timeout: 1))
        let run = Task { try await generator.run() }
        // Goes away once it has applied some increments (polled, not a guess at how long that takes).
        let applied = try await server.waitForCount(atLeast: 10)
        server.shutdown()
        let result = try await run.value
        #expect(applied, "the server applied \(server.count) increments in 30 s")
        #expect(result.increments.count == total)
        #expect(result.okCount > 0)
        #expect(result.failCount > total / 2)
        // What the server applied lies between what was acknowledged and what may have applied.
        #expect(result.okCount <= server.count && server.count <= result.okCount + result.indeterminateCount)
    }

    /// The load's own loops leave nothing open: after loads that end every way
    /// (a count, a stop mid-run, a server that cuts every answer off, a port
    /// that refuses), this process holds no more descriptors than
    /// before (each loop's epoll, eventfd and timerfd, and every socket, are
    /// closed) and no thread of theirs is left. Polled: a loop's last reference
    /// goes with its thread, just after the run returns.
    @Test(.timeLimit(.minutes(2)))
    func loadsLeaveNoDescriptorOrThreadBehind() async throws {
        func descriptors() -> Int { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1 }
        func openDescriptors() -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []).sorted().map {
                "\($0): " + ((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\($0)")) ?? "?")
            }
        }
        func loadThreads() -> Int {
            let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
            return tasks.filter { (try? String(contentsOfFile: "/proc/self/task/\($0)/comm", encoding: .utf8))?.hasPrefix("statelab-load") == true }.count
        }
        let server = try TestCounterServer(workers: 2)
        var cutting = TestCounterServer.Behavior()
        cutting.faultForAll = .closeMidAnswer
        let closer = try TestCounterServer(behavior: cutting)
        let refusing = try RefusingPort()
        defer { server.shutdown(); closer.shutdown() }
        // One load first, so what the test servers and the runtime open once is open before counting.
        _ = try await LoadGenerator(plan: LoadPlan(port: server.port, stop: .count(100), concurrency: 4, timeout: Self.patientTimeout)).run()
        // libdispatch opens a timerfd the first time a task sleeps (the polls below): before counting too.
        try await Task.sleep(nanoseconds: 1_000_000)
        let before = descriptors()

        var plan = LoadPlan(port: server.port, stop: .count(2_000), concurrency: 16, timeout: Self.patientTimeout)
        plan.threads = 2
        #expect(try await LoadGenerator(plan: plan).run().okCount == 2_000)
        let stopped = LoadGenerator(plan: LoadPlan(port: server.port, stop: .duration(600), concurrency: 8, timeout: Self.patientTimeout))
        let running = Task { try await stopped.run() }
        #expect(try await server.waitForCount(atLeast: 3_000))
        stopped.stop()
        _ = try await running.value
        let cut = try await LoadGenerator(plan: LoadPlan(port: closer.port, stop: .count(300), concurrency: 4, timeout: Self.patientTimeout)).run()
        #expect(cut.indeterminateCount == 300)
        let refused = try await LoadGenerator(plan: LoadPlan(port: refusing.port, stop: .count(50), concurrency: 4, timeout: 1)).run()
        withExtendedLifetime(refusing) {}
        #expect(refused.failCount == 50)

        let deadline = MonotonicClock.now() + 10_000_000_000
        while (descriptors() > before || loadThreads() > 0), MonotonicClock.now() < deadline {
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        #expect(descriptors() <= before, "\(descriptors()) descriptors open, \(before) before the loads: \(openDescriptors())")
        #expect(loadThreads() == 0)
    }

    /// A body that ends with the close is complete only when the server closed
    /// its side; a reset in the middle of it cuts it short, so the increment is
    /// indeterminate, never ok with the count it was cut to ("count": 12 of what
    /// may have been 123, which would read as a duplicate of another 12).
    @Test(.timeLimit(.minutes(1)))
    func aResetInABodyThatEndsWithTheCloseIsNoAnswer() async throws {
        let server = try RudeServer(.resetMidCloseDelimitedBody)
        defer { server.shutdown() }
        let result = try await LoadGenerator(plan: LoadPlan(port: server.port, stop: .count(10), concurrency: 1, timeout: 5)).run()
        #expect(result.indeterminateCount == 10 && result.okCount == 0,
                "\(result.increments.map { "\($0.outcome) \($0.count.map(String.init) ?? "-")" })")
    }

    /// A /proc lookup still retrying when the load ends (the server accepted late and
    /// closed unanswered) must not keep its loop alive: after 30 such loads, no more
    /// descriptors are open than before (each kept loop would hold an epoll, an eventfd
    /// and a timerfd).
    @Test(.timeLimit(.minutes(2)))
    func aLookupStillRetryingAtTheEndKeepsNoLoopAlive() async throws {
        func descriptors() -> Int { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1 }
        let server = try RudeServer(.acceptLateThenClose(delay: 0.002))
        defer { server.shutdown() }
        var plan = LoadPlan(port: server.port, stop: .count(3), concurrency: 1, timeout: 2)
        plan.owners = SocketOwners(scope: .anyProcess)
        _ = try await LoadGenerator(plan: plan).run()
        try await Task.sleep(nanoseconds: 1_000_000)
        let before = descriptors()
        for _ in 0..<30 {
            plan.owners = SocketOwners(scope: .anyProcess)
            let result = try await LoadGenerator(plan: plan).run()
            #expect(result.okCount == 0 && result.increments.count == 3)
        }
        let deadline = MonotonicClock.now() + 10_000_000_000
        while descriptors() > before, MonotonicClock.now() < deadline { try await Task.sleep(nanoseconds: 20_000_000) }
        #expect(descriptors() <= before, "\(descriptors()) descriptors open, \(before) before the loads")
    }

    @Test(arguments: [
        (TestCounterServer.Fault.status500, Outcome.indeterminate, true),
        (.closeMidAnswer, .indeterminate, true),
        (.status404, .fail, false),
        (.notCommitted, .fail, false),
    ])
    func faultsAreClassified(fault: TestCounterServer.Fault, expected: Outcome, applied: Bool) async throws {
        var behavior = TestCounterServer.Behavior()
        behavior.faultForAll = fault
        try await withServer(behavior: behavior) { server in
            let plan = LoadPlan(port: server.port, stop: .count(20), concurrency: 2, timeout: Self.patientTimeout)
            let result = try await LoadGenerator(plan: plan).run()
            #expect(result.increments.count == 20)
            #expect(result.increments.allSatisfy { $0.outcome == expected && $0.count == nil })
            #expect(server.count == (applied ? 20 : 0))
        }
    }

    @Test func unknownPathIsFail() async throws {
        try await withServer { server in
            let plan = LoadPlan(port: server.port, path: "/nope", stop: .count(10), concurrency: 1, timeout: Self.patientTimeout)
            let result = try await LoadGenerator(plan: plan).run()
            #expect(result.failCount == 10)
            #expect(server.count == 0)
        }
    }

    @Test func chosenFaultsAmongOkAnswers() async throws {
        var behavior = TestCounterServer.Behavior()
        behavior.faults = [3: .status500, 5: .status404, 7: .closeMidAnswer, 9: .notCommitted]
        try await withServer(behavior: behavior) { server in
            let plan = LoadPlan(port: server.port, stop: .count(20), concurrency: 1, timeout: Self.patientTimeout)
            let result = try await LoadGenerator(plan: plan).run()
            #expect(result.okCount == 16)
            #expect(result.failCount == 2)
            #expect(result.indeterminateCount == 2)
            // 500 and the cut answer were applied, so the server counted 18.
            #expect(server.count == 18)
            #expect(result.increments.compactMap(\.count).max() == 18)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aSlowAnswerTimesOutAsIndeterminate() async throws {
        var behavior = TestCounterServer.Behavior()
        behavior.delay = 20
        try await withServer(behavior: behavior) { server in
            let timeout = 0.3
            let result = try await LoadGenerator(plan: LoadPlan(port: server.port, stop: .count(4), concurrency: 2, timeout: timeout)).run()
            // Waiting out the 20 s answers would have made them ok: all four timing out is the proof.
            #expect(result.indeterminateCount == 4)
            #expect(result.okCount == 0)
            // And none was given up before its timeout.
            #expect(result.increments.allSatisfy { $0.end - $0.start >= UInt64(timeout * 1e9) })
        }
    }

    // MARK: Stopping and progress

    /// Ten minutes of load unless stopped: only stop() can end it within the time limit.
    @Test(.timeLimit(.minutes(1)))
    func stopEndsTheRunEarlyWithWhatItHas() async throws {
        try await withServer { server in
            let plan = LoadPlan(port: server.port, stop: .duration(600), concurrency: 4, rate: 500, timeout: Self.patientTimeout)
            let generator = LoadGenerator(plan: plan)
            let run = Task { try await generator.run() }
            #expect(try await server.waitForCount(atLeast: 10), "the server applied \(server.count) increments in 30 s")
            generator.stop()
            let result = try await run.value
            #expect(result.stoppedEarly)
            #expect(result.increments.count >= 10)
            #expect(result.increments.count < 300_000, "fewer than the whole schedule")
            #expect(server.count == result.okCount)
        }
    }

    /// Two minutes of load unless cancelled: only the cancellation can end it within the time limit.
    @Test(.timeLimit(.minutes(1)))
    func taskCancellationStopsTheRun() async throws {
        try await withServer { server in
            let generator = LoadGenerator(plan: LoadPlan(port: server.port, stop: .duration(120), concurrency: 4, timeout: Self.patientTimeout))
            let run = Task { try await generator.run() }
            #expect(try await server.waitForCount(atLeast: 10), "the server applied \(server.count) increments in 30 s")
            run.cancel()
            let result = try await run.value
            #expect(result.stoppedEarly)
            #expect(result.okCount >= 10)
            #expect(server.count == result.okCount)
        }
    }

    /// The run is stopped once a few snapshots have arrived, one of them with
    /// a rate and a latency, so the test waits for what it checks instead of
    /// guessing how many snapshots a second of a busy machine gives.
    @Test(.timeLimit(.minutes(1)))
    func progressArrivesAtMostEveryHundredMilliseconds() async throws {
        try await withServer { server in
            let seen = ProgressLog()
            let plan = LoadPlan(port: server.port, stop: .duration(600), concurrency: 4, rate: 1_000, timeout: Self.patientTimeout)
            let generator = LoadGenerator(plan: plan)
            let result = try await generator.run { snapshot in
                let all = seen.append(snapshot)
                if all.count >= 5, all.contains(where: { $0.currentRate > 0 && $0.p50 > 0 }) { generator.stop() }
            }
            #expect(result.stoppedEarly)
            let snapshots = seen.all
            let intermediate = snapshots.dropLast()
            #expect(intermediate.count >= 5, "\(intermediate.count) snapshots before the final one")
            // At most one per 100 ms: each waits 100 ms before it is taken, and
            // a busy machine only makes that wait longer.
            let span = intermediate.last?.elapsed ?? 0
            #expect(Double(intermediate.count) <= span / 0.1 + 0.5, "\(intermediate.count) snapshots in \(span) s")
            #expect(zip(snapshots, snapshots.dropFirst()).allSatisfy { $0.completed <= $1.completed })
            let last = try #require(snapshots.last)
            #expect(last.completed == result.increments.count)
            #expect(last.ok == result.okCount)
            #expect(last.acknowledgedByPid[server.pids[0]] == result.okCount)
            #expect(intermediate.contains { $0.currentRate > 0 && $0.p50 > 0 })
        }
    }

    /// A progress line shows counts and the rate only: its snapshots come as
    /// often, with the counts, but no window histogram is kept, so p50 and p99
    /// stay 0 until the final figures, which have them (from the run's one histogram).
    @Test(.timeLimit(.minutes(1)))
    func countsOnlyProgressCarriesNoWindowLatency() async throws {
        try await withServer { server in
            let seen = ProgressLog()
            var plan = LoadPlan(port: server.port, stop: .duration(600), concurrency: 4, rate: 1_000, timeout: Self.patientTimeout)
            plan.progress = .counts
            let generator = LoadGenerator(plan: plan)
            let result = try await generator.run { snapshot in
                let all = seen.append(snapshot)
                if all.count >= 5, all.contains(where: { $0.currentRate > 0 }) { generator.stop() }
            }
            let snapshots = seen.all
            let intermediate = snapshots.dropLast()
            #expect(intermediate.count >= 5, "\(intermediate.count) snapshots before the final one")
            #expect(intermediate.contains { $0.currentRate > 0 && $0.ok > 0 })
            #expect(intermediate.allSatisfy { $0.p50 == 0 && $0.p99 == 0 })
            let last = try #require(snapshots.last)
            #expect(last.completed == result.increments.count)
            #expect(last.p50 > 0, "the final figures carry the run's latency")
        }
    }

    /// Nobody watches (--quiet, --format json): no snapshot is ever taken, and
    /// the one delivery is the final figures. The load runs long enough for
    /// ten or more snapshots to have been due.
    @Test(.timeLimit(.minutes(1)))
    func unwatchedProgressTakesNoSnapshots() async throws {
        try await withServer { server in
            let seen = ProgressLog()
            var plan = LoadPlan(port: server.port, stop: .duration(1.2), concurrency: 4, rate: 1_000, timeout: Self.patientTimeout)
            plan.progress = .none
            let result = try await LoadGenerator(plan: plan).run { seen.append($0) }
            let snapshots = seen.all
            #expect(snapshots.count == 1, "\(snapshots.count) deliveries")
            #expect(snapshots.first?.completed == result.increments.count)
            #expect(result.okCount > 0 && result.latency.p50 > 0)
        }
    }

    // MARK: Reading every worker

    @Test func reportReaderReachesEveryWorkerOnASharedPort() async throws {
        try await withServer(workers: 3) { server in
            _ = try await LoadGenerator(plan: LoadPlan(port: server.port, stop: .count(300), concurrency: 8)).run()
            let (reads, unreached) = await ReportReader.readAll(port: server.port, expecting: Set(server.pids), timeout: 30)
            #expect(unreached.isEmpty)
            #expect(Set(reads.map(\.pid)) == Set(server.pids))
            #expect(reads.map(\.value).reduce(0, +) == 300)
            #expect(reads.allSatisfy { $0.start <= $0.end && $0.worker != nil })
        }
    }

    /// It gives up on a pid that never answers (after its attempts or its
    /// timeout, whichever comes first) and still returns what it read.
    @Test(.timeLimit(.minutes(1)))
    func reportReaderNamesPidsThatNeverAnswer() async throws {
        var behavior = TestCounterServer.Behavior()
        behavior.pidKey = "current_process_id"
        try await withServer(workers: 2, behavior: behavior) { server in
            let (reads, unreached) = await ReportReader.readAll(port: server.port, expecting: Set(server.pids + [99_999]), timeout: 30)
            #expect(unreached == [99_999])
            #expect(Set(reads.map(\.pid)) == Set(server.pids))
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func reportReaderGivesUpOnAMissingServer() async throws {
        let refusing = try RefusingPort()
        let (reads, unreached) = await ReportReader.readAll(port: refusing.port, expecting: [1, 2], timeout: 1)
        withExtendedLifetime(refusing) {}
        #expect(reads.isEmpty)
        #expect(unreached == [1, 2])
    }

    @Test func oneShotReturnsStatusHeadersAndBody() async throws {
        try await withServer { server in
            let answer = try await AppExchange.send(RequestSpec(method: "POST", path: "/increment"), port: server.port,
                                                    timeout: Self.patientTimeout)
            #expect(answer.status == 200)
            #expect(answer.headerPid == server.pids[0] && answer.owner == nil)
            #expect(CounterAnswer.parse(answer.body) == CounterAnswer(count: 1, pid: server.pids[0], worker: 0))
        }
    }

    // MARK: Parsing

    @Test func counterAnswerScansTheFieldsItNeeds() {
        #expect(CounterAnswer.parse(Array(#"{"count": 12, "pid": 345, "worker": 2}"#.utf8)) == CounterAnswer(count: 12, pid: 345, worker: 2))
        #expect(CounterAnswer.parse(Array(#"{"current_process_id":"77","count":-3}"#.utf8)) == CounterAnswer(count: -3, pid: 77))
        #expect(CounterAnswer.parse(Array(#"{"error": "busy", "committed" : false}"#.utf8)).notCommitted)
        #expect(CounterAnswer.parse(Array(#"{"counter": 5, "pidx": 1}"#.utf8)) == CounterAnswer())
        #expect(CounterAnswer.parse(Array("".utf8)) == CounterAnswer())
        #expect(CounterAnswer().outcome(status: 201) == .ok)
        #expect(CounterAnswer().outcome(status: 503) == .indeterminate)
        #expect(CounterAnswer(notCommitted: true).outcome(status: 503) == .fail)
        #expect(CounterAnswer().outcome(status: 409) == .fail)
    }

    /// The answer's fields are found in one pass over its quotes; that pass must
    /// find what a search for each key on its own finds, on any bytes: here
    /// 20,000 strings made of the keys' pieces, quotes, colons, blanks, digits
    /// and JSON punctuation, from a fixed seed.
    @Test func oneScanOfAnAnswerFindsWhatFiveSearchesFind() {
        let pieces = [#"""#, ":", " ", "\t", ",", "{", "}", "-", "1", "23", "4567", "true", "false", "\\",
                      "count", "pid", "current_process_id", "worker", "committed", "cou", "p", #""pid""#, #""count""#,
                      #""worker":"#, #""committed":"#, #""current_process_id":"#, #""count": "#]
        let keys = AnswerKeys(AnswerFields(pidField: "pid", countField: "count"))
        let odd = AnswerKeys(AnswerFields(pidField: "p", countField: "cou"))
        var seed: UInt64 = 0x5EED
        func next(_ bound: Int) -> Int {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return Int((seed >> 33) % UInt64(bound))
        }
        var mismatches: [String] = []
        for _ in 0..<20_000 {
            let text = (0..<next(14)).map { _ in pieces[next(pieces.count)] }.joined()
            for keySet in [keys, odd] {
                let one = Array(text.utf8).withUnsafeBytes { CounterAnswer.parse(buffer: $0, keys: keySet) }
                let apart = Array(text.utf8).withUnsafeBytes { bytes in
                    let scanner = JSONFieldScanner(bytes: bytes)
                    let pid = scanner.integer(for: keySet.pid) ?? scanner.integer(for: Array(#""current_process_id""#.utf8))
                    return CounterAnswer(count: scanner.integer(for: keySet.count), pid: pid.flatMap { Int32(exactly: $0) },
                                         worker: scanner.integer(for: Array(#""worker""#.utf8)),
                                         notCommitted: scanner.boolean(for: Array(#""committed""#.utf8)) == false)
                }
                if one != apart, mismatches.count < 5 { mismatches.append("\(text.debugDescription): \(one) vs \(apart)") }
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches)")
    }

    /// Tallies per pid are found by comparison up to 16 pids and hashed beyond:
    /// with 40 pids seen in a shuffled order, each tally holds exactly its own answers.
    @Test func pidTalliesStayApartBeyondSixteenPids() {
        var tallies = PidMap<PidTally>()
        var table = PidTable()
        var expected: [Int32: Int] = [:]
        var seed: UInt64 = 7
        for step in 0..<4_000 {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            let pid = Int32(1_000 + (seed >> 33) % 40)
            tallies.update(pid) { $0.acknowledge(count: step) }
            expected[pid, default: 0] += 1
            let index = table.index(of: pid)
            #expect(table.pid(at: index) == pid)
        }
        #expect(tallies.dictionary.mapValues(\.acknowledged) == expected)
    }

    /// Bins opened one by one (a gap of up to 64) and in bulk (a longer gap) count alike:
    /// every event is found below the time just after it and not below its own time.
    @Test func timeBinsCountTheSameWhateverTheGap() {
        let clock = BinClock(origin: 1_000, shift: 0)
        var bins = TimeBins()
        var times: [UInt64] = []
        var t: UInt64 = 1_000
        for gap: UInt64 in [0, 1, 2, 63, 64, 65, 200, 300_000, 1, 5] {
            t += gap
            bins.add(bin: clock.bin(t))
            times.append(t)
        }
        bins.seal()
        #expect(bins.total == times.count)
        for (index, time) in times.enumerated() {
            #expect(bins.countBelow(time + 1, clock: clock) == times.prefix(index + 1).count { $0 <= time })
            #expect(bins.countBelow(time, clock: clock) == times.count { $0 < time })
        }
    }

    /// The header-name test is a bit table; it must say what RFC 9110's tchar list says.
    @Test func tokenBytesAreRFC9110s() {
        let tchar = Set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)
        for byte in UInt8.min...UInt8.max {
            #expect(HTTPBytes.isTokenByte(byte) == tchar.contains(byte), "byte \(byte)")
        }
    }
}

/// Progress snapshots gathered from the callback's thread.
private final class ProgressLog: @unchecked Sendable {
    private let lock = NSLock()
    private var snapshots: [LoadProgress] = []
    /// Adds a snapshot; returns all of them so far.
    @discardableResult
    func append(_ snapshot: LoadProgress) -> [LoadProgress] { lock.withLock { snapshots.append(snapshot); return snapshots } }
    var all: [LoadProgress] { lock.withLock { snapshots } }
}
