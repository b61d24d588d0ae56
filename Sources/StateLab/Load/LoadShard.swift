import Histogram

/// The tallies of every connection on one loop. Only that loop touches
/// it, so the per-request path takes no lock; the generator reads it by
/// submitting work to the loop (a snapshot every 100 ms, a final merge).
final class LoadShard: @unchecked Sendable {
    let loop: LoadLoop
    /// Where records stream to; without one they are kept (tests, the dashboard's bursts).
    private let recorder: HistoryRecorder?
    private var records: [IncrementRecord] = []
    private var ok = 0
    private var fail = 0
    private var indeterminate = 0
    private var latency = LatencyHistogram.make()
    /// The latencies since the last snapshot: only when someone shows them (`ProgressDetail.latency`).
    private var windowLatency: Histogram<UInt64>?
    /// Tallies per worker, in the order first seen: a few workers are the rule,
    /// and comparing them costs less than hashing each answer's pid.
    private var pidTallies = PidMap<PidTally>()
    private var lastEnd: UInt64 = 0
    /// Answers that were not 404 or 405, and the first such status while there were none.
    private var routedAnswers = 0
    private(set) var misrouted: Int?
    private var disagreements = 0
    private var firstDisagreement: String?

    struct Snapshot: Sendable {
        var ok: Int
        var fail: Int
        var indeterminate: Int
        var acknowledgedByPid: [Int32: Int]
        var refusedByPid: [Int32: Int]
        /// Nil unless the plan's progress shows latency.
        var windowLatency: Histogram<UInt64>?
    }

    struct Final: Sendable {
        var records: [IncrementRecord]
        var latency: Histogram<UInt64>
        var perPid: [Int32: PidTally]
        var lastEnd: UInt64
        var ok: Int
        var fail: Int
        var indeterminate: Int
        var misrouted: Int?
        var disagreements: Int
        var firstDisagreement: String?
    }

    init(loop: LoadLoop, expectedRecords: Int, recorder: HistoryRecorder?, windowLatency: Bool = true) {
        self.loop = loop
        self.recorder = recorder
        if windowLatency { self.windowLatency = LatencyHistogram.make() }
        if recorder == nil { records.reserveCapacity(expectedRecords) }
    }

    /// A connection sent an operation (for an exported history).
    @inline(__always)
    func invoked(process: Int32, at time: UInt64) {
        recorder?.invoked(process: process, at: time)
    }

    /// - Parameter answered: the server answered, so the latency is meaningful
    ///   (connect failures and timeouts stay out of the histogram, as in wrk).
    func add(_ record: IncrementRecord, answered: Bool, status: Int? = nil) {
        assert(loop.inLoop)
        if let status {
            if status == 404 || status == 405 {
                if routedAnswers == 0 { misrouted = status }
            } else {
                routedAnswers += 1
                misrouted = nil
            }
        }
        if record.refused, let pid = record.pid { pidTallies.update(pid) { $0.refused += 1 } }
        if let recorder { recorder.add(record) } else { records.append(record) }
        switch record.outcome {
        case .ok:
            ok += 1
            if let pid = record.pid { pidTallies.update(pid) { $0.acknowledge(count: record.count) } }
        case .fail:
            fail += 1
        case .indeterminate:
            indeterminate += 1
        }
        if answered {
            let elapsed = record.end &- record.start
            LatencyHistogram.record(nanoseconds: elapsed, into: &latency)
            if windowLatency != nil { LatencyHistogram.record(nanoseconds: elapsed, into: &windowLatency!) }
        }
        lastEnd = max(lastEnd, record.end)
    }

    /// An answer named `named` as its worker where /proc found `found`.
    func pidDisagreed(named: Int32, found: Int32) {
        disagreements += 1
        if firstDisagreement == nil { firstDisagreement = "an answer named pid \(named), but /proc found pid \(found) holding its connection" }
    }

    /// Counts so far and the latencies since the previous snapshot.
    func takeSnapshot() -> Snapshot {
        precondition(loop.inLoop)
        let snapshot = Snapshot(
            ok: ok, fail: fail, indeterminate: indeterminate,
            acknowledgedByPid: pidTallies.dictionary.mapValues(\.acknowledged),
            refusedByPid: pidTallies.dictionary.mapValues(\.refused),
            windowLatency: windowLatency
        )
        windowLatency?.reset()
        return snapshot
    }

    func takeFinal() -> Final {
        precondition(loop.inLoop)
        let final = Final(records: records, latency: latency, perPid: pidTallies.dictionary, lastEnd: lastEnd,
                          ok: ok, fail: fail, indeterminate: indeterminate, misrouted: misrouted,
                          disagreements: disagreements, firstDisagreement: firstDisagreement)
        records = []
        return final
    }
}
