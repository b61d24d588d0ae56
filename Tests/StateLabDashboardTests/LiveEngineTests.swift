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
            // The scenario step's own words, fired through the fault runner: the kill and its replacement in one line.
            let killed = lines.filter { $0.contains("SIGKILL") }
            #expect(killed.count == 1 && killed.first?.hasPrefix("k kill_worker:0: killed worker 0 (pid \(victim.pid)) with SIGKILL; replaced by pid ") == true,
                    "the kill: \(killed)")
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
            let new = try #require(after.first { $0.index == 1 }?.pid)
            // The rows are sampled on their own: the new pid may show before the step's line is in.
            let kill = { (text: String) in text.contains("killed worker 1 (pid \(victim.pid)) with SIGKILL") }
            var line = run.logLines.first(where: kill)
            if line == nil { line = try await run.waitForLog("the kill's line", kill) }
            let logged = try #require(line)
            #expect(logged.hasSuffix("replaced by pid \(new)"), "\(logged)")
        }
    }

    /// kill -9 by pid from outside: the supervisor replaces the worker on its own, and the log says so.
    @Test func aWorkerKilledFromOutsideIsReplaced() async throws {
        let run = EngineRun(strategy: .shm, mode: .atomic, workers: 2, burst: 100)
        try await run.whileRunning {
            try await run.waitForApp()
            let rows = try await run.waitForWorkers("two live workers") { rows in
                rows.count == 2 && rows.allSatisfy { $0.status == .alive && $0.currentRead != nil }
            }
            let victim = try #require(rows.first { $0.index == 0 })
            #expect(kill(victim.pid, SIGKILL) == 0)
            let line = try await run.waitForLog("the replacement") { $0.contains("(pid \(victim.pid)) was killed; the supervisor restarted it as pid ") }
            #expect(line.hasPrefix("worker 0 "), "\(line)")
            _ = try await run.waitForWorkers("worker 0 back with a new pid") { rows in
                rows.first { $0.index == 0 }.map { $0.pid != victim.pid && $0.status == .alive } ?? false
            }
        }
    }

    /// K and U on a manager: the same steps as a scenario's kill_store and
    /// restart_store, in the history, and the check judges the restart: the
    /// manager kept nothing, and the 300 it forgot are lost to the restart,
    /// not blamed on a race.
    @Test func managerStoreKilledAndStartedAgain() async throws {
        let run = EngineRun(strategy: .manager, mode: .atomic, workers: 2, burst: 300)
        try await run.whileRunning {
            try await run.waitForApp()
            run.engine.perform(.fireBurst)
            let first = try await run.waitForBurst()
            #expect(first.acknowledged == 300 && first.lost == 0 && first.verdict == .ok)
            _ = try await run.waitForWorkers("two workers reading 300") { rows in
                rows.count == 2 && rows.allSatisfy { $0.status == .alive && $0.currentRead == 300 }
            }

            run.engine.perform(.killStore)
            let kill = try await run.waitForLog("the store's kill") { $0.hasPrefix("K kill_store: killed the store (pid ") }
            let killedAt = run.consumed
            #expect(kill.hasSuffix("with SIGKILL at count 300"), "\(kill)")
            let managerPid = try #require(Int32(kill.dropFirst("K kill_store: killed the store (pid ".count).prefix { $0.isNumber }))
            // With the store down nothing can be read: the check says unknown, and the rows say why.
            let down = try await run.waitForCheck()
            #expect(down.verdict == .unknown, "\(down)")
            _ = try await run.waitForWorkers("every row marked store down") { rows in
                rows.count == 2 && rows.allSatisfy { $0.status == .storeDown && $0.currentRead == nil }
            }
            #expect(await OffThread.run { ProcessTable.waitGone([managerPid]) }.isEmpty, "the manager \(managerPid) outlived its SIGKILL")

            // Nothing left to kill: a second K says so, and fires nothing.
            run.engine.perform(.killStore)
            let again = try await run.waitForError("the second K's refusal")
            #expect(again == "K: the store is down already: U starts it again", "\(again)")

            // A burst with the store down runs: every increment fails (503), and with no store
            // to read nothing is called lost.
            run.engine.perform(.fireBurst)
            let failing = try await run.waitForBurst()
            #expect(failing.verdict == .unknown && failing.storeValue == nil && failing.lost == 0, "\(failing)")
            #expect(failing.failed + failing.indeterminate == 300 && failing.failed > 0, "\(failing)")

            run.engine.perform(.restartStore)
            let back = try await run.waitForLog("the store back") { $0.hasPrefix("U restart_store: restarted the store as pid ") }
            let backAt = run.consumed
            let restarted = try #require(Int32(back.dropFirst("U restart_store: restarted the store as pid ".count).prefix { $0.isNumber }))
            #expect(back.hasSuffix("then read count 0"), "\(back)")
            let judged = try await run.waitForCheck()
            let restart = try #require(judged.check?.restarts.last)
            #expect(restart.scope == .store && restart.before == 300 && restart.after == 0 && restart.durable == false, "\(restart)")
            #expect(judged.check?.lostToRestart == 300 && judged.lost == 0, "\(judged)")
            // K and U are in the history as the scenario steps they are; the refused second K is not.
            #expect(judged.check?.faults.map(\.step) == ["kill_store", "restart_store"], "\(String(describing: judged.check?.faults))")
            let sentence = try await run.waitForLog("the restart's judgement") { $0.hasPrefix("store restart at ") }
            #expect(sentence.hasSuffix("300 before, 0 after: not durable (300 lost to the restart)"), "\(sentence)")
            _ = try await run.waitForWorkers("rows alive again, reading 0") { rows in
                rows.count == 2 && rows.allSatisfy { $0.status == .alive && $0.currentRead == 0 }
            }
            // Store down from the kill until the store was back, and never once it read again.
            for snapshot in run.workerSnapshots(since: killedAt, until: backAt) {
                #expect(snapshot.allSatisfy { $0.status == .storeDown }, "a row not marked while the store was down: \(snapshot)")
            }

            // U again: the store runs, and it says so.
            run.engine.perform(.restartStore)
            let running = try await run.waitForError("the second U's refusal")
            #expect(running == "U: the store is running: K kills it first", "\(running)")

            // Counting goes on from what the store kept, in the same history: the 300 it forgot
            // stay lost to the restart, and the new 300 are all there.
            run.engine.perform(.fireBurst)
            let after = try await run.waitForBurst()
            #expect(after.lost == 0 && after.storeValue == 300 && after.check?.lostToRestart == 300, "\(after)")
            #expect(after.check?.restartSentences.last == restart.sentence)
            // The manager U started is the app's like the first one: stopped with it.
            await run.shutDown()
            #expect(await OffThread.run { ProcessTable.waitGone([restarted]) }.isEmpty, "the restarted manager \(restarted) outlived the dashboard")
        }
    }

    @Test func aStoreKillDuringABurstChecksTheBurstFirst() async throws {
        // A burst far longer than the test: K stops it, and its check comes before the kill.
        let run = EngineRun(strategy: .manager, mode: .atomic, workers: 2, burst: 1_000_000)
        try await run.whileRunning {
            try await run.waitForApp()
            run.engine.perform(.fireBurst)
            _ = try await run.waitFor("increments done") { event -> Bool? in
                if case .burstProgress(let done, _) = event, done > 0 { return true }
                return nil
            }
            run.engine.perform(.killStore)
            let checked = try await run.waitForBurst()
            #expect(checked.acknowledged > 0 && checked.verdict == .ok && checked.lost == 0, "\(checked)")
            let kill = try await run.waitForLog("the store's kill") { $0.hasPrefix("K kill_store: killed the store (pid ") }
            #expect(kill.contains("with SIGKILL at count ") && !kill.contains("in flight"), "\(kill)")
            #expect(try await run.waitForCheck().verdict == .unknown, "the store is down: nothing to read")
            run.engine.perform(.restartStore)
            let judged = try await run.waitForCheck()
            let restart = try #require(judged.check?.restarts.last)
            // Nothing was in flight when it was read: the count before is exact, and all the burst counted.
            #expect(restart.exact && restart.before == checked.storeValue && restart.after == 0 && restart.durable == false, "\(restart)")
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
            let line = try await run.waitForLog("the restart") { $0.hasPrefix("A restart_app: restarted every worker (") }
            for pid in old { #expect(line.contains("pid \(pid) -> "), "\(line) lacks pid \(pid)") }
            let judged = try await run.waitForCheck()
            let restart = try #require(judged.check?.restarts.last)
            #expect(restart.scope == .app && restart.before == 200 && restart.after == 0 && restart.durable == false, "\(restart)")
            _ = try await run.waitForWorkers("two new pids at 0") { rows in
                rows.count == 2 && rows.allSatisfy { $0.status == .alive && !old.contains($0.pid) && $0.currentRead == 0 }
            }
            // What the old workers counted died with them: lost to the restart, not to a race.
            run.engine.perform(.fireBurst)
            let totals = try await run.waitForBurst()
            #expect(totals.lost == 0 && totals.storeValue == 200 && totals.check?.lostToRestart == 200, "\(totals)")
        }
    }

    @Test(.enabled(if: RedisRequirement.runs, RedisRequirement.skipReason)) func redisWithAnAppendOnlyFileComesBackWithItsCount() async throws {
        let run = EngineRun(strategy: .redis, mode: .atomic, workers: 2, burst: 300) { $0.redisAppendOnly = true }
        try await run.whileRunning {
            try await run.waitForApp()
            run.engine.perform(.fireBurst)
            #expect(try await run.waitForBurst().acknowledged == 300)
            _ = try await run.waitForWorkers("two workers reading 300") { rows in
                rows.count == 2 && rows.allSatisfy { $0.status == .alive && $0.currentRead == 300 }
            }
            run.engine.perform(.killStore)
            _ = try await run.waitForLog("the store's kill") { $0.hasPrefix("K kill_store: killed the store (pid ") }
            run.engine.perform(.restartStore)
            _ = try await run.waitForLog("the store back") { $0.hasPrefix("U restart_store: restarted the store as pid ") }
            let judged = try await run.waitForCheck()
            let restart = try #require(judged.check?.restarts.last)
            #expect(restart.before == 300 && restart.after == 300 && restart.durable == true, "\(restart)")
            let sentence = try await run.waitForLog("the restart's judgement") { $0.hasPrefix("store restart at ") }
            #expect(sentence.hasSuffix("300 before, 300 after: durable"), "\(sentence)")
            _ = try await run.waitForWorkers("rows alive again, reading what the store kept") { rows in
                rows.count == 2 && rows.allSatisfy { $0.status == .alive && $0.currentRead == 300 }
            }
            let firedAt = run.consumed
            run.engine.perform(.fireBurst)
            let totals = try await run.waitForBurst()
            #expect(totals.acknowledged == 600 && totals.lost == 0 && totals.storeValue == 600 && totals.verdict == .ok, "\(totals)")
            let finals = try #require(run.workerSnapshots(since: firedAt, until: run.consumed).last)
            #expect(finals.allSatisfy { $0.currentRead == 600 }, "\(finals)")
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
                let refusal = try await run.waitForError("the refusal of \(action)")
                #expect(refusal.contains("sqlite has no store process to kill or restart"), "\(refusal)")
            }
            run.engine.perform(.fireBurst)
            let totals = try await run.waitForBurst()
            #expect(totals.acknowledged == 200 && totals.lost == 0, "\(totals)")
            let after = try await run.waitForWorkers("the same two workers, alive") { rows in
                rows.count == 2 && rows.allSatisfy { $0.status == .alive }
            }
            #expect(Set(after.map(\.pid)) == Set(rows.map(\.pid)))
            // A refused key fires nothing: the history has no fault in it.
            #expect(totals.check?.faults.isEmpty == true, "\(String(describing: totals.check?.faults))")
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
            let line = try await run.waitForLog("the restart") { $0.hasPrefix("A restart_app: restarted every worker (") }
            for pid in old { #expect(line.contains("pid \(pid) -> "), "\(line) lacks pid \(pid)") }
            let judged = try await run.waitForCheck()
            let restart = try #require(judged.check?.restarts.last)
            #expect(restart.scope == .app && restart.before == 400 && restart.after == 400 && restart.durable == true, "\(restart)")
            let after = try await run.waitForWorkers("two new pids, alive") { rows in
                rows.count == 2 && rows.allSatisfy { $0.status == .alive && !old.contains($0.pid) && $0.currentRead == 400 }
            }
            #expect(await OffThread.run { ProcessTable.waitGone(Array(old)) }.isEmpty, "old workers left after A")

            // The new workers count on from the 400 the store kept: nothing is lost.
            let firedAt = run.consumed
            run.engine.perform(.fireBurst)
            let totals = try await run.waitForBurst()
            #expect(totals.acknowledged == 800 && totals.lost == 0 && totals.storeValue == 800, "\(totals)")
            let finals = try #require(run.workerSnapshots(since: firedAt, until: run.consumed).last)
            #expect(finals.allSatisfy { $0.currentRead == 800 }, "\(finals)")
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
            #expect(storeRefusal == "K: faults go to statelab's own app only, not to http://127.0.0.1:\(app.port)")
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

    /// The next check shown after a reset or a fault (not a burst's).
    func waitForCheck() async throws -> RunTotals {
        try await waitFor("a check") { event in
            if case .totals(let totals) = event, totals.check != nil { return totals }
            return nil
        }
    }

    /// The next error line: a refusal.
    func waitForError(_ what: String) async throws -> String {
        try await waitFor(what) { event -> String? in
            if case .error(let text) = event { return text }
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
