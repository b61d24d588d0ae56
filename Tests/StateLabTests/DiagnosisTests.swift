import Foundation
@testable import StateLab
import Testing

/// `Diagnoser` on constructed outcomes (one positive and at least one
/// negative case per diagnosis), the probe against a real in-process
/// server, and the pipeline wiring. No test depends on the machine's real
/// Nagle timing or on how busy the machine is.
@Suite
struct DiagnosisTests {
    // MARK: Building outcomes

    static func load(p50: Double = 2, throughput: Double = 5_000, perPid: [Int32: Int] = [:]) -> LoadResult {
        let ok = perPid.values.reduce(0, +)
        return LoadResult(
            increments: [], okCount: ok, failCount: 0, indeterminateCount: 0, elapsed: 1, throughput: throughput,
            targetRate: nil, achievedRate: throughput, latency: LatencySummary(p50: p50, p90: p50 * 1.2),
            perPid: perPid.mapValues { PidTally(acknowledged: $0) }, stoppedEarly: false)
    }

    static func check(reads: [Int32: Int], acknowledged: Int? = nil, shared: Bool = false,
                      resets: [ResetSummary] = [], unsettled: Bool = false) -> CheckResult {
        let perWorker = reads.sorted { $0.key < $1.key }.map { WorkerTally(pid: $0.key, worker: nil, count: $0.value, acknowledged: 0) }
        let acked = acknowledged ?? reads.values.reduce(0, +)
        var check = CheckResult(
            shared: shared, acknowledged: acked, failed: 0, indeterminate: 0, acknowledgedSinceReset: acked,
            finalMin: reads.values.min() ?? 0, finalMax: reads.values.max() ?? 0, final: reads.values.reduce(0, +),
            lost: 0, unexpected: 0, duplicates: 0, witnesses: [], divergent: false, readViolations: [],
            readViolationCount: 0, perWorker: perWorker, verdict: .ok)
        check.resets = resets
        check.unsettled = unsettled
        return check
    }

    static func probe(p50: Double, busy: Double?, answered: Int = 30) -> LatencyProbe.Result {
        LatencyProbe.Result(requests: answered, answered: answered, p50Millis: p50, p90Millis: p50 * 1.1,
                            maxMillis: p50 * 1.5, cpuBusyFraction: busy, cores: 2, elapsedSeconds: p50 * 30 / 1000)
    }

    static func codes(_ outcome: RunOutcome, probe: LatencyProbe.Result? = nil, concurrency: Int = 32) -> [String] {
        var outcome = outcome
        outcome.probe = probe
        return Diagnoser.diagnose(outcome: outcome, concurrency: concurrency).map(\.code)
    }

    static func find(_ code: String, _ outcome: RunOutcome, probe: LatencyProbe.Result? = nil,
                     concurrency: Int = 32) -> Diagnosis? {
        var outcome = outcome
        outcome.probe = probe
        return Diagnoser.diagnose(outcome: outcome, concurrency: concurrency).first { $0.code == code }
    }

    /// One worker, reads that agree: nothing to say about workers.
    static let quiet = RunOutcome(load: load(perPid: [1: 1000]), check: check(reads: [1: 1000]), notes: [])

    // MARK: latency-floor and queueing

    @Test("a 44 ms probe on an idle machine is a latency floor, with the probe's figures as evidence")
    func latencyFloor() throws {
        let outcome = RunOutcome(load: Self.load(p50: 48.7, throughput: 620, perPid: [1: 3000]),
                                 check: Self.check(reads: [1: 3000]), notes: [])
        let found = try #require(Self.find("latency-floor", outcome, probe: Self.probe(p50: 44, busy: 0.05)))
        #expect(found.evidence["probe_p50_ms"] == .number(44))
        #expect(found.evidence["probe_cpu_busy"] == .number(0.05))
        #expect(found.evidence["load_p50_ms"] == .number(48.7))
        #expect(found.text.contains("TCP_NODELAY"))
        #expect(!Self.codes(outcome, probe: Self.probe(p50: 44, busy: 0.05)).contains("queueing"))
    }

