import Foundation
import Testing
@testable import StateLab

extension RedisTests {
    // MARK: - Backoff policy (no server)

    @Test("locked backoff: the ceiling doubles from base up to cap; every pause is below it")
    func backoffCeilingDoublesUpToTheCap() {
        let backoff = LockedBackoff(baseMicros: 50, capMicros: 1_000)
        #expect((1...8).map { backoff.ceiling(afterConflicts: $0) } == [50, 100, 200, 400, 800, 1_000, 1_000, 1_000])
        #expect(backoff.ceiling(afterConflicts: 10_000) == 1_000, "no overflow after many conflicts")
        for conflicts in 1...12 {
            for _ in 0..<200 {
                let pause = backoff.pause(afterConflicts: conflicts)
                #expect(pause >= 0 && pause < backoff.ceiling(afterConflicts: conflicts))
            }
        }
        // Full jitter: pauses spread over the whole range, not one fixed value.
        let pauses = Set((0..<200).map { _ in backoff.pause(afterConflicts: 8) })
        #expect(pauses.count > 20)
        #expect(LockedBackoff.none.pause(afterConflicts: 5) == 0)
        #expect(LockedBackoff.none.ceiling(afterConflicts: 5) == 0)
    }
}

/// A counter only the gate protects.
private final class Unprotected: @unchecked Sendable {
    var count = 0
}

extension RedisTests {
    @Test("the locked gate lets one thread through at a time, the same name gives the same gate, a throw lets go")
    func gateExcludes() throws {
        let name = "test:\(UUID().uuidString)"
        let gate = LockedGate.shared(for: name)
        #expect(LockedGate.shared(for: name) === gate)
        #expect(LockedGate.shared(for: name + ":other") !== gate)
        let counter = Unprotected()
        _ = try ConcurrentThreads.run(8) { _ -> [Int] in
            let mine = LockedGate.shared(for: name)
            for _ in 0..<5_000 { mine.withLock { counter.count += 1 } }
            return []
        }
        #expect(counter.count == 40_000)
        #expect(throws: StoreError.self) { try gate.withLock { throw StoreError("inside") } }
        #expect(gate.withLock { 7 } == 7, "the throw let the gate go")
    }
}

extension RedisTests.RealServer {
    /// What one thread's session did: the values its increments returned, and its conflicts.
    struct ThreadOutcome: Sendable {
        var values: [Int]
        var conflicts: Int
    }

    /// `threads` threads, each with its own session (made by `makeSession`),
    /// each doing `each` locked increments.
    private func lockedRace(_ server: RedisServerProcess, threads: Int, each: Int, raceWindowMicros: Int,
                            makeSession: @escaping @Sendable (_ index: Int) throws -> RedisSession) throws -> [ThreadOutcome] {
        try ConcurrentThreads.run(threads, timeout: 120) { index in
            let session = try makeSession(index)
            defer { session.close() }
            let values = try (0..<each).map { _ in try session.increment(mode: .locked, raceWindowMicros: raceWindowMicros) }
            return [ThreadOutcome(values: values, conflicts: session.conflictRetries)]
        }
    }

    private func counter(_ server: RedisServerProcess, key: String) throws -> Int {
        let session = try RedisSession(host: server.host, port: server.port, key: key)
        defer { session.close() }
        return try session.read()
    }

    @Test("pipeline: one write, the replies in order, an error reply in its place, the connection usable after")
    func pipelineAnswersInOrder() throws {
        let server = try RedisTestGate.launch()
        defer { server.stop() }
        let connection = try RedisConnection(host: server.host, port: server.port, timeout: 5)
        defer { connection.close() }
        let replies = try connection.pipeline([
            ["SET", "statelab:test:p", "a"], ["GET", "statelab:test:p"], ["INCR", "statelab:test:n"],
            ["NOSUCHCOMMAND"], ["INCR", "statelab:test:n"], ["GET", "statelab:test:missing"],
        ])
        #expect(replies.count == 6)
        #expect(replies[0] == .simpleString("OK"))
        #expect(replies[1] == .bulk("a"))
        #expect(replies[2] == .integer(1))
        if case .error(let message) = replies[3] {
            #expect(message.contains("unknown command"), "\(message)")
        } else {
            Issue.record("the unknown command's reply should be an error in its place, got \(replies[3])")
        }
        #expect(replies[4] == .integer(2), "the command after the error still ran")
        #expect(replies[5] == .bulkString(nil))
        #expect(try connection.command("PING") == .simpleString("PONG"), "no reply left over on the connection")

        // More replies than one read returns: 2,000 INCRs, answered 1...2000 in order.
        let many = try connection.pipeline(Array(repeating: ["INCR", "statelab:test:many"], count: 2_000))
        #expect(many == (1...2_000).map { RESPValue.integer($0) })
        let big = String(repeating: "x", count: 100_000)
        let large = try connection.pipeline([["SET", "statelab:test:big", big], ["GET", "statelab:test:big"], ["STRLEN", "statelab:test:big"]])
        #expect(large == [.simpleString("OK"), .bulk(big), .integer(100_000)])
        #expect(try connection.command("GET", "statelab:test:n") == .bulk("2"))
    }

