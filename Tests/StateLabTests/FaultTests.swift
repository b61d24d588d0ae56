import Foundation
import Testing
@testable import StateLab

/// `--fault` and `faults:` parsing, what a plan of steps may ask of an app,
/// and the check of a history with store restarts in it.
@Suite struct FaultSyntaxTests {
    @Test func parsesEveryForm() throws {
        #expect(try FaultSyntax.parse("kill_store") == FaultStep(.killStore))
        #expect(try FaultSyntax.parse("kill_store@after=1000") == FaultStep(.killStore, trigger: .afterAcknowledged(1000)))
        #expect(try FaultSyntax.parse("restart_store@delay=500ms") == FaultStep(.restartStore, trigger: .delay(0.5)))
        #expect(try FaultSyntax.parse("restart_app@at=2s") == FaultStep(.restartApp, trigger: .at(2)))
        #expect(try FaultSyntax.parse("kill_worker:holder@after=300") == FaultStep(.killWorker, worker: .holder, trigger: .afterAcknowledged(300)))
        #expect(try FaultSyntax.parse("pause_worker:2@at=1.5") == FaultStep(.pauseWorker, worker: .index(2), trigger: .at(1.5)))
        // A worker step without a worker acts on worker 0.
        #expect(try FaultSyntax.parse("kill_worker").worker == .index(0))
    }

    @Test func describesAsItParses() throws {
        for text in ["kill_store@after=1000", "restart_store@delay=500ms", "kill_worker:holder@after=300", "restart_app@at=2s", "resume_worker:1"] {
            #expect(try FaultSyntax.parse(text).description == text)
            #expect(try FaultSyntax.parse(FaultSyntax.parse(text).description) == FaultSyntax.parse(text))
        }
    }

    @Test func refusesWithTheFix() {
        func problem(_ text: String) -> String {
            do { _ = try FaultSyntax.parse(text); return "" } catch { return "\(error)" }
        }
        #expect(problem("kill_stor").contains("unknown fault 'kill_stor'"))
        #expect(problem("kill_stor").contains("kill_worker, restart_worker, kill_store"))
        #expect(problem("kill_store:1").contains("kill_store takes no worker"))
        #expect(problem("kill_worker:x").contains("neither a worker number"))
        #expect(problem("kill_worker:-1").contains("neither a worker number"))
        #expect(problem("kill_store@when=3").contains("unknown trigger 'when'"))
        #expect(problem("kill_store@after=0").contains("at least 1"))
        #expect(problem("kill_store@after=").contains("has no value after after"))
        #expect(problem("kill_store@at=soon").contains("write it like 2s or 500ms"))
    }
}

@Suite struct FaultScenarioTests {
    func load(_ yaml: String) throws -> Scenario {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("statelab-faults-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("s.yaml").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return try ScenarioLoader.load(path: path)
    }

    @Test func runsInheritTheTopLevelFaultsUnlessTheyListTheirOwn() throws {
        let scenario = try load("""
            name: x
            load: {duration: 6s}
            faults:
              - kill_store: {after: 100}
              - restart_store: {delay: 200ms}
            runs:
              - {strategy: redis, mode: atomic}
              - {strategy: sqlite, mode: atomic, faults: [{restart_app: {at: 1s}}]}
              - {strategy: shm, mode: atomic, faults: []}
              - strategy: manager
                mode: locked
                faults: ["kill_worker:holder@after=50"]
            """)
        #expect(scenario.runs[0].faults == [FaultStep(.killStore, trigger: .afterAcknowledged(100)), FaultStep(.restartStore, trigger: .delay(0.2))])
        #expect(scenario.runs[1].faults == [FaultStep(.restartApp, trigger: .at(1))])
        #expect(scenario.runs[2].faults.isEmpty)
        #expect(scenario.runs[3].faults == [FaultStep(.killWorker, worker: .holder, trigger: .afterAcknowledged(50))])
    }
}

@Suite struct FaultPlanTests {
    func problems(_ texts: [String], _ strategy: Strategy, _ mode: Mode, workers: Int = 4, external: Bool = false) throws -> [String] {
        FaultPlan.problems(try texts.map(FaultSyntax.parse), strategy: strategy, mode: mode, workers: workers, externalStore: external)
    }

    @Test func storeStepsNeedAStoreProcess() throws {
        for strategy in [Strategy.global, .shm, .sqlite] {
            let found = try problems(["kill_store", "restart_store"], strategy, strategy == .global ? .naive : .atomic)
            #expect(found.first?.contains("\(strategy.rawValue) has no store process to kill or restart") == true, "\(found)")
        }
        for strategy in [Strategy.manager, .redis, .postgres] {
            #expect(try problems(["kill_store@after=10", "restart_store@delay=100ms"], strategy, .atomic).isEmpty)
        }
        #expect(try problems(["kill_store", "restart_store"], .redis, .atomic, external: true).first?.contains("did not start") == true)
    }

