import Foundation
import StateLab
import StateLabTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A store with a process of its own (manager, redis-server, postgres) killed
/// with SIGKILL in the middle of a load, then started again: the workers
/// answer 503 meanwhile and none dies, the load ends on its own, and once the
/// store is back the workers reconnect and increments succeed again.
@Suite(.serialized)
struct StoreOutageTests {
    @Test("redis killed mid-load and started again", .enabled(if: RedisRequirement.runs, RedisRequirement.skipReason))
    func redisOutageAndRecovery() async throws { try await outageAndRecovery("redis") }

    @Test("postgres killed mid-load and started again", .enabled(if: PostgresRequirement.runs, PostgresRequirement.skipReason))
    func postgresOutageAndRecovery() async throws { try await outageAndRecovery("postgres") }

    @Test("kill the store mid-load: 503s, no worker dies, the load ends; restart it: increments succeed again",
          arguments: ["manager"])
    func outageAndRecovery(_ name: String) async throws {
        let strategy = Strategy(rawValue: name)!
        let config = AppConfig(strategy: strategy, mode: .atomic, workers: 2, executable: Binary.path)
        let supervisor = try await OffThread.run { try Supervisor.start(config) }
        defer { supervisor.stop() }
        let workers = supervisor.workers.map(\.pid)

        // A closed-model load, stopped once it has seen the store both up and
        // down (its duration is only a backstop): the kill lands mid-load
        // however slowly a busy machine runs the test.
        let load = LoadGenerator(plan: LoadPlan(port: supervisor.port, stop: .duration(120), concurrency: 4, timeout: 5))
        let latest = LatestProgress()
        async let outcome = load.run { latest.set($0) }
        #expect(await Self.eventually { latest.get().ok > 0 }, "the load runs against the store")
        let killed = try await OffThread.run { try supervisor.killStore() }
        _ = await Self.eventually { latest.get().fail + latest.get().indeterminate > 0 }
        load.stop()
        let result = try await outcome
        #expect(!ProcessTable.exists(killed), "the store's process is gone")
        #expect(result.failCount + result.indeterminateCount > 0,
                "increments while the store was down are failed or indeterminate: \(result.okCount) ok")
        #expect(workers.allSatisfy(ProcessTable.exists), "no worker died")
        #expect(supervisor.workers.map(\.pid) == workers, "no worker was replaced")

        // Down: a worker answers, with 503, not a hang or a reset.
        let down = try await AppExchange.send(RequestSpec(method: "POST", path: "/increment"), port: supervisor.port, timeout: 10)
        #expect(down.status == 503, "\(down.status)")

        try await OffThread.run { _ = try supervisor.restartStore() }
        // The workers reconnect within their backoff (at most 1 s between tries): poll, bounded.
        let deadline = Date().addingTimeInterval(60)
        var ok = 0
        while Date() < deadline {
            let probe = LoadGenerator(plan: LoadPlan(port: supervisor.port, stop: .count(20), concurrency: 2, timeout: 5))
            ok = try await probe.run().okCount
            if ok == 20 { break }
            try await Task.sleep(nanoseconds: 200_000_000)
        }
        #expect(ok == 20, "after the restart every increment succeeds again")
        #expect(workers.allSatisfy(ProcessTable.exists), "still no worker died")
        // A worker the probes did not reach retries at the end of its own backoff.
        #expect(await Self.readsOfEveryWorker(supervisor, count: 2).count == 2, "every worker reads the store again")
    }

    /// The load's last progress report, handed over from its reporting task.
    final class LatestProgress: @unchecked Sendable {
        private let lock = NSLock()
        private var progress: (ok: Int, fail: Int, indeterminate: Int) = (0, 0, 0)
        func set(_ value: LoadProgress) {
            lock.lock(); defer { lock.unlock() }
            progress = (value.ok, value.fail, value.indeterminate)
        }
        func get() -> (ok: Int, fail: Int, indeterminate: Int) {
            lock.lock(); defer { lock.unlock() }
            return progress
        }
    }

    /// Polls `condition` every 50 ms for at most 60 s, without blocking a thread.
    static func eventually(_ condition: () -> Bool) async -> Bool {
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if condition() { return true }
            try? await Task.sleep(nanoseconds: 50_000_000)
        }
        return condition()
    }

    /// Each worker's read once every one answers: a worker reads again once it
    /// has reconnected, at the end of its backoff (at most 1 s). Polls, bounded.
    static func readsOfEveryWorker(_ supervisor: Supervisor, count: Int) async -> [ReadRecord] {
        let deadline = Date().addingTimeInterval(60)
        var reads: [ReadRecord] = []
        while Date() < deadline {
            reads = supervisor.readAll()
            if reads.count == count { break }
            try? await Task.sleep(nanoseconds: 100_000_000)
        }
        return reads
    }

    /// The claims people make about each store, checked: what a SIGKILL of
    /// its process and a restart on the same socket, port or directory keep.
    @Test("redis, with and without appendonly, across a kill and restart", .enabled(if: RedisRequirement.runs, RedisRequirement.skipReason),
          arguments: ["redis", "redis-appendonly"])
    func redisDurability(_ name: String) async throws { try await durability(name) }

    @Test("postgres keeps its count across a kill and restart", .enabled(if: PostgresRequirement.runs, PostgresRequirement.skipReason))
    func postgresDurability() async throws { try await durability("postgres") }

    @Test("what survives a kill and restart of the store: manager and redis without persistence lose the count; redis with appendonly and postgres keep it",
          arguments: ["manager"])
    func durability(_ name: String) async throws {
        let strategy = Strategy(rawValue: String(name.split(separator: "-")[0]))!
        var config = AppConfig(strategy: strategy, mode: .atomic, workers: 2, executable: Binary.path)
        config.redisAppendOnly = name == "redis-appendonly"
        let started = config
        let durable = name == "redis-appendonly" || name == "postgres"
        let supervisor = try await OffThread.run { try Supervisor.start(started) }
        defer { supervisor.stop() }
        let load = LoadGenerator(plan: LoadPlan(port: supervisor.port, stop: .count(100), concurrency: 4, timeout: 30))
        let result = try await load.run()
        #expect(result.okCount == 100)
        #expect(supervisor.readAll().map(\.value) == [100, 100])

        try await OffThread.run {
            try supervisor.killStore()
            try supervisor.restartStore()
        }
        let reads = await Self.readsOfEveryWorker(supervisor, count: 2)
        #expect(reads.map(\.value) == (durable ? [100, 100] : [0, 0]),
                "\(name): \(durable ? "durable" : "not durable") across a kill and restart")
    }

    @Test("a store without a process of its own cannot be killed: the reason in one line",
          arguments: ["global", "shm", "sqlite"])
    func noProcess(_ name: String) async throws {
        let strategy = Strategy(rawValue: name)!
        let supervisor = try await OffThread.run {
            try Supervisor.start(AppConfig(strategy: strategy, mode: .naive, workers: 1, executable: Binary.path))
        }
        defer { supervisor.stop() }
        #expect(supervisor.storeProcessProblem?.contains("has no store process") == true)
        #expect(throws: StoreError.self) { try supervisor.killStore() }
    }
}
