import StateLab
@testable import StateLabDashboard

/// Models of the situations the dashboard must explain, built through the
/// same events the engine sends.
enum Fixtures {
    static let pids: [Int32] = [41001, 41002, 41003, 41004]

    static func base(_ strategy: Strategy = .shm, _ mode: Mode = .naive, workers: Int = 4) -> DashboardModel {
        var model = DashboardModel(settings: DashboardSettings(strategy: strategy, mode: mode, workers: workers, concurrency: 32, raceWindowMicroseconds: 50))
        model.apply(.availability([.redis: "redis-server not found: apt-get install redis-server"]))
        return model
    }

    /// shm naive: 1000 acknowledged, the store holds 958, workers 2 and 3 both wrote 42.
    static func lostUpdates() -> DashboardModel {
        var model = base()
        model.apply(.burstStarted(total: 1000))
        model.apply(.workers((0..<4).map { WorkerRow(index: $0, pid: pids[$0], acknowledged: 250, currentRead: 958) }))
        let check = Histories.lostUpdates()
        model.apply(.burstFinished(RunTotals(check: check, witnesses: check.witnesses.map { witness in
            WorkerWitness(count: witness.count, workers: witness.pids.compactMap { pids.firstIndex(of: $0) })
        })))
        for rate in [900.0, 2400, 3100, 2800, 3300, 1200] { model.apply(.throughput(requestsPerSecond: rate)) }
        model.apply(.latency(p50Milliseconds: 1.25, p99Milliseconds: 8.5))
        return model
    }

    /// global naive: every worker counts alone, 1996 acknowledged in all.
    static func divergence() -> DashboardModel {
        var model = base(.global)
        let reads = [512, 500, 496, 488]
        model.apply(.workers((0..<4).map { WorkerRow(index: $0, pid: pids[$0], acknowledged: reads[$0], currentRead: reads[$0]) }))
        model.apply(.burstFinished(RunTotals(check: Histories.divergent(reads: reads))))
        return model
    }

    /// A limit of 50 per minute kept per worker: each of four accepted 50 and refused 50.
    static func perProcessLimit() -> DashboardModel {
        var model = base()
        model.apply(.workers((0..<4).map { WorkerRow(index: $0, pid: pids[$0], acknowledged: 50, refused: 50) }))
        model.apply(.burstFinished(RunTotals(check: Histories.perProcessLimit())))
        return model
    }

    /// `lostUpdates()` with the race the session kept: workers 1 and 2 (pids 41002
    /// and 41003) both read 41, then each wrote 42, while a third increment overlapped.
    static func racing(_ race: RaceTrace = Races.bothRead41()) -> DashboardModel {
        var model = lostUpdates()
        model.apply(.race(race))
        return model
    }

    /// shm atomic: nothing lost, every worker agrees.
    static func healthy() -> DashboardModel {
        var model = base(.shm, .atomic)
        model.apply(.workers((0..<4).map { WorkerRow(index: $0, pid: pids[$0], acknowledged: 250, currentRead: 1000) }))
        model.apply(.burstFinished(RunTotals(check: Histories.ok(1000))))
        return model
    }
}

/// Histories with a known verdict, checked by the real checker: what the
/// dashboard and `compare` are both given in the tests that compare them.
enum Histories {
    static let pids = Fixtures.pids

    static func increment(_ count: Int, _ pid: Int32, at start: UInt64) -> IncrementRecord {
        IncrementRecord(outcome: .ok, count: count, pid: pid, start: start, end: start + 5)
    }

    static func finals(_ values: [Int]) -> [ReadRecord] {
        values.enumerated().map { ReadRecord(pid: pids[$0.offset], worker: $0.offset, value: $0.element, start: 1_000_000, end: 1_000_005) }
    }

    static func check(_ increments: [IncrementRecord], finals: [ReadRecord], shared: Bool, unread: [UnreadWorker] = []) -> CheckResult {
        // Through the recorder, as a run's history is checked (`RunSession.check()` does the same).
        let recorder = HistoryRecorder(origin: 0, resolution: 0)
        for increment in increments { recorder.add(increment) }
        recorder.recordFinal(reads: finals, unread: unread, settled: true)
        return recorder.check(shared: shared)
    }

    /// Four workers each accepting 50 of a limit of 50 per minute, within a second, nothing read.
    static func perProcessLimit() -> CheckResult {
        let recorder = HistoryRecorder(origin: 0, resolution: 0, limit: LimitSpec(count: 50, window: 60, assumed: true),
                                       checksCounter: false)
        for (index, pid) in pids.enumerated() {
            for op in 0..<50 { recorder.add(IncrementRecord(outcome: .ok, pid: pid, start: UInt64(index * 50 + op) * 1_000_000, end: UInt64(index * 50 + op) * 1_000_000 + 500)) }
            for op in 0..<50 { recorder.add(IncrementRecord(outcome: .fail, pid: pid, start: 300_000_000 + UInt64(op), end: 300_000_100 + UInt64(op), refused: true)) }
        }
        recorder.recordFinal(reads: [], unread: [], settled: true)
        return recorder.check(shared: true)
    }