    @Test func killAndRestartComeInPairs() throws {
        #expect(try problems(["kill_store"], .manager, .atomic).first?.contains("no restart_store after it") == true)
        #expect(try problems(["restart_store"], .manager, .atomic).first?.contains("without a kill_store before it") == true)
        #expect(try problems(["kill_store", "kill_store", "restart_store"], .manager, .atomic).first?.contains("twice") == true)
        #expect(try problems(["kill_store", "restart_app", "restart_store"], .manager, .atomic).first?.contains("while the store is down") == true)
        #expect(try problems(["kill_store", "kill_worker:1", "restart_store"], .manager, .atomic).first?.contains("restart_store first") == true)
        #expect(try problems(["kill_store", "pause_worker:1", "resume_worker:1", "restart_store"], .manager, .atomic).isEmpty)
    }

    @Test func holderNeedsAVisibleLock() throws {
        #expect(try problems(["kill_worker:holder"], .shm, .locked).isEmpty)
        #expect(try problems(["kill_worker:holder"], .manager, .locked).isEmpty)
        for (strategy, mode) in [(Strategy.shm, Mode.atomic), (.redis, .locked), (.sqlite, .locked), (.global, .naive)] {
            #expect(try problems(["kill_worker:holder"], strategy, mode).first?.contains("shm or manager in locked mode") == true)
        }
        #expect(try problems(["pause_worker:holder"], .shm, .locked).first?.contains("kill_worker only") == true)
    }

    @Test func theLoadMustLeaveRoomForTheSteps() throws {
        let steps = try ["kill_store@after=100", "restart_store@delay=100ms"].map(FaultSyntax.parse)
        func problems(_ load: FaultLoad) -> [String] {
            FaultPlan.problems(steps, strategy: .redis, mode: .atomic, workers: 4, load: load)
        }
        #expect(problems(FaultLoad(duration: 6)).isEmpty)
        #expect(problems(FaultLoad(increments: 5000)).first?.contains("use duration") == true)
        #expect(problems(FaultLoad(duration: 6, rate: 100)).first?.contains("closed model") == true)
        #expect(problems(FaultLoad(duration: 6, resetAfter: 10)).first?.contains("reset_after and faults") == true)
        let late = try [FaultSyntax.parse("restart_app@at=7s")]
        #expect(FaultPlan.problems(late, strategy: .shm, mode: .atomic, workers: 4, load: FaultLoad(duration: 6))
            .first?.contains("into a load that runs 6s") == true)
        let tooMany = try [FaultSyntax.parse("restart_app@after=500")]
        #expect(FaultPlan.problems(tooMany, strategy: .shm, mode: .atomic, workers: 4, load: FaultLoad(increments: 500))
            .first?.contains("use a number below 500") == true)
    }

    @Test func noRestartWhileAWorkerIsPaused() throws {
        #expect(try problems(["pause_worker:1", "restart_app", "resume_worker:1"], .shm, .atomic).first?.contains("resume_worker 1 first") == true)
        #expect(try problems(["pause_worker:1", "kill_worker:2", "resume_worker:1"], .shm, .atomic).first?.contains("resume_worker 1 first") == true)
        #expect(try problems(["pause_worker:1", "resume_worker:1", "restart_app"], .shm, .atomic).isEmpty)
        #expect(try problems(["kill_store", "restart_store@after=5"], .redis, .atomic).first?.contains("can never fire") == true)
    }

    @Test func workersMustExistAndResumeFollowsPause() throws {
        #expect(try problems(["kill_worker:4"], .shm, .atomic).first?.contains("workers 0 to 3") == true)
        #expect(try problems(["resume_worker:1"], .shm, .atomic).first?.contains("without a pause_worker 1") == true)
        #expect(try problems(["pause_worker:1", "resume_worker:1"], .shm, .atomic).isEmpty)
    }
}

/// Store restarts in a streamed history: a reset to the value read once the
/// store is back. The check must never blame a store for what a restart
/// erased (that is lost_to_restart), and still find races on either side.
@Suite struct RestartCheckTests {
    /// `count` ok increments one after another, numbered from `from + 1`.
    func acknowledge(_ recorder: HistoryRecorder, _ count: Int, from: Int = 0) {
        for index in 1...max(count, 1) where count > 0 {
            let start = MonotonicClock.now()
            recorder.add(IncrementRecord(outcome: .ok, count: from + index, pid: 7, start: start, end: MonotonicClock.now()))
        }
    }

    func read(_ value: Int) -> ReadRecord {
        let start = MonotonicClock.now()
        return ReadRecord(pid: 7, worker: 0, value: value, start: start, end: MonotonicClock.now())
    }

    /// 100 acknowledged, a restart from `before` to `after`, 50 more, a final read of `final`.
    func history(before: Int, after: Int, final: Int, exact: Bool = true) -> CheckResult {
        let recorder = HistoryRecorder(resolution: 0, views: .shared)
        acknowledge(recorder, 100)
        recorder.recordRead(read(before))
        let token = recorder.beginRestart(.store, before: before, exact: exact)
        recorder.add(IncrementRecord(outcome: .fail, start: MonotonicClock.now(), end: MonotonicClock.now()))
        recorder.endRestart(token, after: after, exact: exact)
        acknowledge(recorder, 50, from: after)
        recorder.recordFinal(reads: [read(final)], unread: [], settled: true)
        return recorder.check(shared: true)
    }

