import Atomics

/// One request a connection has claimed: its place in the run and, in the
/// open model, when it was meant to be sent.
struct RequestTicket {
    let index: Int
    /// Monotonic nanoseconds; the request's latency is measured from here.
    let intendedTime: UInt64?
}

/// The single source of requests for every connection: it applies the stop
/// condition and the pacing, so all connections share one loop design.
///
/// Claiming is one atomic add, so connections on different event loops never
/// take a lock. Tickets are claimed in order by whichever connection is free
/// first, which makes the open model a global FIFO queue: a request whose
/// connection is late simply starts late and its latency (from the intended
/// time) grows, correcting coordinated omission.
final class RequestSchedule: Sendable {
    let startTime: UInt64
    private let stop: StopCondition
    /// Nanoseconds between intended sends (open model only).
    private let interval: Double?
    private let deadline: UInt64?
    private let nextIndex = ManagedAtomic<Int>(0)
    private let stopped = ManagedAtomic<Bool>(false)
    /// Time a fault step held the load: a duration-limited run gets it back.
    private let gate: LoadGate?

    init(stop: StopCondition, rate: Double?, startTime: UInt64, gate: LoadGate? = nil) {
        self.startTime = startTime
        self.gate = gate
        self.stop = stop
        if let rate, rate > 0 {
            interval = 1_000_000_000 / rate
        } else {
            interval = nil
        }
        if case .duration(let seconds) = stop {
            deadline = startTime + UInt64(max(0, seconds) * 1_000_000_000)
        } else {
            deadline = nil
        }
    }

    var isStopped: Bool { stopped.load(ordering: .relaxed) }

    /// Stop handing out tickets; claimed ones may still be sent.
    func stopIssuing() { stopped.store(true, ordering: .relaxed) }

    var isCountLimited: Bool {
        if case .count = stop { return true }
        return false
    }

    /// The next request to send, or nil when the run is over.
    func claim(now: UInt64) -> RequestTicket? {
        guard !isStopped else { return nil }
        // Check the deadline before taking an index, so a finished duration run
        // does not keep counting up. In the open model too: a rate the machine
        // cannot keep leaves tickets meant for before the deadline unsent when
        // it passes, and they stay unsent (never attempted, so not in the
        // history), or the run would last until the backlog drained.
        if let deadline, now >= deadline + (gate?.held ?? 0) { return nil }
        let index = nextIndex.loadThenWrappingIncrement(ordering: .relaxed)
        if case .count(let total) = stop, index >= total { return nil }
        guard let interval else { return RequestTicket(index: index, intendedTime: nil) }
        let intended = startTime + UInt64(Double(index) * interval)
        if let deadline, intended >= deadline { return nil }
        return RequestTicket(index: index, intendedTime: intended)
    }
}
