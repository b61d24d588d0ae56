import Foundation
import StateLab
import StateLabTestSupport
import StateLabDashboard
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The live engine on real processes, without a terminal: what the dashboard
/// would show is read straight from the events it drains.
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["STATELAB_DASHBOARD_DEMO"] == nil))
struct LiveEngineTests {
    @Test func atomicSharedMemoryLosesNothing() async throws {
        let run = EngineRun(strategy: .shm, mode: .atomic, workers: 4, burst: 1_500)
        try await run.whileRunning {
            try await run.waitForApp()
            run.engine.perform(.fireBurst)
            let totals = try await run.waitForBurst()
            #expect(totals.lost == 0)
            #expect(totals.duplicates == 0)
            #expect(totals.acknowledged + totals.failed + totals.indeterminate == 1_500)
            // Exactly 1,500 on a quiet machine; an increment that timed out on a saturated one may add to it.
            let store = try #require(totals.storeValue)
            #expect(store >= totals.acknowledged && store <= totals.acknowledged + totals.indeterminate)
        }
    }

    @Test func globalWorkersDivergeAndResetOneResetsOnlyThatRow() async throws {
        let run = EngineRun(strategy: .global, mode: .naive, workers: 4, burst: 2_000)
        try await run.whileRunning {
            try await run.waitForApp()
            run.engine.perform(.fireBurst)
            let totals = try await run.waitForBurst()
            let verdict = run.consumed
            #expect(totals.acknowledged == 2_000)

            // Each worker counts only what it served: reads differ, and together they are everything acknowledged.
            let rows = try await run.waitForWorkers("every worker read, summing to \(totals.acknowledged)") { rows in
                rows.count == 4 && rows.allSatisfy { $0.currentRead != nil }
                    && rows.compactMap(\.currentRead).reduce(0, +) == totals.acknowledged
            }
            let reads = rows.compactMap(\.currentRead)
            #expect(Set(reads).count > 1, "4 global workers should not all hold the same count: \(reads)")
            for row in rows { #expect(row.currentRead == row.acknowledged, "worker \(row.index): \(row)") }

            // Reset through the busiest worker: only its own counter goes to 0. (Not a fixed index: the
            // kernel spreads the 16 connections over SO_REUSEPORT sockets by hash, and a given worker
            // gets none of them about once in a hundred runs.)
            let target = try #require(rows.max { ($0.currentRead ?? 0) < ($1.currentRead ?? 0) })
            #expect((target.currentRead ?? 0) > 0, "no worker served anything: \(reads)")
            run.engine.perform(.resetOne(worker: target.index))
            _ = try await run.waitForLog("the reset's log line") {
                $0.contains("reset through worker \(target.index) (pid \(target.pid))") && $0.contains("only that worker's own counter")
            }
            let after = try await run.waitForWorkers("worker \(target.index) reset") { rows in
                rows.first { $0.index == target.index }?.currentRead == 0
            }
            for row in after where row.index != target.index {
                let before = try #require(rows.first { $0.index == row.index })
                #expect(row.currentRead == before.currentRead, "worker \(row.index) changed after resetting worker \(target.index)")
                #expect(row.acknowledged == before.acknowledged)
            }
            #expect(after.first { $0.index == target.index }?.acknowledged == 0)
            // No burst runs from the verdict on, so every snapshot since, before the reset or after it,
            // pairs each global worker's read with its own acknowledgements: a sample that read the
            // target after its reset but took the acknowledgements from before it would show here.
            for snapshot in run.workerSnapshots(since: verdict) {
                for row in snapshot where row.currentRead != nil {
                    #expect(row.currentRead == row.acknowledged, "worker \(row.index) read against acknowledgements from the other side of the reset: \(snapshot)")
                }
            }
        }
    }

    @Test func aKillIsLoggedOnceAndItsRestartOnce() async throws {
        let run = EngineRun(strategy: .shm, mode: .atomic, workers: 2, burst: 100)
        try await run.whileRunning {
            try await run.waitForApp()
            let rows = try await run.waitForWorkers("two live workers") { rows in
                rows.count == 2 && rows.allSatisfy { $0.status == .alive && $0.currentRead != nil }
            }
            let victim = try #require(rows.first { $0.index == 0 })
            run.engine.perform(.killWorker(worker: 0))
            // A reset runs on the same serial queue as the kill: once its line is in, every line of the kill is too.
            run.engine.perform(.resetOne(worker: 1))
            _ = try await run.waitForLog("the reset after the kill") { $0.contains("reset through worker 1") }

            let lines = run.logLines
            let repeated = Dictionary(lines.map { ($0, 1) }, uniquingKeysWith: +).filter { $0.value > 1 }
            #expect(repeated.isEmpty, "lines logged more than once: \(repeated)")
            let killed = lines.filter { $0.contains("SIGKILL") || $0.contains("killed worker") }
            #expect(killed.count == 1 && killed.first?.contains("worker 0 (pid \(victim.pid))") == true, "the kill: \(killed)")
            let restarting = lines.filter { $0.contains("restarting") }
            #expect(restarting.count == 1 && restarting.first?.contains("worker 0 (pid \(victim.pid))") == true, "the restart: \(restarting)")
            let back = lines.filter { $0.contains("is back as pid") }
            #expect(back.count == 1 && back.first?.contains("worker 0") == true, "the return: \(back)")
        }
    }

    @Test func killedWorkerComesBackWithANewPid() async throws {
        let run = EngineRun(strategy: .shm, mode: .atomic, workers: 2, burst: 100)
        try await run.whileRunning {
            try await run.waitForApp()
            let rows = try await run.waitForWorkers("two live workers") { rows in
                rows.count == 2 && rows.allSatisfy { $0.status == .alive && $0.currentRead != nil }
            }
            let victim = try #require(rows.first { $0.index == 1 })
            run.engine.perform(.killWorker(worker: 1))
            let after = try await run.waitForWorkers("worker 1 back with a new pid") { rows in
                guard let row = rows.first(where: { $0.index == 1 }) else { return false }
                return row.pid != victim.pid && row.status == .alive && row.currentRead != nil
            }
            #expect(ProcessTable.waitGone([victim.pid]).isEmpty, "the killed worker \(victim.pid) is still there")
            #expect(after.first { $0.index == 0 }?.pid == rows.first { $0.index == 0 }?.pid, "worker 0 should be untouched")
            #expect(run.logLines.contains { $0.contains("SIGKILL to worker 1 (pid \(victim.pid))") })
            #expect(run.logLines.contains { $0.contains("worker 1 is back as pid") })
        }
    }

    @Test func managerStoreKilledAndStartedAgain() async throws {
        let run = EngineRun(strategy: .manager, mode: .atomic, workers: 2, burst: 300)
        try await run.whileRunning {
            try await run.waitForApp()
            run.engine.perform(.fireBurst)
            let first = try await run.waitForBurst()
            #expect(first.acknowledged == 300 && first.lost == 0)
            _ = try await run.waitForWorkers("two workers reading 300") { rows in
                rows.count == 2 && rows.allSatisfy { $0.status == .alive && $0.currentRead == 300 }
            }

            run.engine.perform(.killStore)
            let kill = try await run.waitForLog("the store's kill") { $0.hasPrefix("SIGKILL to the manager store (pid ") }
            let killedAt = run.consumed
            #expect(kill.hasSuffix("workers answer 503 until U"))
            let managerPid = try #require(Int32(kill.dropFirst("SIGKILL to the manager store (pid ".count).prefix { $0.isNumber }))
            _ = try await run.waitForWorkers("every row marked store down") { rows in
                rows.count == 2 && rows.allSatisfy { $0.status == .storeDown && $0.currentRead == nil }
            }
            #expect(await OffThread.run { ProcessTable.waitGone([managerPid]) }.isEmpty, "the manager \(managerPid) outlived its SIGKILL")

            // Nothing left to kill: a second K says so.
            run.engine.perform(.killStore)
            let again = try await run.waitFor("the second K's refusal") { event -> String? in
                if case .error(let text) = event { return text }
                return nil
            }
            #expect(again.contains("not running"), "\(again)")

            // A burst with the store down runs: every increment fails (503). The totals still count
            // from the app's start (the first 300); with no store to read, nothing is called lost.
            run.engine.perform(.fireBurst)
            let failing = try await run.waitForBurst()
            #expect(failing.acknowledged == 300 && failing.storeValue == nil && failing.lost == 0, "\(failing)")
            #expect(failing.failed + failing.indeterminate == 300 && failing.failed > 0, "\(failing)")

            run.engine.perform(.restartStore)
            let backLine = try await run.waitForLog("the store back") { $0.hasPrefix("the manager store is back as pid ") }
            let backAt = run.consumed
            let restarted = try #require(Int32(backLine.dropFirst("the manager store is back as pid ".count)))
            let kept = try await run.waitForLog("what the store kept") { $0.contains("came back at") }
            let keptAt = run.consumed
            #expect(kept.hasPrefix("the manager store came back at 0: its count lived only in its process (it held 300 when killed)"), "\(kept)")
            _ = try await run.waitForWorkers("rows alive again, reading 0") { rows in
                rows.count == 2 && rows.allSatisfy { $0.status == .alive && $0.currentRead == 0 }
            }
            // Store down from the kill until the store was back, and never once it read again.
            for snapshot in run.workerSnapshots(since: killedAt, until: backAt) {
                #expect(snapshot.allSatisfy { $0.status == .storeDown }, "a row not marked while the store was down: \(snapshot)")
            }

            // U again: the store runs, and it says so.
            run.engine.perform(.restartStore)
            let running = try await run.waitFor("the second U's refusal") { event -> String? in
                if case .error(let text) = event { return text }
                return nil
            }
            #expect(running.contains("is running"), "\(running)")

            // Counting starts from what the store kept: the 300 it forgot are not blamed on a race.
            run.engine.perform(.fireBurst)
            let after = try await run.waitForBurst()
            #expect(after.acknowledged == 300 && after.lost == 0 && after.storeValue == 300, "\(after)")
            for snapshot in run.workerSnapshots(since: keptAt) {
                #expect(!snapshot.contains { $0.status == .storeDown }, "a row still marked after the store was back: \(snapshot)")
            }
            // The manager U started is the app's like the first one: stopped with it.
            await run.shutDown()
            #expect(await OffThread.run { ProcessTable.waitGone([restarted]) }.isEmpty, "the restarted manager \(restarted) outlived the dashboard")
        }
    }

    @Test func aStoreKilledMidBurstFailsTheRestAndUChecksTheBurstFirst() async throws {
        // A burst far longer than the test: K lands in it, and U stops it.
        let run = EngineRun(strategy: .manager, mode: .atomic, workers: 2, burst: 1_000_000)
        try await run.whileRunning {
            try await run.waitForApp()
            run.engine.perform(.fireBurst)
            _ = try await run.waitFor("increments done") { event -> Bool? in
                if case .burstProgress(let done, _) = event, done > 0 { return true }
                return nil
            }
            run.engine.perform(.killStore)
            _ = try await run.waitForLog("the store's kill") { $0.hasPrefix("SIGKILL to the manager store (pid ") }
            _ = try await run.waitFor("a failed increment") { event -> Bool? in
                if case .totals(let totals) = event, totals.failed + totals.indeterminate > 0 { return true }
                return nil
            }
            run.engine.perform(.restartStore)
            // U stops the burst and lets its check finish before the store comes back: increments
            // acknowledged before the kill, failures after it, and nothing called lost with no store to read.
            let checked = try await run.waitForBurst()
            #expect(checked.acknowledged > 0 && checked.failed + checked.indeterminate > 0, "\(checked)")
            #expect(checked.storeValue == nil && checked.lost == 0, "\(checked)")
            let kept = try await run.waitForLog("what the store kept") { $0.contains("came back at") }
            #expect(kept.hasPrefix("the manager store came back at 0: its count lived only in its process"), "\(kept)")
            _ = try await run.waitForWorkers("rows alive again, reading 0") { rows in
                rows.count == 2 && rows.allSatisfy { $0.status == .alive && $0.currentRead == 0 }
            }
        }
    }

    @Test func restartAppOnGlobalStartsEveryCountAgain() async throws {
        let run = EngineRun(strategy: .global, mode: .naive, workers: 2, burst: 200)
        try await run.whileRunning {
            try await run.waitForApp()
            run.engine.perform(.fireBurst)
            #expect(try await run.waitForBurst().acknowledged == 200)
            let before = try await run.waitForWorkers("two live workers") { rows in
                rows.count == 2 && rows.allSatisfy { $0.status == .alive && $0.currentRead != nil }
            }
            let old = Set(before.map(\.pid))
            run.engine.perform(.restartApp)
            let line = try await run.waitForLog("what the restart left") { $0.hasPrefix("the workers came back at") }
            #expect(line == "the workers came back at 0: each count lived in its own worker's process")
            _ = try await run.waitForWorkers("two new pids at 0") { rows in
                rows.count == 2 && rows.allSatisfy { $0.status == .alive && !old.contains($0.pid) && $0.currentRead == 0 }
            }
            // What the old workers counted died with them; the next burst is checked on its own.
            run.engine.perform(.fireBurst)
            let totals = try await run.waitForBurst()
            #expect(totals.acknowledged == 200 && totals.lost == 0, "\(totals)")
        }
    }

    @Test func redisWithAnAppendOnlyFileComesBackWithItsCount() async throws {
        guard RedisRequirement.shouldRun() else { return }
        let run = EngineRun(strategy: .redis, mode: .atomic, workers: 2, burst: 300) { $0.redisAppendOnly = true }
        try await run.whileRunning {
            try await run.waitForApp()
            run.engine.perform(.fireBurst)
            #expect(try await run.waitForBurst().acknowledged == 300)
            _ = try await run.waitForWorkers("two workers reading 300") { rows in
                rows.count == 2 && rows.allSatisfy { $0.status == .alive && $0.currentRead == 300 }
            }
            run.engine.perform(.killStore)
            _ = try await run.waitForLog("the store's kill") { $0.hasPrefix("SIGKILL to the redis store (pid ") }
            run.engine.perform(.restartStore)
            let kept = try await run.waitForLog("what the store kept") { $0.contains("came back at") }
            #expect(kept.hasPrefix("the redis store came back at 300: it kept its count (300 when killed)"), "\(kept)")
            _ = try await run.waitForWorkers("rows alive again, counting from the restart") { rows in
                rows.count == 2 && rows.allSatisfy { $0.status == .alive && $0.currentRead == 0 }
            }
            let firedAt = run.consumed
            run.engine.perform(.fireBurst)
            let totals = try await run.waitForBurst()
            #expect(totals.acknowledged == 300 && totals.lost == 0 && totals.storeValue == 300, "\(totals)")
            let finals = try #require(run.workerSnapshots(since: firedAt, until: run.consumed).last)
            #expect(finals.allSatisfy { $0.currentRead == 300 }, "\(finals)")
        }
    }

    @Test func sqliteHasNoStoreProcessToKill() async throws {
        let run = EngineRun(strategy: .sqlite, mode: .atomic, workers: 2, burst: 200)
        try await run.whileRunning {
            try await run.waitForApp()
            let rows = try await run.waitForWorkers("two live workers") { rows in
                rows.count == 2 && rows.allSatisfy { $0.status == .alive && $0.currentRead != nil }
            }
            for action in [DashboardAction.killStore, .restartStore] {
                run.engine.perform(action)
                let refusal = try await run.waitFor("the refusal of \(action)") { event -> String? in
                    if case .error(let text) = event { return text }
                    return nil
                }
                #expect(refusal.contains("sqlite has no store process to kill or restart"), "\(refusal)")
            }
            run.engine.perform(.fireBurst)
            let totals = try await run.waitForBurst()
            #expect(totals.acknowledged == 200 && totals.lost == 0, "\(totals)")
            let after = try await run.waitForWorkers("the same two workers, alive") { rows in
                rows.count == 2 && rows.allSatisfy { $0.status == .alive }
            }
            #expect(Set(after.map(\.pid)) == Set(rows.map(\.pid)))
        }
    }

    @Test func restartAppOnSharedMemoryGivesNewPidsAndKeepsTheCount() async throws {
        let run = EngineRun(strategy: .shm, mode: .atomic, workers: 2, burst: 400)
        try await run.whileRunning {
            try await run.waitForApp()
            run.engine.perform(.fireBurst)
            #expect(try await run.waitForBurst().acknowledged == 400)
            let before = try await run.waitForWorkers("two workers reading 400") { rows in
                rows.count == 2 && rows.allSatisfy { $0.status == .alive && $0.currentRead == 400 }
            }
            let old = Set(before.map(\.pid))

            run.engine.perform(.restartApp)
            _ = try await run.waitForWorkers("every row restarting") { rows in
                rows.count == 2 && rows.allSatisfy { $0.status == .restarting }
            }
            let line = try await run.waitForLog("the restart") { $0.hasPrefix("restarted every worker: ") }
            for pid in old { #expect(line.contains("pid \(pid) -> "), "\(line) lacks pid \(pid)") }
            let kept = try await run.waitForLog("what the store kept") { $0.contains("through the restart") }
            #expect(kept.hasPrefix("the shm store kept its count through the restart: 400"), "\(kept)")
            let after = try await run.waitForWorkers("two new pids, alive") { rows in
                rows.count == 2 && rows.allSatisfy { $0.status == .alive && !old.contains($0.pid) && $0.currentRead == 0 }
            }
            #expect(await OffThread.run { ProcessTable.waitGone(Array(old)) }.isEmpty, "old workers left after A")

            // The new workers count on from the 400 the store kept: nothing is lost.
            let firedAt = run.consumed
            run.engine.perform(.fireBurst)
            let totals = try await run.waitForBurst()
            #expect(totals.acknowledged == 400 && totals.lost == 0 && totals.storeValue == 400, "\(totals)")
            // The rows drawn with the verdict read as it does: the baseline taken off once.
            let finals = try #require(run.workerSnapshots(since: firedAt, until: run.consumed).last)
            #expect(finals.allSatisfy { $0.currentRead == 400 }, "\(finals)")
            #expect(run.seenPids.isSuperset(of: after.map(\.pid)))
        }
    }

    @Test func shutdownLeavesNoProcess() async throws {
        let run = EngineRun(strategy: .manager, mode: .locked, workers: 3, burst: 300)
        try await run.whileRunning {
            try await run.waitForApp()
            run.engine.perform(.fireBurst)
            let totals = try await run.waitForBurst()
            #expect(totals.lost == 0 && totals.acknowledged == 300)
            _ = try await run.waitForWorkers("three live workers") { $0.count == 3 && $0.allSatisfy { $0.status == .alive } }
            let pids = run.seenPids
            #expect(pids.count >= 3)
            // The worker's command line names its run directory; the manager's socket lives there too.
            let worker = try #require(pids.first)
            let spec = try #require(ProcessTable.arguments(worker).drop { $0 != "--spec" }.dropFirst().first)
            let runDirectory = (spec as NSString).deletingLastPathComponent
            let managers = ProcessTable.children(of: getpid()).filter {
                let arguments = ProcessTable.arguments($0)
                return arguments.dropFirst().first == "manager" && arguments.contains { $0.hasPrefix(runDirectory + "/") }
            }
            #expect(managers.count == 1, "expected this run's manager among our children")
            #expect(FileManager.default.fileExists(atPath: runDirectory))

            await run.shutDown()
            #expect(ProcessTable.waitGone(Array(pids)).isEmpty, "workers left after shutdown")
            #expect(ProcessTable.waitGone(managers).isEmpty, "the manager is left after shutdown")
            #expect(!FileManager.default.fileExists(atPath: runDirectory), "run directory \(runDirectory) left behind")
        }
    }
}

/// The dashboard watching an app it did not start, at a URL: rows come from the pids it sees.
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["STATELAB_DASHBOARD_DEMO"] == nil))
struct LiveEngineURLTests {
    @Test func anAppAtAURLGetsRowsPerPidAVerdictAndAReset() async throws {
        let app = try Supervisor.start(AppConfig(strategy: .shm, mode: .atomic, workers: 3, port: 0, storeThreads: 2,
                                                 executable: Binary.path))
        defer { app.stop() }
        let pids = Set(app.workers.map(\.pid))
        let run = EngineRun(strategy: .global, mode: .naive, workers: 1, burst: 900,
                            target: .url(host: "127.0.0.1", port: app.port, sharing: .auto))
        try await run.whileRunning {
            try await run.waitForApp()
            run.engine.perform(.fireBurst)
            let totals = try await run.waitForBurst()
            #expect(totals.acknowledged + totals.failed + totals.indeterminate == 900)
            #expect(totals.lost == 0 && totals.duplicates == 0, "shm atomic behind a URL lost updates: \(totals)")
            let rows = try await run.waitForWorkers("rows for the pids that answered") { !$0.isEmpty }
            #expect(Set(rows.map(\.pid)).isSubset(of: pids), "rows \(rows) name pids that are not the app's \(pids)")
            #expect(rows.map(\.acknowledged).reduce(0, +) == totals.acknowledged)

            run.engine.perform(.resetAll)
            let line = try await run.waitForLog("the reset") { $0.hasPrefix("POST /reset answered by") }
            #expect(line.contains("pid"))
            // k cannot reach a worker of an app statelab did not start: it says so.
            run.engine.perform(.killWorker(worker: 0))
            let refusal = try await run.waitFor("the refusal to kill") { event -> String? in
                if case .error(let text) = event { return text }
                return nil
            }
            #expect(refusal.contains("not of an app at a URL"))
            // Nor its store: K, U and A act on statelab's own app.
            run.engine.perform(.killStore)
            let storeRefusal = try await run.waitFor("the refusal to kill the store") { event -> String? in
                if case .error(let text) = event { return text }
                return nil
            }
            #expect(storeRefusal == "K kills the store of statelab's own app only, not of http://127.0.0.1:\(app.port)")
            #expect(app.workers.allSatisfy { $0.isRunning })
        }
    }
}

