import Foundation
@testable import StateLab

/// Runs with known numbers for the report tests: most come from the real
/// checker on small histories, the big one is a hand-made CheckResult.
enum ReportFixtures {
    static let pidA: Int32 = 123
    static let pidB: Int32 = 456

    static func ok(_ count: Int, pid: Int32, _ start: UInt64) -> IncrementRecord {
        IncrementRecord(outcome: .ok, count: count, pid: pid, start: start, end: start + 5)
    }

    static func expect(_ field: String, _ comparison: String) -> Expectation {
        Expectation(field: field, comparison: Comparison.parse(comparison) ?? .isText("unparsed: \(comparison)"))
    }

    /// Four increments one after another, both workers read 4: ok.
    static func atomicRun() -> RunResult {
        let increments = [ok(1, pid: pidA, 0), ok(2, pid: pidB, 10), ok(3, pid: pidA, 20), ok(4, pid: pidB, 30)]
        let finals = [ReadRecord(pid: pidA, worker: 0, value: 4, start: 100, end: 105),
                      ReadRecord(pid: pidB, worker: 1, value: 4, start: 100, end: 105)]
        let check = Checker.check(History(increments: increments, reads: finals, finalReads: finals), shared: true)
        return RunResult(strategy: .shm, mode: .atomic, workers: 2, concurrency: 8, achievedRate: 4100,
                         elapsed: 1.5, check: check, throughputRPS: 4000.4,
                         latency: LatencySummary(p50: 0.4123, p90: 1.2, p99: 3.456, p999: 8.1, max: 12.5))
            .evaluating([expect("lost", "0"), Expectation(field: "verdict", comparison: .isText("ok"))])
    }

    /// Two pairs of concurrent increments that each returned the same count:
    /// 4 acknowledged, final 2, 2 lost, 2 duplicates.
    static func naiveRun() -> RunResult {
        let increments = [ok(1, pid: pidA, 0), ok(1, pid: pidB, 1), ok(2, pid: pidA, 20), ok(2, pid: pidB, 21)]
        let finals = [ReadRecord(pid: pidA, worker: 0, value: 2, start: 100, end: 105),
                      ReadRecord(pid: pidB, worker: 1, value: 2, start: 100, end: 105)]
        let check = Checker.check(History(increments: increments, reads: finals, finalReads: finals), shared: true)
        return RunResult(strategy: .shm, mode: .naive, workers: 2, concurrency: 8, achievedRate: 5000,
                         elapsed: 0.8, check: check, throughputRPS: 87.54,
                         latency: LatencySummary(p50: 0.05, p90: 0.2, p99: 15.25, p999: 120, max: 1500))
            .evaluating([expect("lost", ">0"), expect("duplicates", "0")])
    }

    /// Each worker has its own counter: reads 3 and 1, divergent.
    static func globalRun() -> RunResult {
        let increments = [ok(1, pid: pidA, 0), ok(2, pid: pidA, 10), ok(1, pid: pidB, 20), ok(3, pid: pidA, 30)]
        let finals = [ReadRecord(pid: pidA, worker: 0, value: 3, start: 100, end: 105),
                      ReadRecord(pid: pidB, worker: 1, value: 1, start: 100, end: 105)]
        let check = Checker.check(History(increments: increments, reads: finals, finalReads: finals), shared: false)
        return RunResult(strategy: .global, mode: .naive, workers: 2, check: check, throughputRPS: 250)
            .evaluating([Expectation(field: "divergent", comparison: .isBool(true))])
    }

    /// Big numbers: 12,345 acknowledged, finals 1,234..1,240, 812 lost of 2,000
    /// since the last reset (40.6%), plus failures and an unexpected count.
    static func bigRun() -> RunResult {
        let check = CheckResult(
            shared: true, acknowledged: 12_345, failed: 3, indeterminate: 1_002, acknowledgedSinceReset: 2_000,
            finalMin: 1_234, finalMax: 1_240, final: 1_240, lost: 812, unexpected: 7, duplicates: 812,
            witnesses: (1...5).map { DuplicateWitness(count: 40 + $0, pids: [pidA, pidB]) },
            divergent: true, readViolations: [], readViolationCount: 2,
            perWorker: [WorkerTally(pid: pidA, worker: 0, count: 1_240, acknowledged: 6_000),
                        WorkerTally(pid: pidB, worker: 1, count: 1_234, acknowledged: 6_345)],
            verdict: .lostUpdates)
        return RunResult(label: "sqlite/naive", strategy: .sqlite, mode: .naive, workers: 16, raceWindowMicros: 50,
                         concurrency: 64, targetRate: 20_000, achievedRate: 19_876.5, elapsed: 10.25, check: check,
                         throughputRPS: 12_345.678, latency: LatencySummary(p50: 2.5, p90: 7, p99: 42.42, p999: 99.9, max: 1234.5),
                         unreachedPids: [789])
    }

    /// Only failures: verdict errors.
    static func errorsRun() -> RunResult {
        var check = CheckResult.empty
        check.failed = 5
        check.verdict = .errors
        return RunResult(strategy: .manager, mode: .locked, workers: 4, check: check)
    }

    /// A reason with a comma, quotes and a pipe, to test quoting everywhere.
    static let skipReason = #"redis-server not found, install it with "apt-get install redis-server" | or set REDIS_URL"#

    static func skippedRun() -> RunResult {
        RunResult.skipped(strategy: .redis, mode: .atomic, workers: 4, reason: skipReason,
                          expectations: [expect("lost", "0")])
    }

    static func report(_ runs: [RunResult]) -> CompareReport {
        CompareReport(scenarioName: "lost updates", scenarioPath: "Scenarios/lost-updates.yaml", runs: runs)
    }

    static func fullReport() -> CompareReport {
        report([atomicRun(), naiveRun(), globalRun(), bigRun(), errorsRun(), skippedRun()])
    }

    /// The text with every ANSI escape sequence removed.
    static func stripped(_ text: String) -> String {
        text.replacingOccurrences(of: "\u{1B}\\[[0-9;]*m", with: "", options: .regularExpression)
    }
}
