import Foundation
import StateLab
import StateLabTestSupport
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The run pipeline on real worker processes, with a worker that stops
/// answering (SIGSTOP): at the end of a run, for the whole run, and as the
/// worker a mid-run reset goes through. Serialized: each test runs a whole
/// app on a 2-core machine.
@Suite(.serialized)
struct PipelineTests {
    /// Processes a test stopped, all continued before the app is stopped (a
    /// stopped worker would hold SIGTERM pending until its grace ran out).
    final class StoppedProcesses: Sendable {
        private let pids = Mutex<[Int32]>([])

        /// SIGSTOP, waiting (bounded) until the kernel shows it stopped.
        @discardableResult
        func stop(_ pid: Int32) -> Bool {
            pids.withLock { $0.append(pid) }
            return ProcessTable.stop(pid)
        }

        /// Stops `pid` the first time it is called; later calls do nothing.
        func stopOnce(_ pid: Int32) {
            guard pids.withLock({ $0.isEmpty }) else { return }
            stop(pid)
        }

        var all: [Int32] { pids.withLock { $0 } }

        func continueAll() {
            for pid in all { kill(pid, SIGCONT) }
        }
    }

    static func start(workers: Int) throws -> Supervisor {
        try Supervisor.start(AppConfig(strategy: .shm, mode: .atomic, workers: workers, executable: Binary.path))
    }

    /// The load ends, the progress callback stops worker 1 before the final
    /// reads begin: worker 1 is `unread` with its pid and why, and the shared
    /// counter is checked from worker 0's read alone.
    @Test("a worker stopped at the end of the run is unread; the check uses the other (shm atomic, 2 workers)")
    func stoppedWorkerIsUnread() async throws {
        let supervisor = try Self.start(workers: 2)
        let stopped = StoppedProcesses()
        defer {
            stopped.continueAll()
            supervisor.stop()
        }
        let (kept, frozen) = (supervisor.workers[0], supervisor.workers[1])
        let outcome = try await RunPipeline.run(
            target: SupervisorTarget(supervisor: supervisor),
            // A long timeout: on a loaded machine no increment should time out here.
            plan: LoadPlan(port: supervisor.port, stop: .count(1000), concurrency: 4, timeout: 30),
            steps: RunSteps(), sharing: .yes
        ) { phase, _ in
            // Called once the load has ended, before the first final read.
            if phase == .reading { stopped.stop(frozen.pid) }
        }
        #expect(stopped.all == [frozen.pid])
        #expect(ProcessTable.state(frozen.pid) == "T", "worker 1 was stopped during the final reads")
        let check = outcome.check
        #expect(check.unread.map(\.pid) == [frozen.pid], "\(check.unread)")
        #expect(check.unread.first?.worker == 1)
        #expect(check.unread.first?.reason.isEmpty == false)
        #expect(check.perWorker.map(\.pid) == [kept.pid], "only worker 0 was read: \(check.perWorker)")
        #expect(check.acknowledged == 1000, "failed \(check.failed), indeterminate \(check.indeterminate)")
        #expect(check.final == check.acknowledged, "the final count comes from worker 0's read of the shared counter")
        #expect(check.lost == 0)
        #expect(check.inconclusive == nil, "\(check.inconclusive ?? "")")
        #expect(check.verdict == .ok)
        let run = RunResult(strategy: .shm, mode: .atomic, workers: 2, concurrency: 4, outcome: outcome)
        #expect(run.failures.isEmpty, "\(run.failures)")
    }