    @Test func durableStoreIsOk() {
        let result = history(before: 100, after: 100, final: 150)
        #expect(result.lost == 0 && result.unexpected == 0 && result.readViolationCount == 0)
        #expect(result.verdict == .ok)
        #expect(result.durable == true && result.lostToRestart == 0)
        #expect(result.restarts.count == 1 && result.restarts[0].before == 100 && result.restarts[0].after == 100)
        #expect(result.acknowledgedSinceReset == 150)
        #expect(result.resets.isEmpty)  // a restart is not a POST /reset
    }

    @Test func storeThatForgetsIsNotBlamedForRaces() {
        let result = history(before: 100, after: 0, final: 50)
        #expect(result.lost == 0 && result.unexpected == 0 && result.readViolationCount == 0)
        #expect(result.verdict == .ok)
        #expect(result.durable == false && result.lostToRestart == 100)
        #expect(result.fields()["lost_to_restart"] == .number(100) && result.fields()["durable"] == .bool(false))
    }

    @Test func racesBeforeTheRestartAreLost() {
        // 100 acknowledged, 80 counted before the kill: 20 lost to races, and the durable store keeps the 80.
        let result = history(before: 80, after: 80, final: 130)
        #expect(result.lost == 20)
        #expect(result.verdict == .lostUpdates)
        #expect(result.durable == true && result.lostToRestart == 0)
        #expect(result.acknowledgedSinceReset == 150)
    }

    @Test func racesAfterTheRestartAreLost() {
        let result = history(before: 100, after: 100, final: 140)
        #expect(result.lost == 10)
        #expect(result.verdict == .lostUpdates)
    }

    @Test func aCountAboveWhatCouldApplyIsUnexpected() {
        let result = history(before: 100, after: 0, final: 60)
        #expect(result.unexpected == 10 && result.lost == 0)
        #expect(result.verdict == .errors)
    }

    @Test func inexactReadsJudgeNoDurability() {
        let result = history(before: 100, after: 100, final: 150, exact: false)
        #expect(result.durable == nil && result.lostToRestart == nil)
        #expect(result.inconclusive?.contains("in flight") == true)
        #expect(result.verdict == .errors)
        #expect(result.fields()["durable"] == nil)
    }

    @Test func nothingCountedBeforeIsNotJudged() {
        let summary = RestartSummary(scope: .worker, atSeconds: 1, acknowledgedBefore: 0, before: 0, after: 0, exact: true)
        #expect(summary.durable == nil && summary.lostToRestart == 0)
        #expect(summary.sentence.contains("nothing was counted before it"))
    }

    /// An earlier restart whose count after it is unknown: the epoch before the
    /// next one has no certain start, so nothing there is called lost.
    @Test func anUnclearEarlierRestartBlamesNothing() {
        let recorder = HistoryRecorder(resolution: 0, views: .shared)
        acknowledge(recorder, 300)
        let first = recorder.beginRestart(.store, before: 300, exact: true)
        recorder.endRestart(first, after: nil, exact: false)
        acknowledge(recorder, 50, from: 0)
        recorder.recordRead(read(50))
        let second = recorder.beginRestart(.store, before: 50, exact: true)
        recorder.endRestart(second, after: 0, exact: true)
        acknowledge(recorder, 20)
        recorder.recordFinal(reads: [read(20)], unread: [], settled: true)
        let result = recorder.check(shared: true)
        #expect(result.lost == 0, "\(result)")
        #expect(result.verdict != .lostUpdates)
    }

    @Test func failedIncrementsDoNotWaitForARestart() {
        let recorder = HistoryRecorder(resolution: 0, views: .shared)
        let token = recorder.beginRestart(.store, before: 0, exact: true)
        for _ in 0..<1000 { recorder.add(IncrementRecord(outcome: .fail, start: MonotonicClock.now(), end: MonotonicClock.now())) }
        #expect(recorder.waitingCount == 0)
        recorder.endRestart(token, after: 0, exact: true)
        recorder.recordFinal(reads: [read(0)], unread: [], settled: true)
        #expect(recorder.check(shared: true).failed == 1000)
    }

    @Test func aRestartThatNeverCameBackLeavesTheCountUnknown() {
        let recorder = HistoryRecorder(resolution: 0, views: .shared)
        acknowledge(recorder, 10)
        let token = recorder.beginRestart(.store, before: 10, exact: true)
        recorder.endRestart(token, after: nil, exact: false, note: "it did not start")
        recorder.recordFinal(reads: [], unread: [UnreadWorker(pid: 7, reason: "503")], settled: true)
        let result = recorder.check(shared: true)
        #expect(result.verdict == .unknown)
        #expect(result.restarts.first?.sentence.contains("could not be read after it") == true)
        #expect(result.durable == nil)
    }
}
