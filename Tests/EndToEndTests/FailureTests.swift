import Foundation
import NIOConcurrencyHelpers
import StateLab
import StateLabTestSupport
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// What goes wrong in a real app, on real worker processes: a worker killed
/// while it holds the shared lock, a worker that dies and is restarted, a
/// redis-server the user names. Serialized: each test runs a whole app on a
/// 2-core machine.
@Suite(.serialized)
struct FailureTests {
    /// The race window, inside the lock in locked mode (1 s is the most the
    /// app allows). The holder is killed as soon as it is seen asleep in it,
    /// so this is the margin for that kill to land while it still sleeps.
    static let holdMicros = 1_000_000

    /// Deadline of every wait here: far beyond what a busy machine needs, so
    /// only a hang reaches it.
    static let patience = 30.0

    /// One request to one exact worker, sent on a background thread.
    final class BackgroundRequest: Sendable {
        private let done = DispatchSemaphore(value: 0)
        private let outcome = Mutex<String?>(nil)

        init(_ method: String, _ path: String, socketPath: String) {
            Thread.detachNewThread { [self] in
                let text: String
                do {
                    let answer = try ControlClient.request(method, path, socketPath: socketPath, timeout: FailureTests.patience)
                    text = "HTTP \(answer.status)"
                } catch {
                    text = "error: \(error)"
                }
                outcome.withLock { $0 = text }
                done.signal()
            }
        }

        /// How the request ended, or nil if it has not within `timeout` seconds.
        func wait(timeout: Double) -> String? {
            guard done.wait(timeout: .now() + timeout) == .success else { return nil }
            return outcome.withLock { $0 }
        }
    }

    static func increment(_ worker: WorkerHandle, timeout: Double = patience) throws -> ControlClient.Answer {
        try ControlClient.request("POST", "/increment", socketPath: worker.socketPath, timeout: timeout)
    }

    static func report(_ worker: WorkerHandle) throws -> ControlClient.Answer {
        try ControlClient.request("GET", "/report", socketPath: worker.socketPath, timeout: patience)
    }

    static func text(of path: String) -> String {
        (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    }

    /// Waits (bounded) until the file at `path` contains `needle`.
    static func waitForLine(containing needle: String, in path: String, timeout: Double = patience) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        repeat {
            if text(of: path).contains(needle) { return true }
            usleep(20_000)
        } while Date() < deadline
        return false
    }

    /// Whether a thread of `pid` is asleep in nanosleep. A worker has no such
    /// thread while idle (its threads wait in epoll or on a condition); in a
    /// locked increment it is the race window, which lies inside the lock.
    /// The kernel names the wait in /proc (wchan); where it hides that, the
    /// syscall number says the same (x86_64 and aarch64 numbers).
    static func isInRaceWindow(_ pid: Int32) -> Bool {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return tasks.contains { tid in
            let wchan = text(of: "/proc/\(pid)/task/\(tid)/wchan")
            if wchan.contains("nanosleep") { return true }
            let syscall = text(of: "/proc/\(pid)/task/\(tid)/syscall").split(separator: " ").first.flatMap { Int($0) }
            #if arch(x86_64)
            return syscall == 35 || syscall == 230
            #elseif arch(arm64)
            return syscall == 101 || syscall == 115
            #else
            return false
            #endif
        }
    }

    /// Waits (polling, bounded) until `condition` holds.
    static func waitUntil(timeout: Double = patience, _ condition: () -> Bool) -> Bool {
        Poll.until(timeout: timeout, condition)
    }

    /// Starts a locked app with 2 workers, has worker 0 take the lock and sleep
    /// inside it, kills worker 0 with SIGKILL, then increments through worker 1.
    /// Returns worker 1's answer; `inspect` runs before the app (and its logs)
    /// are gone. Worker 1 answering at all is the proof that it did not wait
    /// for the dead holder: it would wait forever, and the request gives up
    /// after `patience` seconds.
    static func killLockHolder(_ strategy: Strategy,
                               inspect: (Supervisor) throws -> Void) throws -> ControlClient.Answer {
        let supervisor = try Supervisor.start(AppConfig(strategy: strategy, mode: .locked, workers: 2,
                                                        raceWindowMicros: holdMicros, executable: Binary.path))
        defer { supervisor.stop() }
        let (holder, survivor) = (supervisor.workers[0], supervisor.workers[1])
        try #require(!isInRaceWindow(holder.pid), "an idle worker already sleeps in nanosleep: the readiness signal is ambiguous")

        let held = BackgroundRequest("POST", "/increment", socketPath: holder.socketPath)
        // Kill it once it is seen asleep inside the lock, not after a guessed delay.
        try #require(waitUntil { isInRaceWindow(holder.pid) }, "worker 0 never entered its race window")
        supervisor.kill(worker: 0)
        #expect(ProcessTable.waitGone([holder.pid], timeout: patience).isEmpty, "the holder is dead")
        let heldOutcome = held.wait(timeout: patience + 5)
        #expect(heldOutcome != nil, "the killed worker's request ended")
        #expect(heldOutcome != "HTTP 200", "the killed worker never answered its increment")

        let answer = try increment(survivor)
        try inspect(supervisor)
        return answer
    }

