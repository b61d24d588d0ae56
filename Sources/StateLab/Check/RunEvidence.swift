/// What a report draws besides the check's figures: the run over time, every
/// read, and a few witnessed lost updates as they happened. Collected only
/// when a report asks for it (`--html`, the dashboard's race view); times are
/// seconds since the history's origin, on the one monotonic clock.
public struct RunEvidence: Sendable, Codable, Equatable {
    /// The width of one bin, in seconds (it doubles when a long run outgrows `EvidenceRecorder.maxBins`).
    public var binSeconds: Double
    /// The run in bins of `binSeconds`, from the origin; a bin with nothing in it is still there.
    public var bins: [EvidenceBin]
    /// Every read taken while the load ran, and the final reads.
    public var reads: [EvidenceRead]
    /// Witnessed lost updates, the first few of the view that was checked.
    public var races: [RaceTrace]
    /// The workers said when they read and when they wrote (statelab's own app,
    /// naive or locked). Otherwise only the outside view exists: each box is
    /// a request from its send to its answer.
    public var insideView: Bool

    public init(binSeconds: Double, bins: [EvidenceBin] = [], reads: [EvidenceRead] = [], races: [RaceTrace] = [],
                insideView: Bool = false) {
        self.binSeconds = binSeconds
        self.bins = bins
        self.reads = reads
        self.races = races
        self.insideView = insideView
    }
}

/// One bin of a run: the operations that ended in it, and their latency.
public struct EvidenceBin: Sendable, Codable, Equatable {
    /// Seconds since the origin at which the bin begins.
    public var start: Double
    /// Operations that ended in the bin, by outcome.
    public var ok: Int
    public var failed: Int
    public var indeterminate: Int
    /// Operations that may have applied (ok or indeterminate) and were sent in the bin:
    /// with `ok` by end, the band a shared counter's reads must lie in.
    public var started: Int
    /// Latency of the operations that ended in the bin, in ms (0 when none did).
    public var p50Ms: Double
    public var p99Ms: Double
    public var maxMs: Double

    public init(start: Double, ok: Int = 0, failed: Int = 0, indeterminate: Int = 0, started: Int = 0,
                p50Ms: Double = 0, p99Ms: Double = 0, maxMs: Double = 0) {
        self.start = start
        self.ok = ok
        self.failed = failed
        self.indeterminate = indeterminate
        self.started = started
        self.p50Ms = p50Ms
        self.p99Ms = p99Ms
        self.maxMs = maxMs
    }
}

/// One read of one worker's count.
public struct EvidenceRead: Sendable, Codable, Equatable {
    public var pid: Int32
    public var worker: Int?
    public var value: Int
    /// When it was sent and when its answer came, seconds since the origin.
    public var start: Double
    public var end: Double
    /// One of the reads taken once the load had ended.
    public var final: Bool

    public init(pid: Int32, worker: Int?, value: Int, start: Double, end: Double, final: Bool) {
        self.pid = pid
        self.worker = worker
        self.value = value
        self.start = start
        self.end = end
        self.final = final
    }
}

/// A witnessed lost update: two (or more) acknowledged operations that
/// returned the same count, with the operations around them in time.
public struct RaceTrace: Sendable, Codable, Equatable {
    /// The count both returned.
    public var count: Int
    /// The colliding operations and those that overlapped them, by start.
    public var ops: [RaceOp]

    public init(count: Int, ops: [RaceOp]) {
        self.count = count
        self.ops = ops
    }

    /// The operations that returned `count`.
    public var colliding: [RaceOp] { ops.filter(\.colliding) }

    /// The race in one sentence, from what the operations said: both read the
    /// same value before either wrote, when the workers said when they did.
    public var sentence: String {
        let ops = colliding
        let lost = ops.count - 1
        let (all, any) = ops.count == 2 ? ("both", "either") : ("all \(ops.count)", "any")
        let reads = ops.compactMap(\.readValue)
        let lostWords = lost == 1 ? "one increment was lost" : "\(lost) increments were lost"
        if ops.count >= 2, reads.count == ops.count, Set(reads).count == 1, let lastRead = ops.compactMap(\.readAt).max(),
           let firstWrite = ops.compactMap(\.wroteAt).min() {
            if lastRead < firstWrite {
                return "\(who) \(all) read \(reads[0]) before \(any) wrote \(count): each wrote \(count), so \(lostWords)."
            }
            // One read came after another's write, and still saw the old value: a late write had put it back.
            return "\(who) \(all) read \(reads[0]) and each wrote \(count), so \(lostWords); one read came after another's write of \(count): a slower increment's late write had put the count back to \(reads[0]) in between."
        }
        return "\(who) \(all) answered \(count): their requests overlapped, each was acknowledged, and the count went up by one for the \(ops.count == 2 ? "two" : String(ops.count))."
    }

    /// The colliding requests' workers: "pid 1 and pid 2", "2 requests to pid 7", "pid 1 (2 requests), pid 2 and pid 3".
    private var who: String {
        var names: [String] = []
        var requests: [String: Int] = [:]
        for op in colliding {
            let name = op.pid.map { "pid \($0)" } ?? "an unknown worker"
            if requests[name] == nil { names.append(name) }
            requests[name, default: 0] += 1
        }
        if names.count == 1 { return "\(colliding.count) requests to \(names[0])" }
        let described = names.map { requests[$0]! > 1 ? "\($0) (\(requests[$0]!) requests)" : $0 }
        return described.dropLast().joined(separator: ", ") + " and " + described.last!
    }
}

/// One operation of a race, as the load generator (and, when it said so, the worker) saw it.
public struct RaceOp: Sendable, Codable, Equatable {
    public var pid: Int32?
    /// The request's send and its answer, seconds since the origin.
    public var start: Double
    public var end: Double
    public var outcome: Outcome
    /// The count the answer carried.
    public var count: Int?
    /// When the worker read the counter, and what it read (inside view only).
    public var readAt: Double?
    public var readValue: Int?
    /// When the worker's write was done (committed, for a transaction).
    public var wroteAt: Double?
    /// It returned the race's count.
    public var colliding: Bool

    public init(pid: Int32?, start: Double, end: Double, outcome: Outcome, count: Int?, readAt: Double? = nil,
                readValue: Int? = nil, wroteAt: Double? = nil, colliding: Bool) {
        self.pid = pid
        self.start = start
        self.end = end
        self.outcome = outcome
        self.count = count
        self.readAt = readAt
        self.readValue = readValue
        self.wroteAt = wroteAt
        self.colliding = colliding
    }
}