    /// `count` increments one after another over four workers; every worker reads them all.
    static func ok(_ count: Int) -> CheckResult {
        let increments = (1...count).map { increment($0, pids[$0 % 4], at: UInt64($0) * 10) }
        return check(increments, finals: finals(Array(repeating: count, count: 4)), shared: true)
    }

    /// 1000 acknowledged, 958 in the store: 42 answers repeated a count another had returned.
    static func lostUpdates() -> CheckResult {
        var increments = (1...958).map { increment($0, pids[$0 % 4], at: UInt64($0) * 10) }
        // Each repeat comes from the worker after the one that first returned its count.
        increments += (1...42).map { extra in
            let count = extra == 1 ? 42 : 100 + extra
            return increment(count, pids[(count + 1) % 4], at: UInt64(count) * 10 + 1)
        }
        increments.sort { $0.start < $1.start }
        return check(increments, finals: finals(Array(repeating: 958, count: 4)), shared: true)
    }

    /// A counter per worker: each worker counted its own, and they differ.
    static func divergent(reads: [Int]) -> CheckResult {
        var increments: [IncrementRecord] = []
        var time: UInt64 = 10
        for (worker, total) in reads.enumerated() {
            for count in 1...total {
                increments.append(increment(count, pids[worker], at: time))
                time += 10
            }
        }
        return check(increments, finals: finals(reads), shared: false)
    }

    /// Three acknowledged, yet the store reads 5: increments nobody sent.
    static func errors() -> CheckResult {
        let increments = (1...3).map { increment($0, pids[0], at: UInt64($0) * 10) }
        return check(increments, finals: finals([5, 5]), shared: true)
    }

    /// No worker could be read at the end.
    static func unknown() -> CheckResult {
        let increments = (1...3).map { increment($0, pids[0], at: UInt64($0) * 10) }
        return check(increments, finals: [], shared: true,
                     unread: [UnreadWorker(pid: pids[0], worker: 0, reason: "HTTP 503 (the store is down)")])
    }
}

extension ScreenBuffer {
    /// The first row containing `text`, or nil.
    func line(containing text: String) -> String? {
        self.text.first { $0.contains(text) }
    }

    func contains(_ text: String) -> Bool {
        line(containing: text) != nil
    }
}

/// Witnessed races as `RunSession.latestRace` gives them: times in seconds since the run's origin.
enum Races {
    /// Inside view: pid 41002 sends at 2.000100 s and reads 41 at +50 µs; pid 41003 sends 20 µs
    /// later and reads 41 too; then each writes 42 and answers 42. Pid 41001's 43 overlapped them.
    static func bothRead41() -> RaceTrace {
        RaceTrace(count: 42, ops: [
            RaceOp(pid: 41002, start: 2.000100, end: 2.000450, outcome: .ok, count: 42,
                   readAt: 2.000150, readValue: 41, wroteAt: 2.000400, colliding: true),
            RaceOp(pid: 41003, start: 2.000120, end: 2.000480, outcome: .ok, count: 42,
                   readAt: 2.000200, readValue: 41, wroteAt: 2.000420, colliding: true),
            RaceOp(pid: 41001, start: 2.000300, end: 2.001600, outcome: .ok, count: 43, colliding: false),
        ])
    }

    /// Outside view only (an app that does not say when it reads or writes): two requests that overlapped.
    static func outsideView() -> RaceTrace {
        RaceTrace(count: 42, ops: [
            RaceOp(pid: 41002, start: 2.000100, end: 2.001900, outcome: .ok, count: 42, colliding: true),
            RaceOp(pid: 41003, start: 2.000900, end: 2.002400, outcome: .ok, count: 42, colliding: true),
        ])
    }

    /// `n` requests of `n` pids that all read 999,999 and all answered 1,000,000.
    static func many(_ n: Int) -> RaceTrace {
        RaceTrace(count: 1_000_000, ops: (0..<n).map { index in
            let start = 5 + Double(index) * 0.000_010
            return RaceOp(pid: Int32(52000 + index), start: start, end: start + 0.002, outcome: .ok, count: 1_000_000,
                          readAt: start + 0.000_100, readValue: 999_999, wroteAt: start + 0.001, colliding: true)
        })
    }
}