    @Test("shm locked: a worker killed holding the robust mutex; the other worker recovers it (EOWNERDEAD) and counts on")
    func shmLockHolderKilled() throws {
        let answer = try Self.killLockHolder(.shm) { (supervisor: Supervisor) throws in
            let log = supervisor.spec.logPath(worker: 1)
            #expect(Self.text(of: log).contains("recovered the lock"), "worker 1 log: \(Self.text(of: log))")
            #expect(!Self.text(of: supervisor.spec.logPath(worker: 0)).contains("recovered"))
            // After the recovery the mutex is an ordinary one again: reads and increments work.
            let survivor = supervisor.workers[1]
            #expect(try Self.report(survivor).count == 1)
            #expect(try Self.increment(survivor).count == 2)
            let recoveries = Self.text(of: log).components(separatedBy: "recovered the lock").count - 1
            #expect(recoveries == 1, "only the first lock after the death recovers")
            // Every worker that answers reads 2: the survivor, and the replacement the supervisor started.
            let reads = supervisor.readAll().map(\.value)
            #expect(!reads.isEmpty && reads.allSatisfy { $0 == 2 }, "\(reads)")
        }
        #expect(answer.status == 200, "\(answer.error ?? "")")
        #expect(answer.count == 1, "the dead holder had loaded 0 and never stored")
    }

    @Test("manager locked: a worker killed holding the manager's lock; the manager releases it and the other worker counts on")
    func managerLockHolderKilled() throws {
        let answer = try Self.killLockHolder(.manager) { (supervisor: Supervisor) throws in
            let log = supervisor.runDirectory.path + "/manager.log"
            #expect(Self.waitForLine(containing: "disconnected holding the lock", in: log),
                    "manager log: \(Self.text(of: log))")
            let survivor = supervisor.workers[1]
            #expect(try Self.report(survivor).count == 1)
            #expect(try Self.increment(survivor).count == 2)
            let reads = supervisor.readAll().map(\.value)
            #expect(!reads.isEmpty && reads.allSatisfy { $0 == 2 }, "\(reads)")
        }
        #expect(answer.status == 200, "\(answer.error ?? "")")
        #expect(answer.count == 1, "the dead holder had read 0 and never set")
    }

    @Test("a killed worker is restarted on its own, as a new process that serves; shm keeps the count, global loses it",
          arguments: ["shm", "global"])
    func monitorRestartsKilledWorker(_ name: String) throws {
        let strategy = Strategy(rawValue: name)!
        let lines = NIOLockedValueBox<[String]>([])
        let supervisor = try Supervisor.start(AppConfig(strategy: strategy, mode: strategy == .global ? .naive : .atomic,
                                                        workers: 2, executable: Binary.path)) { line in
            lines.withLockedValue { $0.append(line) }
        }
        defer { supervisor.stop() }
        for _ in 0..<5 { #expect(try Self.increment(supervisor.workers[0]).status == 200) }
        for _ in 0..<3 { #expect(try Self.increment(supervisor.workers[1]).status == 200) }
        #expect(supervisor.monitor().isEmpty, "nothing to restart while all run")

        let old = supervisor.workers[0]
        supervisor.kill(worker: 0)
        #expect(ProcessTable.waitGone([old.pid], timeout: Self.patience).isEmpty)

        // The exit watch restarts it with no call from here; monitor() then has nothing left to do.
        #expect(Poll.until(timeout: 60) { supervisor.workers[0].pid != old.pid && supervisor.workers[0].status == .alive })
        let fresh = supervisor.workers[0]
        #expect(fresh.isRunning)
        let events = lines.withLockedValue { $0 }
        #expect(events.contains { $0.contains("pid \(old.pid)") && $0.contains("restarting") }, "\(events)")
        #expect(events.contains { $0.contains("back as pid \(fresh.pid)") }, "\(events)")

        let report = try Self.report(fresh)
        #expect(report.status == 200)
        #expect(report.pid == fresh.pid, "the answer comes from the new process")
        // shm: the count lives in the segment, which outlived the worker.
        // global: the count lived in the worker, and died with it.
        let carried = strategy == .shm ? 8 : 0
        #expect(report.count == carried)
        #expect(try Self.increment(fresh).count == carried + 1)
        #expect(try Self.report(supervisor.workers[1]).count == (strategy == .shm ? 9 : 3))
        #expect(supervisor.monitor().isEmpty)
    }

    @Test("redis via a URL: the app uses the given server, resets its counter to 0 at start, and leaves it running", .enabled(if: RedisRequirement.runs, RedisRequirement.skipReason))
    func redisURLServer() throws {
        let server = try RedisServerProcess.launch()
        defer { server.stop() }
        let observer = try RedisSession(url: server.url, timeout: 5)
        defer { observer.close() }
        for _ in 0..<7 { _ = try observer.increment(mode: .atomic, raceWindowMicros: 0) }
        #expect(try observer.read() == 7)

        let supervisor = try Supervisor.start(AppConfig(strategy: .redis, mode: .atomic, workers: 2,
                                                        redisURL: server.url.description, executable: Binary.path))
        defer { supervisor.stop() }
        #expect(supervisor.redisPID == nil, "no redis-server of its own")
        #expect(try observer.read() == 0, "the run started from 0")
        #expect(supervisor.readAll().map(\.value) == [0, 0])
        for worker in supervisor.workers {
            for _ in 0..<2 { #expect(try Self.increment(worker).status == 200) }
        }
        #expect(try observer.read() == 4, "the increments went to the named server")
        #expect(supervisor.readAll().map(\.value) == [4, 4])

        let workerPIDs = supervisor.workers.map(\.pid)
        supervisor.stop()
        #expect(ProcessTable.waitGone(workerPIDs, timeout: Self.patience).isEmpty)
        #expect(server.isRunning, "stopping the app leaves a server it did not start")
        #expect(try observer.read() == 4)
    }
}