    @Test("no latency floor from a fast probe, a busy machine, too few answers, an unknown CPU or no probe")
    func noLatencyFloor() {
        let outcome = RunOutcome(load: Self.load(p50: 5, throughput: 7_500, perPid: [1: 3000]),
                                 check: Self.check(reads: [1: 3000]), notes: [])
        #expect(Self.codes(outcome, probe: Self.probe(p50: 8, busy: 0.05)).isEmpty)
        #expect(Self.codes(outcome, probe: Self.probe(p50: 40, busy: 0.95)).isEmpty)
        #expect(Self.codes(outcome, probe: Self.probe(p50: 40, busy: 0.05, answered: 3)).isEmpty)
        #expect(Self.codes(outcome, probe: Self.probe(p50: 40, busy: nil)).isEmpty)
        #expect(Self.codes(outcome, probe: Self.probe(p50: 120, busy: 0.05)).isEmpty)
        #expect(Self.codes(outcome).isEmpty)
    }

    @Test("the answering worker's own CPU decides over the machine's: a busy machine with an idle worker is still a floor")
    func serverCPUDecides() {
        let outcome = RunOutcome(load: Self.load(p50: 50, throughput: 580, perPid: [1: 3000]),
                                 check: Self.check(reads: [1: 3000]), notes: [])
        var waiting = Self.probe(p50: 44, busy: 0.98)
        waiting.serverCPUFraction = 0.05
        #expect(Self.codes(outcome, probe: waiting) == ["latency-floor"])
        var working = Self.probe(p50: 44, busy: 0.1)
        working.serverCPUFraction = 0.9
        #expect(Self.codes(outcome, probe: working).isEmpty)
    }

    @Test("a 40 ms load p50 that is concurrency / throughput, with a fast probe, is queueing, not a floor")
    func queueing() throws {
        // 32 connections at 800 req/s: Little's law gives 40 ms.
        let outcome = RunOutcome(load: Self.load(p50: 40, throughput: 800, perPid: [1: 3000]),
                                 check: Self.check(reads: [1: 3000]), notes: [])
        let codes = Self.codes(outcome, probe: Self.probe(p50: 2, busy: 0.9))
        #expect(codes == ["queueing"])
        let found = try #require(Self.find("queueing", outcome, probe: Self.probe(p50: 2, busy: 0.9)))
        #expect(found.evidence["little_p50_ms"] == .number(40))
    }

    @Test("no queueing when Little's law does not explain the p50, the p50 is low, or there is one connection")
    func noQueueing() {
        // 32 connections at 100 req/s would wait 320 ms, not 40.
        let unexplained = RunOutcome(load: Self.load(p50: 40, throughput: 100, perPid: [1: 3000]),
                                     check: Self.check(reads: [1: 3000]), notes: [])
        #expect(Self.codes(unexplained, probe: Self.probe(p50: 2, busy: 0.1)).isEmpty)
        let fast = RunOutcome(load: Self.load(p50: 4, throughput: 8_000, perPid: [1: 3000]),
                              check: Self.check(reads: [1: 3000]), notes: [])
        #expect(Self.codes(fast, probe: Self.probe(p50: 2, busy: 0.1)).isEmpty)
        let single = RunOutcome(load: Self.load(p50: 40, throughput: 25, perPid: [1: 3000]),
                                check: Self.check(reads: [1: 3000]), notes: [])
        #expect(Self.codes(single, probe: Self.probe(p50: 2, busy: 0.1), concurrency: 1).isEmpty)
    }

    // MARK: Workers

    @Test("one pid answering most increments is an uneven share, with each pid's share")
    func unevenShare() throws {
        let outcome = RunOutcome(load: Self.load(perPid: [11: 2590, 12: 310, 13: 100]),
                                 check: Self.check(reads: [11: 3000, 12: 3000, 13: 3000, 14: 3000], shared: true), notes: [])
        let found = try #require(Self.find("uneven-share", outcome))
        #expect(found.evidence["top_pid"] == .number(11))
        #expect(found.evidence["workers"] == .number(4))
        #expect(found.evidence["share_pid_14"] == .number(0))
        let share = try #require(found.evidence["share_pid_11"]?.number)
        #expect(abs(share - 2590.0 / 3000) < 1e-9)
    }

