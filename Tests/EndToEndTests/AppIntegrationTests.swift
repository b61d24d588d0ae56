import Foundation
import StateLab
import StateLabTestSupport
import Testing

/// Every strategy x mode on a real app: 4 worker processes, 2,000 increments
/// over 32 keep-alive connections, then every worker read through its private
/// socket. Serialized: each test runs a whole app on a 2-core machine.
@Suite(.serialized)
struct AppIntegrationTests {
    static let increments = 2_000
    /// Naive modes run with this race window (microseconds between read and
    /// write) so that lost updates show on every store, every time.
    static let naiveRaceWindow = 200

    struct Outcome {
        var acknowledged: Int
        /// Certainly not applied (refused, "not committed").
        var failed: Int
        /// May have applied (a timeout on a busy machine): they widen what a read may be.
        var indeterminate: Int
        var reads: [ReadRecord]
        var pids: Set<Int32>

        /// What a correct counter may read: every acknowledged increment, and
        /// at most the indeterminate ones on top.
        var allowed: ClosedRange<Int> { acknowledged...(acknowledged + indeterminate) }
    }

    /// Long enough that a busy machine shows few timeouts; the checks allow for those it does show.
    static let requestTimeout = 30.0

    static func run(_ strategy: Strategy, _ mode: Mode) async throws -> Outcome {
        let config = AppConfig(strategy: strategy, mode: mode, workers: 4, port: 0,
                               raceWindowMicros: mode == .naive && strategy != .global ? naiveRaceWindow : 0,
                               executable: Binary.path)
        let supervisor = try Supervisor.start(config)
        defer { supervisor.stop() }
        let load = LoadGenerator(plan: LoadPlan(port: supervisor.port, stop: .count(increments), concurrency: 32,
                                                timeout: requestTimeout))
        let result = try await load.run()
        let reads = supervisor.readAll()
        #expect(reads.count == 4, "every worker answers on its private socket")
        #expect(result.okCount > increments / 2, "most increments acknowledged: \(result.okCount)")
        return Outcome(acknowledged: result.okCount, failed: result.failCount, indeterminate: result.indeterminateCount,
                       reads: reads, pids: Set(supervisor.workers.map(\.pid)))
    }

    static let exactCases: [(Strategy, Mode)] = [
        (.manager, .locked), (.manager, .atomic), (.shm, .locked), (.shm, .atomic),
        (.sqlite, .locked), (.sqlite, .atomic),
    ]

    @Test("locked and atomic modes lose nothing on redis", .enabled(if: RedisRequirement.runs, RedisRequirement.skipReason),
          arguments: ["redis/locked", "redis/atomic"])
    func exactOnRedis(_ name: String) async throws { try await exact(name) }

    @Test("locked and atomic modes lose nothing: every worker reads the acknowledged total",
          arguments: exactCases.map { "\($0.0.rawValue)/\($0.1.rawValue)" })
    func exact(_ name: String) async throws {
        let parts = name.split(separator: "/")
        let strategy = Strategy(rawValue: String(parts[0]))!, mode = Mode(rawValue: String(parts[1]))!
        let outcome = try await Self.run(strategy, mode)
        #expect(outcome.acknowledged + outcome.failed + outcome.indeterminate == Self.increments)
        for read in outcome.reads {
            // Exactly the acknowledged total on a quiet machine; a timed-out increment may add one.
            #expect(outcome.allowed.contains(read.value), "worker \(read.worker ?? -1) pid \(read.pid): \(read.value) outside \(outcome.allowed)")
        }
    }

    @Test("naive read-then-write loses updates on redis", .enabled(if: RedisRequirement.runs, RedisRequirement.skipReason))
    func naiveLosesOnRedis() async throws { try await naiveLoses("redis") }

    @Test("naive read-then-write loses updates on every shared store",
          arguments: ["manager", "shm", "sqlite"])
    func naiveLoses(_ name: String) async throws {
        let strategy = Strategy(rawValue: name)!
        let outcome = try await Self.run(strategy, .naive)
        let final = outcome.reads.map(\.value).max() ?? 0
        #expect(final < outcome.acknowledged, "lost = \(outcome.acknowledged - final)")
        #expect(Set(outcome.reads.map(\.value)).count == 1, "a shared store reads the same on every worker")
    }

    @Test("global: per-worker counts sum to the acknowledged increments, and workers differ")
    func globalDiverges() async throws {
        let outcome = try await Self.run(.global, .naive)
        let sum = outcome.reads.map(\.value).reduce(0, +)
        #expect(outcome.allowed.contains(sum), "sum \(sum) outside \(outcome.allowed)")
        #expect(Set(outcome.reads.map(\.value)).count >= 2, "reads: \(outcome.reads.map(\.value))")
    }

    @Test("reset through one worker on redis: every worker reads 0", .enabled(if: RedisRequirement.runs, RedisRequirement.skipReason))
    func resetThroughOneWorkerOnRedis() async throws { try await resetThroughOneWorker("redis") }

    @Test("reset through one worker: shared stores read 0 everywhere, global only there",
          arguments: ["global", "manager", "shm", "sqlite"])
    func resetThroughOneWorker(_ name: String) async throws {
        let strategy = Strategy(rawValue: name)!
        let mode: Mode = strategy == .global ? .naive : .atomic
        let supervisor = try Supervisor.start(AppConfig(strategy: strategy, mode: mode, workers: 4, executable: Binary.path))
        defer { supervisor.stop() }
        let result = try await LoadGenerator(plan: LoadPlan(port: supervisor.port, stop: .count(1_000), concurrency: 64,
                                                            timeout: Self.requestTimeout)).run()
        #expect(result.okCount > 500)
        let before = supervisor.readAll()
        #expect(before.allSatisfy { $0.value > 0 }, "every worker has counted something: \(before.map(\.value))")
        _ = try supervisor.reset(through: 1)
        let after = supervisor.readAll()
        #expect(after.count == 4)
        for read in after {
            if strategy.isShared || read.worker == 1 {
                #expect(read.value == 0, "worker \(read.worker ?? -1)")
            } else {
                #expect(read.value > 0, "worker \(read.worker ?? -1) keeps its own count under global")
            }
        }
    }
}
