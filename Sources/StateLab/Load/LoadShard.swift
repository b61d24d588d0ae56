import Histogram
import NIOCore

/// The tallies of every connection on one event loop. Only that loop touches
/// it, so the per-request path takes no lock; the generator reads it by
/// submitting work to the loop (a snapshot every 100 ms, a final merge).
final class LoadShard: @unchecked Sendable {
    let eventLoop: EventLoop
    /// Where records stream to; without one they are kept (tests, the dashboard's bursts).
    private let recorder: HistoryRecorder?
    private var records: [IncrementRecord] = []
    private var ok = 0
    private var fail = 0
    private var indeterminate = 0
    private var latency = LatencyHistogram.make()
    private var windowLatency = LatencyHistogram.make()
    private var perPid: [Int32: PidTally] = [:]
    private var lastEnd: UInt64 = 0

    struct Snapshot: Sendable {
        var ok: Int
        var fail: Int
        var indeterminate: Int
        var acknowledgedByPid: [Int32: Int]
        var windowLatency: Histogram<UInt64>
    }

    struct Final: Sendable {
        var records: [IncrementRecord]
        var latency: Histogram<UInt64>
        var perPid: [Int32: PidTally]
        var lastEnd: UInt64
        var ok: Int
        var fail: Int
        var indeterminate: Int
    }

    init(eventLoop: EventLoop, expectedRecords: Int, recorder: HistoryRecorder?) {
        self.eventLoop = eventLoop
        self.recorder = recorder
        if recorder == nil { records.reserveCapacity(expectedRecords) }
    }

    /// - Parameter answered: the server answered, so the latency is meaningful
    ///   (connect failures and timeouts stay out of the histogram, as in wrk).
    func add(_ record: IncrementRecord, answered: Bool) {
        eventLoop.assertInEventLoop()
        if let recorder { recorder.add(record) } else { records.append(record) }
        switch record.outcome {
        case .ok:
            ok += 1
            if let pid = record.pid { perPid[pid, default: PidTally()].acknowledge(count: record.count) }
        case .fail:
            fail += 1
        case .indeterminate:
            indeterminate += 1
        }
        if answered {
            let elapsed = record.end &- record.start
            LatencyHistogram.record(nanoseconds: elapsed, into: &latency)
            LatencyHistogram.record(nanoseconds: elapsed, into: &windowLatency)
        }
        lastEnd = max(lastEnd, record.end)
    }

    /// Counts so far and the latencies since the previous snapshot.
    func takeSnapshot() -> Snapshot {
        eventLoop.preconditionInEventLoop()
        let snapshot = Snapshot(
            ok: ok, fail: fail, indeterminate: indeterminate,
            acknowledgedByPid: perPid.mapValues(\.acknowledged),
            windowLatency: windowLatency
        )
        windowLatency.reset()
        return snapshot
    }

    func takeFinal() -> Final {
        eventLoop.preconditionInEventLoop()
        let final = Final(records: records, latency: latency, perPid: perPid, lastEnd: lastEnd,
                          ok: ok, fail: fail, indeterminate: indeterminate)
        records = []
        return final
    }
}