    @Test("no uneven share for a fair split, one worker, or too few increments")
    func noUnevenShare() {
        let fair = RunOutcome(load: Self.load(perPid: [11: 520, 12: 480]),
                              check: Self.check(reads: [11: 1000, 12: 1000], shared: true), notes: [])
        #expect(!Self.codes(fair).contains("uneven-share"))
        #expect(!Self.codes(Self.quiet).contains("uneven-share"))
        let few = RunOutcome(load: Self.load(perPid: [11: 40, 12: 2]),
                             check: Self.check(reads: [11: 42, 12: 42], shared: true), notes: [])
        #expect(!Self.codes(few).contains("uneven-share"))
        // 4 workers: 45% is under 60% and under twice the fair 25%.
        let spread = RunOutcome(load: Self.load(perPid: [11: 450, 12: 250, 13: 200, 14: 100]),
                                check: Self.check(reads: [11: 1000, 12: 1000, 13: 1000, 14: 1000], shared: true), notes: [])
        #expect(!Self.codes(spread).contains("uneven-share"))
    }

    @Test("final reads that differ by pid are per-worker state: each pid's read and the sum")
    func perWorkerState() throws {
        let outcome = RunOutcome(load: Self.load(perPid: [11: 491, 12: 662, 13: 1090, 14: 757]),
                                 check: Self.check(reads: [11: 491, 12: 662, 13: 1090, 14: 757]), notes: [])
        let found = try #require(Self.find("per-worker-state", outcome))
        #expect(found.evidence["read_pid_13"] == .number(1090))
        #expect(found.evidence["sum"] == .number(3000))
        #expect(found.evidence["acknowledged"] == .number(3000))
        #expect(found.text.contains("pid 11 read 491"))
    }

    @Test("no per-worker state when the reads agree, only one worker was read, or the reads never settled")
    func noPerWorkerState() {
        let agree = RunOutcome(load: Self.load(perPid: [11: 500, 12: 500]),
                               check: Self.check(reads: [11: 1000, 12: 1000], shared: true), notes: [])
        #expect(!Self.codes(agree).contains("per-worker-state"))
        #expect(!Self.codes(Self.quiet).contains("per-worker-state"))
        let moving = RunOutcome(load: Self.load(perPid: [11: 500, 12: 500]),
                                check: Self.check(reads: [11: 990, 12: 1000], shared: true, unsettled: true), notes: [])
        #expect(!Self.codes(moving).contains("per-worker-state"))
    }

    static func reset(pid: Int32?, outcome: Outcome = .ok, before: Int, since: Int) -> ResetSummary {
        ResetSummary(pid: pid, worker: nil, outcome: outcome, atSeconds: 0.5, acknowledgedBefore: before,
                     acknowledgedSince: since, error: nil)
    }

    @Test("a worker that reads more than could have counted after an acknowledged reset missed it: partial reset")
    func partialResetMidRun() throws {
        // 1000 acknowledged, 600 before the reset through pid 11: at most 400 after it.
        let outcome = RunOutcome(
            load: Self.load(perPid: [11: 500, 12: 500]),
            check: Self.check(reads: [11: 200, 12: 500], acknowledged: 1000, shared: true,
                              resets: [Self.reset(pid: 11, before: 600, since: 400)]),
            notes: [])
        let found = try #require(Self.find("partial-reset", outcome))
        #expect(found.evidence["reset_pid"] == .number(11))
        #expect(found.evidence["possible_after_reset"] == .number(400))
        #expect(found.evidence["read_pid_12"] == .number(500))
        #expect(found.text.contains("pid 12 read 500"))
    }

    @Test("an acknowledged reset through one pid of an app with a counter per worker is a partial reset")
    func partialResetPerWorkerCounters() throws {
        let outcome = RunOutcome(
            load: Self.load(perPid: [11: 500, 12: 500]),
            check: Self.check(reads: [11: 200, 12: 200], acknowledged: 1000, shared: false,
                              resets: [Self.reset(pid: 11, before: 600, since: 400)]),
            notes: [])
        let found = try #require(Self.find("partial-reset", outcome))
        #expect(found.evidence["counter_per_worker"] == .text("yes"))
    }

    @Test("a reset before the load answered by one pid while the others kept their counts is a partial reset")
    func partialResetFirst() throws {
        var outcome = RunOutcome(load: Self.load(perPid: [11: 500, 12: 500]),
                                 check: Self.check(reads: [11: 500, 12: 500], shared: true), notes: [])
        outcome.resetFirst = ResetAnswer(outcome: .ok, pid: 11, error: nil)
        outcome.baselineByPid = [11: 0, 12: 734]
        let found = try #require(Self.find("partial-reset", outcome))
        #expect(found.evidence["baseline_pid_12"] == .number(734))
        #expect(found.evidence["when"] == .text("before the load"))
    }