    /// The only worker stops mid-run: requests it holds time out
    /// (indeterminate), no final read is possible, and the verdict is unknown,
    /// which fails the run. Duration-limited with a 1 s request timeout: a
    /// count-limited load would wait out a timeout for every request left.
    @Test("the only worker stopped mid-run: unread, verdict unknown, the run fails")
    func onlyWorkerStoppedIsUnknown() async throws {
        let supervisor = try Self.start(workers: 1)
        let stopped = StoppedProcesses()
        defer {
            stopped.continueAll()
            supervisor.stop()
        }
        let only = supervisor.workers[0]
        // Stopped from a Dispatch thread once it has counted 50 (some answered), not from the progress callback:
        // on a loaded test run, blocking tests can hold Swift's few cooperative threads, so the
        // progress task may not run before the load ends (then nothing is in flight to time out).
        let stopper = DispatchGroup()
        DispatchQueue.global().async(group: stopper) {
            let deadline = Date().addingTimeInterval(60)
            while Date() < deadline {
                if let answer = try? ControlClient.request("GET", "/report", socketPath: only.socketPath, timeout: 1),
                   let count = answer.count, count >= 50 {
                    stopped.stopOnce(only.pid)
                    return
                }
                usleep(5_000)
            }
        }
        let outcome = try await RunPipeline.run(
            target: SupervisorTarget(supervisor: supervisor),
            plan: LoadPlan(port: supervisor.port, stop: .duration(5), concurrency: 4, timeout: 1),
            steps: RunSteps(), sharing: .yes
        )
        #expect(stopper.wait(timeout: .now() + 60) == .success)
        #expect(stopped.all == [only.pid], "the worker never counted an increment")
        let check = outcome.check
        #expect(check.acknowledged > 0)
        #expect(check.indeterminate > 0, "requests sent to the stopped worker time out as indeterminate")
        #expect(check.unread.map(\.pid) == [only.pid], "\(check.unread)")
        #expect(check.perWorker.isEmpty)
        #expect(check.verdict == .unknown)
        #expect(check.inconclusive?.contains("no worker could be read") == true, "\(check.inconclusive ?? "nil")")
        let run = RunResult(strategy: .shm, mode: .atomic, workers: 1, concurrency: 4, outcome: outcome)
        #expect(run.failures.contains { $0.hasPrefix("verdict unknown") }, "\(run.failures)")
        #expect(CompareReport(scenarioName: "stopped", scenarioPath: "-", runs: [run]).exitCode == 1)
    }

    /// Worker 1 is stopped before the load; the reset at 300 acknowledged goes
    /// through it and gets no answer within its 1 s timeout: indeterminate,
    /// through the real path (ControlExchange on the worker's socket). The
    /// store is atomic and the reset never ran (its worker stayed stopped
    /// through the final reads), so nothing is lost. Increments that land on
    /// the stopped worker time out as indeterminate too.
    @Test("a reset through a worker that does not answer is indeterminate; shm atomic still checks ok")
    func resetWithoutAnswerIsIndeterminate() async throws {
        let supervisor = try Self.start(workers: 2)
        let stopped = StoppedProcesses()
        defer {
            stopped.continueAll()
            supervisor.stop()
        }
        let silent = supervisor.workers[1]
        try #require(stopped.stop(silent.pid), "worker 1 did not stop")
        let outcome = try await RunPipeline.run(
            target: SupervisorTarget(supervisor: supervisor),
            plan: LoadPlan(port: supervisor.port, stop: .count(2000), concurrency: 8, timeout: 1),
            steps: RunSteps(resetAfter: 300, resetWorker: 1, resetTimeout: 1), sharing: .yes)
        let check = outcome.check
        #expect(check.resets.count == 1, "\(check.resets)")
        let reset = try #require(check.resets.first)
        #expect(reset.outcome == .indeterminate)
        #expect(reset.worker == 1)
        #expect(reset.pid == silent.pid)
        // One load event loop: the reset starts in the same critical section as the 300th acknowledgement.
        #expect(reset.acknowledgedBefore == 300)
        #expect(reset.error?.contains("no answer") == true, "\(reset.error ?? "nil")")
        #expect(outcome.notes.contains { $0.contains("got no answer") }, "\(outcome.notes)")
        #expect(check.unread.map(\.pid) == [silent.pid])
        #expect(check.lost == 0)
        #expect(check.duplicates == 0)
        #expect(check.verdict != .lostUpdates)
        // Nothing that counted is in doubt except the increments that timed
        // out: the reset did not apply (its worker never ran again before the
        // final reads), so every acknowledged increment is certain. Only if the
        // timeouts outnumbered them would the check call itself inconclusive.
        #expect(check.acknowledgedSinceReset == check.acknowledged)
        if check.indeterminate <= check.acknowledgedSinceReset {
            #expect(check.verdict == .ok, "\(check.inconclusive ?? "") indeterminate \(check.indeterminate)")
            #expect(check.inconclusive == nil)
        } else {
            #expect(check.verdict == .errors)
            #expect(check.inconclusive?.contains("more increments are uncertain") == true)
        }
    }
}