    @Test("locked, sessions not serialized: contention from 6 threads loses nothing, and every conflict is counted")
    func lockedUnserializedIsExactAndCountsConflicts() throws {
        let server = try RedisTestGate.launch()
        defer { server.stop() }
        let key = "statelab:test:unserialized"
        let host = server.host, port = server.port
        let processBefore = RedisSession.processConflictRetries.load(ordering: .relaxed)
        let outcomes = try lockedRace(server, threads: 6, each: 60, raceWindowMicros: 200) { _ in
            try RedisSession(host: host, port: port, key: key, serializeLocked: false)
        }
        let processAfter = RedisSession.processConflictRetries.load(ordering: .relaxed)
        let values = outcomes.flatMap(\.values)
        #expect(try counter(server, key: key) == 360)
        #expect(values.sorted() == Array(1...360), "each count handed out exactly once")
        let conflicts = outcomes.reduce(0) { $0 + $1.conflicts }
        // A 200 us window between GET and EXEC, six sessions: they collide.
        #expect(conflicts > 0)
        // Other suites may count conflicts in this process at the same time: at least ours.
        #expect(processAfter - processBefore >= conflicts)
    }

    @Test("locked, serialized (the default): one process's sessions never conflict with each other, and count exactly")
    func lockedSerializedSessionsDoNotConflict() throws {
        let server = try RedisTestGate.launch()
        defer { server.stop() }
        let key = "statelab:test:serialized"
        let host = server.host, port = server.port
        let outcomes = try lockedRace(server, threads: 6, each: 60, raceWindowMicros: 200) { _ in
            try RedisSession(host: host, port: port, key: key)
        }
        #expect(try counter(server, key: key) == 360)
        #expect(outcomes.flatMap(\.values).sorted() == Array(1...360))
        #expect(outcomes.map(\.conflicts) == Array(repeating: 0, count: 6),
                "nothing else writes the key, and the process lets one transaction at a time through")
    }

    @Test("locked: serialized sessions against unserialized ones (as another process's) still lose nothing")
    func lockedMixedContentionIsExact() throws {
        let server = try RedisTestGate.launch()
        defer { server.stop() }
        let key = "statelab:test:mixed"
        let host = server.host, port = server.port
        let outcomes = try lockedRace(server, threads: 6, each: 60, raceWindowMicros: 200) { index in
            try RedisSession(host: host, port: port, key: key, serializeLocked: index % 2 == 0)
        }
        #expect(try counter(server, key: key) == 360)
        #expect(outcomes.flatMap(\.values).sorted() == Array(1...360))
        #expect(outcomes.reduce(0) { $0 + $1.conflicts } > 0)
    }

    /// A thread INCRementing `key` on its own connection until stopped; returns how many it did.
    private final class Hammer: @unchecked Sendable {
        private let stopped = NSLock()
        private var stop = false
        private var count = 0
        private var failure: (any Error)?
        private let done = DispatchSemaphore(value: 0)
        let started = DispatchSemaphore(value: 0)

        init(host: String, port: Int, key: String) {
            Thread.detachNewThread { [self] in
                defer { done.signal() }
                do {
                    let connection = try RedisConnection(host: host, port: port, timeout: 5)
                    defer { connection.close() }
                    var signalled = false
                    while !(stopped.withLock { stop }) {
                        try connection.command("INCR", key)
                        stopped.withLock { count += 1 }
                        if !signalled { started.signal(); signalled = true }
                    }
                } catch {
                    stopped.withLock { failure = error }
                    started.signal()
                }
            }
        }

        func finish() throws -> Int {
            stopped.withLock { stop = true }
            done.wait()
            return try stopped.withLock {
                if let failure { throw failure }
                return count
            }
        }
    }

    @Test("locked: after maxLockedAttempts lost conflicts the increment is 'not committed', and it wrote nothing")
    func lockedGivesUpAfterItsAttempts() throws {
        let server = try RedisTestGate.launch()
        defer { server.stop() }
        let key = "statelab:test:hammered"
        let session = try RedisSession(host: server.host, port: server.port, key: key, maxLockedAttempts: 3)
        defer { session.close() }
        let hammer = Hammer(host: server.host, port: server.port, key: key)
        hammer.started.wait()
        // 200 ms between GET and EXEC while another client INCRs in a loop: every attempt loses.
        let error = #expect(throws: StoreError.self) { try session.increment(mode: .locked, raceWindowMicros: 200_000) }
        let incremented = try hammer.finish()
        #expect(error?.notCommitted == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("not committed: 3 attempts") == true, "\(error?.message ?? "")")
        #expect(session.conflictRetries == 3)
        #expect(try counter(server, key: key) == incremented, "the failed increment wrote nothing")
        // No WATCH or MULTI left behind: the next one commits.
        #expect(try session.increment(mode: .locked, raceWindowMicros: 0) == incremented + 1)
    }

    @Test("locked: the time budget bounds the retries too, whatever maxLockedAttempts allows")
    func lockedGivesUpAfterItsBudget() throws {
        let server = try RedisTestGate.launch()
        defer { server.stop() }
        let key = "statelab:test:budget"
        let session = try RedisSession(host: server.host, port: server.port, key: key,
                                       maxLockedAttempts: 1_000_000, lockedBudget: 0.3)
        defer { session.close() }
        let hammer = Hammer(host: server.host, port: server.port, key: key)
        hammer.started.wait()
        let start = MonotonicClock.now()
        let error = #expect(throws: StoreError.self) { try session.increment(mode: .locked, raceWindowMicros: 50_000) }
        let elapsed = Double(MonotonicClock.now() - start) / 1e9
        let incremented = try hammer.finish()
        #expect(error?.notCommitted == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("all lost a WATCH conflict") == true, "\(error?.message ?? "")")
        #expect(session.conflictRetries >= 1 && session.conflictRetries < 1_000_000)
        // It may stop early (the next pause would pass the budget), never before its first attempt.
        #expect(elapsed >= 0.05, "gave up after \(elapsed) s")
        #expect(try counter(server, key: key) == incremented)
    }
}