    @Test("no partial reset for a shared store whose reads fit, a reset that did not apply, or a clean baseline")
    func noPartialReset() {
        let fits = RunOutcome(
            load: Self.load(perPid: [11: 500, 12: 500]),
            check: Self.check(reads: [11: 400, 12: 400], acknowledged: 1000, shared: true,
                              resets: [Self.reset(pid: 11, before: 600, since: 400)]),
            notes: [])
        #expect(!Self.codes(fits).contains("partial-reset"))
        let failed = RunOutcome(
            load: Self.load(perPid: [11: 500, 12: 500]),
            check: Self.check(reads: [11: 500, 12: 500], acknowledged: 1000, shared: false,
                              resets: [Self.reset(pid: 11, outcome: .fail, before: 600, since: 400)]),
            notes: [])
        #expect(!Self.codes(failed).contains("partial-reset"))
        var clean = RunOutcome(load: Self.load(perPid: [11: 500, 12: 500]),
                               check: Self.check(reads: [11: 500, 12: 500], shared: true), notes: [])
        clean.resetFirst = ResetAnswer(outcome: .ok, pid: 11, error: nil)
        clean.baselineByPid = [11: 0, 12: 0]
        #expect(!Self.codes(clean).contains("partial-reset"))
        clean.resetFirst = ResetAnswer(outcome: .indeterminate, pid: nil, error: "timed out")
        clean.baselineByPid = [11: 0, 12: 90]
        #expect(!Self.codes(clean).contains("partial-reset"))
    }

    @Test("pids that acknowledged increments but gave no final read are unreached workers")
    func unreachedWorkers() throws {
        let outcome = RunOutcome(load: Self.load(perPid: [11: 700, 12: 300]),
                                 check: Self.check(reads: [11: 1000], shared: true), notes: [])
        let found = try #require(Self.find("unreached-workers", outcome))
        #expect(found.evidence["acknowledged_pid_12"] == .number(300))
        #expect(found.evidence["unreached"] == .number(1))
        let all = RunOutcome(load: Self.load(perPid: [11: 700, 12: 300]),
                             check: Self.check(reads: [11: 1000, 12: 1000], shared: true), notes: [])
        #expect(!Self.codes(all).contains("unreached-workers"))
    }

    // MARK: Reports

    @Test("diagnoses print under the table, in markdown, and as a JSON list with code, text and evidence")
    func reports() throws {
        let outcome = RunOutcome(load: Self.load(perPid: [11: 491, 12: 509]),
                                 check: Self.check(reads: [11: 491, 12: 509]), notes: [])
        var run = RunResult(label: "http://127.0.0.1:1", strategy: .global, mode: .naive, workers: 2,
                            concurrency: 32, outcome: outcome, external: true)
        run.diagnosis = Diagnoser.diagnose(outcome: outcome, concurrency: 32)
        #expect(run.diagnosis.map(\.code) == ["per-worker-state"])

        let table = ReportWriter.renderLoad(run, target: "http://127.0.0.1:1", as: .table)
        #expect(table.contains("Diagnosis\n  http://127.0.0.1:1: per-worker state:"))
        #expect(ReportWriter.renderLoad(run, target: "x", as: .markdown).contains("### Diagnosis"))

        let json = ReportWriter.renderLoad(run, target: "x", as: .json)
        let document = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let list = try #require(document["diagnosis"] as? [[String: Any]])
        #expect(list.count == 1)
        #expect(list[0]["code"] as? String == "per-worker-state")
        let evidence = try #require(list[0]["evidence"] as? [String: Any])
        #expect(evidence["read_pid_11"] as? Int == 491)
        #expect(evidence["sum"] as? Int == 1000)
        #expect(document["probe"] is NSNull)
    }

