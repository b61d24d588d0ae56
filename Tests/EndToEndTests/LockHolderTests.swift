import Foundation
import StateLab
import StateLabTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// "Kill the worker that holds the lock", end to end: under load the
/// supervisor names the worker holding the counter's lock, that worker is
/// killed with SIGKILL, and the supervisor then sees the lock recovered from
/// that very pid while the other workers count on.
@Suite(.serialized)
struct LockHolderTests {
    /// Deadline of every wait here: only a hang reaches it.
    static let patience = 60.0

    @Test("locked under load: waitForLockHolder names a worker, SIGKILL it, lockRecoveries names its pid, the others count on",
          arguments: ["shm", "manager"])
    func killTheLockHolder(_ name: String) async throws {
        let strategy = Strategy(rawValue: name)!
        // Each increment holds the lock for 20 ms: with 6 requests in flight it is nearly always held.
        let config = AppConfig(strategy: strategy, mode: .locked, workers: 3, raceWindowMicros: 20_000,
                               executable: Binary.path)
        let supervisor = try await OffThread.run { try Supervisor.start(config) }
        defer { supervisor.stop() }
        #expect(supervisor.lockHolderProblem == nil)
        let before = await OffThread.run { supervisor.lockRecoveries() }
        #expect(before?.count == 0, "\(String(describing: before))")

        let load = LoadGenerator(plan: LoadPlan(port: supervisor.port, stop: .duration(120), concurrency: 6, timeout: 30))
        let latest = StoreOutageTests.LatestProgress()
        async let outcome = load.run { latest.set($0) }
        #expect(await StoreOutageTests.eventually { latest.get().ok > 0 }, "the load runs")

        let original = Set(supervisor.workers.map(\.pid))
        let killed = try await OffThread.run { try Self.killTheHolder(of: supervisor) }
        #expect(ProcessTable.waitGone([killed], timeout: Self.patience).isEmpty, "the holder is dead")
        let recoveries = await Self.recoveries(of: supervisor, naming: killed)
        #expect(recoveries?.count ?? 0 >= 1, "\(String(describing: recoveries))")
        #expect(recoveries?.lastDeadHolder == killed, "\(String(describing: recoveries))")
        #expect(recoveries?.description.contains("pid \(killed)") == true)

        // No hang: the load keeps being answered after the kill...
        let okAtRecovery = latest.get().ok
        #expect(await StoreOutageTests.eventually { latest.get().ok >= okAtRecovery + 20 },
                "increments after the kill: \(latest.get().ok - okAtRecovery)")
        load.stop()
        let result = try await outcome
        #expect(result.okCount > 0)
        // ...and each surviving worker answers an increment of its own. (The supervisor
        // replaces the killed one meanwhile; the replacement may be the one that recovers.)
        let survivors = supervisor.workers.filter { original.contains($0.pid) && $0.pid != killed }
        #expect(survivors.count == 2)
        for worker in survivors {
            let answer = try await OffThread.run {
                try ControlClient.request("POST", "/increment", socketPath: worker.socketPath, timeout: Self.patience)
            }
            #expect(answer.status == 200, "worker \(worker.index): \(answer.error ?? "HTTP \(answer.status)")")
        }

        // The store's own log names the dead pid.
        let (line, logs) = strategy == .shm
            ? ("shm mutex holder pid \(killed) died; recovered the lock", (0..<3).map { supervisor.spec.logPath(worker: $0) })
            : ("(pid \(killed)) disconnected holding the lock; released", [supervisor.runDirectory.path + "/manager.log"])
        let logged = await OffThread.run {
            Poll.until(timeout: Self.patience) { logs.contains { Self.text(of: $0).contains(line) } }
        }
        #expect(logged, "no log line \(line.debugDescription) in \(logs.map(Self.text(of:)))")
    }

    @Test("no lock statelab can see: a one-line reason, no holder, and waitForLockHolder returns at once",
          arguments: ["shm", "global"])
    func noVisibleLock(_ name: String) async throws {
        let strategy = Strategy(rawValue: name)!
        let supervisor = try await OffThread.run {
            try Supervisor.start(AppConfig(strategy: strategy, mode: .naive, workers: 1, executable: Binary.path))
        }
        defer { supervisor.stop() }
        let problem = try #require(supervisor.lockHolderProblem)
        #expect(problem.hasPrefix("kill_worker: holder needs a lock statelab can see: shm or manager in locked mode"))
        #expect(!problem.contains("\n"))
        let start = Date()
        let (holder, waited, recoveries) = await OffThread.run {
            (supervisor.lockHolder(), supervisor.waitForLockHolder(timeout: 30), supervisor.lockRecoveries())
        }
        #expect(Date().timeIntervalSince(start) < 10, "waitForLockHolder returned at once")
        #expect(holder == nil)
        #expect(waited == nil)
        // shm still has its segment, whose counts say nothing was recovered.
        #expect(recoveries == (strategy == .shm ? LockRecoveries(lock: .robustMutex, count: 0, lastDeadHolder: nil) : nil))
    }

    /// Finds the worker holding the lock, stops it (SIGSTOP) and checks that
    /// it still holds it (stopped, it cannot let go), then SIGKILLs it: the
    /// kill lands inside the lock for certain, not after a guessed delay.
    /// Returns its pid.
    static func killTheHolder(of supervisor: Supervisor) throws -> Int32 {
        let deadline = Date().addingTimeInterval(patience)
        while Date() < deadline {
            guard let pid = supervisor.waitForLockHolder(timeout: 2) else { continue }
            guard supervisor.workers.contains(where: { $0.pid == pid }) else {
                throw StoreError("waitForLockHolder named pid \(pid), not a worker")
            }
            if ProcessTable.stop(pid), supervisor.lockHolder() == pid,
               let worker = supervisor.workers.first(where: { $0.pid == pid }) {
                supervisor.kill(worker: worker.index)
                return pid
            }
            // It let go before it stopped: let it run and catch the next holder.
            kill(pid, SIGCONT)
        }
        throw StoreError("no worker was caught holding the lock within \(patience) s")
    }

    /// Polls (every 10 ms, bounded) until the supervisor reports a recovery
    /// from `pid`; returns the last report.
    static func recoveries(of supervisor: Supervisor, naming pid: Int32) async -> LockRecoveries? {
        let deadline = Date().addingTimeInterval(patience)
        var last: LockRecoveries?
        while Date() < deadline {
            last = await OffThread.run { supervisor.lockRecoveries() }
            if let last, last.count >= 1, last.lastDeadHolder == pid { break }
            try? await Task.sleep(nanoseconds: 10_000_000)
        }
        return last
    }

    static func text(of path: String) -> String {
        (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    }
}