/// One engine on the built statelab binary, and everything it reported so far.
final class EngineRun: @unchecked Sendable {
    struct Timeout: Error, CustomStringConvertible {
        var description: String
    }

    let engine: LiveEngine
    /// The workers are the engine's to stop (not those of an app it only watches).
    let ownsWorkers: Bool
    private(set) var events: [DashboardEvent] = []
    private(set) var seenPids: Set<Int32> = []
    /// How many of `events` the waits have looked at.
    private(set) var consumed = 0

    init(strategy: Strategy, mode: Mode, workers: Int, burst: Int, target: DashboardTarget = .ownApp,
         configure: (inout LiveEngine.Options) -> Void = { _ in }) {
        let settings = DashboardSettings(strategy: strategy, mode: mode, workers: workers, concurrency: 16,
                                         raceWindowMicroseconds: 0)
        var options = LiveEngine.Options(settings: settings, burstSize: burst, storeThreads: 2,
                                         executable: Binary.path, target: target)
        configure(&options)
        engine = LiveEngine(options: options)
        ownsWorkers = target == .ownApp
        engine.start()
    }

    var logLines: [String] {
        events.compactMap { event in
            switch event {
            case .log(_, let text), .error(let text): return text
            default: return nil
            }
        }
    }

    /// Drains new events until `match` finds one it wants (bounded), remembering everything.
    func waitFor<T>(_ what: String, seconds: Double = 180, _ match: (DashboardEvent) -> T?) async throws -> T {
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            while consumed < events.count {
                let event = events[consumed]
                consumed += 1
                if let found = match(event) { return found }
                if case .error(let message) = event { throw Timeout(description: "engine error while waiting for \(what): \(message)") }
            }
            if Date() > deadline { throw Timeout(description: "no \(what) after \(seconds) s; log: \(logLines)") }
            let fresh = engine.drainEvents()
            for case .workers(let rows) in fresh { seenPids.formUnion(rows.map(\.pid)) }
            events += fresh
            // Sleeping, not blocking: the engine's burst needs the same few cooperative threads.
            if fresh.isEmpty { try await Task.sleep(nanoseconds: 20_000_000) }
        }
    }

    /// The app is up: its settings were reported.
    func waitForApp() async throws {
        _ = try await waitFor("the app to start") { event -> Bool? in
            if case .settings = event { return true }
            return nil
        }
    }

    func waitForBurst() async throws -> RunTotals {
        try await waitFor("the burst to finish") { event in
            if case .burstFinished(let totals) = event { return totals }
            return nil
        }
    }

    /// The first log line (from now on) that satisfies `condition`.
    func waitForLog(_ what: String, _ condition: @escaping (String) -> Bool) async throws -> String {
        try await waitFor(what) { event in
            if case .log(_, let text) = event, condition(text) { return text }
            return nil
        }
    }

    /// Every worker snapshot drained so far from event `start` on (up to `end`).
    func workerSnapshots(since start: Int, until end: Int? = nil) -> [[WorkerRow]] {
        events[start..<(end ?? events.count)].compactMap { event in
            if case .workers(let rows) = event { return rows }
            return nil
        }
    }

    /// The first worker snapshot (from now on) that satisfies `condition`.
    func waitForWorkers(_ what: String, _ condition: @escaping ([WorkerRow]) -> Bool) async throws -> [WorkerRow] {
        try await waitFor(what) { event in
            if case .workers(let rows) = event, condition(rows) { return rows }
            return nil
        }
    }

    /// Runs `body`, then shuts the engine down whatever happened. Off the cooperative pool:
    /// shutdown waits for the engine's own tasks, which need the pool's threads, so two tests
    /// blocking in it on a 2-core machine would stall every async test until its backstop.
    func whileRunning(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch {
            await stop()
            throw error
        }
        await stop()
    }

    func shutDown() async {
        let engine = self.engine
        await OffThread.run { engine.shutdown() }
    }

    func stop() async {
        await shutDown()
        let pids = Array(seenPids)
        if ownsWorkers { _ = await OffThread.run { ProcessTable.waitGone(pids) } }
    }
}