    @Test("Diagnosis round-trips through Codable with numbers and strings as bare values")
    func codable() throws {
        let diagnosis = Diagnosis(code: "partial-reset", text: "t", evidence: ["when": .text("before the load"), "reset_pid": .number(11)])
        let data = try JSONEncoder().encode(diagnosis)
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains("\"reset_pid\":11"))
        #expect(try JSONDecoder().decode(Diagnosis.self, from: data) == diagnosis)
    }

    @Test("CPUStat reads busy and total ticks from /proc/stat's first line")
    func cpuStat() throws {
        let before = try #require(CPUStat.parse("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 50 0 25 400 25 0 0 0 0 0\ncpu1 50 0 25 400 25 0 0 0 0 0\n"))
        #expect(before == CPUStat(busy: 150, total: 1000, cores: 2))
        let after = try #require(CPUStat.parse("cpu  190 0 60 1700 50 0 0 0 0 0\n"))
        #expect(after.busyFraction(since: before) == 0.1)
        #expect(before.busyFraction(since: before) == nil)
        #expect(CPUStat.parse("intr 1 2 3") == nil)
        #if os(Linux)
        #expect(CPUStat.read() != nil)
        #expect(ProcessCPU.ticks(of: getpid()) != nil)
        #expect(ProcessCPU.snapshot()[getpid()] != nil)
        #endif
        // A process name with spaces and parentheses does not shift the fields.
        let stat = "123 (my (odd) app) S 1 123 123 0 -1 4194560 100 0 0 0 250 40 0 0 20 0 1 0 5 0 0"
        #expect(ProcessCPU.parseStat(stat) == 290)
    }
}

/// The probe and the pipeline against the in-process counter server.
@Suite(.serialized)
struct LatencyProbeTests {
    @Test("the probe sends sequential GET /report on one connection and measures them without counting")
    func probeRealServer() async throws {
        let server = try TestCounterServer(workers: 1)
        defer { server.shutdown() }
        let result = try #require(await LatencyProbe.run(host: "127.0.0.1", port: server.port, requests: 25, timeout: 5))
        #expect(result.requests == 25)
        #expect(result.answered == 25)
        #expect(result.p50Millis > 0)
        #expect(result.p50Millis <= result.p90Millis)
        #expect(result.p90Millis <= result.maxMillis)
        #expect(result.cores >= 1)
        if let busy = result.cpuBusyFraction { #expect((0...1).contains(busy)) }
        // GET /report counts nothing.
        #expect(server.count == 0)
    }

    @Test("no probe result when nothing listens")
    func probeNothingListening() async throws {
        let refusing = try RefusingPort()
        #expect(await LatencyProbe.run(host: "127.0.0.1", port: refusing.port, requests: 5, timeout: 2) == nil)
        withExtendedLifetime(refusing) {}
    }

    /// A server that holds each report 40 ms stands in for the Nagle floor:
    /// the probe must see at least the hold. Whether the machine was idle is
    /// not up to the test, so the diagnosis is checked on the measured probe
    /// with an idle CPU put in.
    @Test("the pipeline probes before the load: a server holding its answers 40 ms shows a 40 ms probe, diagnosed as a floor when idle")
    func pipelineProbeOfHeldAnswers() async throws {
        let server = try TestCounterServer(workers: 2, behavior: .init(reportDelay: 0.04))
        defer { server.shutdown() }
        let outcome = try await RunPipeline.run(
            target: URLTarget(host: "127.0.0.1", port: server.port),
            plan: LoadPlan(port: server.port, stop: .count(200), concurrency: 4, timeout: 30),
            steps: RunSteps(resetWorker: nil, baseline: true, probe: true), sharing: .auto)
        let probe = try #require(outcome.probe)
        #expect(probe.answered == 30)
        #expect(probe.p50Millis >= 40)
        // The probe's GETs counted nothing: only the load's increments did.
        #expect(server.count == outcome.load.okCount)
        #expect(outcome.diagnosis == Diagnoser.diagnose(outcome: outcome, concurrency: 4))

        var idle = probe
        idle.cpuBusyFraction = 0.05
        idle.serverCPUFraction = nil  // the test server's pids are made up
        idle.p50Millis = min(probe.p50Millis, 59)  // a stall of the test machine must not leave the band
        var idled = outcome
        idled.probe = idle
        let codes = Diagnoser.diagnose(outcome: idled, concurrency: 4).map(\.code)
        #expect(codes.contains("latency-floor"))
    }

    @Test("without the probe step there is no probe and no latency diagnosis")
    func pipelineWithoutProbe() async throws {
        let server = try TestCounterServer(workers: 1)
        defer { server.shutdown() }
        let outcome = try await RunPipeline.run(
            target: URLTarget(host: "127.0.0.1", port: server.port),
            plan: LoadPlan(port: server.port, stop: .count(100), concurrency: 2, timeout: 30),
            steps: RunSteps(resetWorker: nil, baseline: true), sharing: .auto)
        #expect(outcome.probe == nil)
        #expect(!outcome.diagnosis.contains { $0.code == "latency-floor" || $0.code == "queueing" })
    }
}
