/// One pid's part in a limit: what it accepted and what it refused.
public struct LimitTally: Sendable, Codable, Equatable {
    public var pid: Int32
    public var accepted: Int
    public var refused: Int

    public init(pid: Int32, accepted: Int, refused: Int) {
        self.pid = pid
        self.accepted = accepted
        self.refused = refused
    }
}

/// What the check of a limit found: at most N operations accepted per
/// window (or in all), across every worker.
public struct LimitResult: Sendable, Codable, Equatable {
    public var limit: Int
    public var windowSeconds: Double?
    /// "fixed", "moving", "token-bucket:B"; nil without a window.
    public var algorithm: String?
    /// The algorithm was not named: the most lenient of the usual ones was assumed.
    public var assumed: Bool
    /// Operations certainly accepted (2xx) and refused (the app's own refusal status), in all.
    public var accepted: Int
    public var refused: Int
    /// Operations whose fate is unknown (5xx, timeouts): never counted as accepted.
    public var indeterminate: Int
    public var perPid: [LimitTally]
    /// Accepted operations with no known worker.
    public var unattributed: Int
    /// The most accepted beyond what the algorithm allows in one interval; 0 when within it.
    public var overLimit: Int
    /// The interval where that happened: seconds into the run, how many were accepted inside it, and the bound there.
    public var worstStart: Double?
    public var worstEnd: Double?
    public var worstAccepted: Int?
    public var worstBound: Int?
    /// What the limit allows in one interval as long as the window ("at most 100 in any 1m").
    public var allowance: String
    /// Answers whose X-RateLimit-Remaining went up from an earlier answer's while that one's window
    /// (by its Reset header) was still open: with one shared count it only goes down. How many, and the first.
    public var remainingRises = 0
    public var firstRemainingRise: String?
    /// Answers that carried X-RateLimit-Remaining.
    public var remainingSeen = 0

    /// The workers that each accepted about the limit on their own (80% of it or more).
    public var fullPids: [LimitTally] { perPid.filter { Double($0.accepted) >= 0.8 * Double(limit) } }

    /// Two or more workers each accepted about the limit on its own, and together over it:
    /// each keeps its own limit (per-process storage). A worker that got few requests may
    /// have accepted fewer; it does not hide the others.
    public var perProcess: Bool { fullPids.count >= 2 && overLimit > 0 }

    public var accepting: Int { perPid.filter { $0.accepted > 0 }.count }
}

/// Judges a limit soundly, so that a correct limiter is never blamed: only
/// operations certainly accepted count, an operation counts inside an
/// interval only when its whole request lay inside it (the app accepted it
/// somewhere between send and answer), and the bound is what the named
/// algorithm may rightly accept in that interval:
/// - in all (no window): N;
/// - fixed window (its alignment unknown): 2N in any interval no longer than
///   the window, the end of one window and the start of the next;
/// - moving window: N in any interval no longer than the window;
/// - token bucket or GCRA with burst B: B + L x N / W in an interval of length L.
enum LimitChecker {
    /// Intervals examined at most; with more accepted operations the starts are sampled,
    /// which can only miss an excess, never invent one.
    static let workBudget = 20_000_000

    struct Accepted: Sendable {
        var start: UInt64
        var end: UInt64
    }

    /// One answer's X-RateLimit-Remaining, with its request's times and its window's end (from -Reset).
    struct Remaining: Sendable {
        var start: UInt64
        var end: UInt64
        var remaining: Int32
        var windowEnd: UInt64?
        var pid: Int32?
    }

    /// What a limit is judged over, as the history recorded it.
    struct History: Sendable {
        var spec: LimitSpec
        var accepted: [Accepted]
        var refused: Int
        var indeterminate: Int
        var acceptedByPid: [Int32: Int]
        var refusedByPid: [Int32: Int]
        var remaining: [Remaining] = []
    }

    static func judge(_ history: History, origin: UInt64) -> LimitResult {
        var result = counts(history, origin: origin)
        result.remainingSeen = history.remaining.count
        // A moving window or a token bucket gives back what slid out or refilled: only a fixed window never does.
        if history.spec.window != nil, history.spec.algorithm == .fixed {
            (result.remainingRises, result.firstRemainingRise) = remainingRises(history.remaining, origin: origin)
        }
        return result
    }

    /// Answers whose Remaining is above an earlier answer's (one that ended before it began) while
    /// that answer's window was still open when it began: a count that every worker shares only
    /// goes down within a window. Only answers with a Reset header count (a window statelab
    /// cannot see ending is never assumed open), and each window end is taken a second early.
    static func remainingRises(_ observed: [Remaining], origin: UInt64) -> (Int, String?) {
        let earlier = observed.filter { $0.windowEnd != nil }.sorted { $0.end < $1.end }
        guard !earlier.isEmpty else { return (0, nil) }
        let later = observed.sorted { $0.start < $1.start }
        var open = MinHeap()
        var next = 0
        var rises = 0
        var first: String?
        for answer in later {
            while next < earlier.count, earlier[next].end < answer.start {
                open.push(earlier[next])
                next += 1
            }
            // Windows that ended before this answer began can say nothing about it.
            while let lowest = open.peek, lowest.windowEnd! <= answer.start { open.pop() }
            // The app handled it somewhere before its answer: that must be inside the window too.
            guard let lowest = open.peek, answer.remaining > lowest.remaining, answer.end < lowest.windowEnd! else { continue }
            rises += 1
            if first == nil {
                let who = { (pid: Int32?) in pid.map { "pid \($0)" } ?? "a worker" }
                first = "\(who(answer.pid)) said \(answer.remaining) remaining at \(String(format: "%.3f", Double(answer.start &- origin) / 1e9)) s, after \(who(lowest.pid)) had said \(lowest.remaining) at \(String(format: "%.3f", Double(lowest.end &- origin) / 1e9)) s in a window still open"
            }
        }
        return (rises, first)
    }

    /// The open observations, lowest Remaining first.
    struct MinHeap {
        private var items: [Remaining] = []
        var peek: Remaining? { items.first }

        mutating func push(_ item: Remaining) {
            items.append(item)
            var child = items.count - 1
            while child > 0 {
                let parent = (child - 1) / 2
                guard items[child].remaining < items[parent].remaining else { break }
                items.swapAt(child, parent)
                child = parent
            }
        }

        mutating func pop() {
            guard !items.isEmpty else { return }
            items.swapAt(0, items.count - 1)
            items.removeLast()
            var parent = 0
            while true {
                let left = 2 * parent + 1, right = left + 1
                var smallest = parent
                if left < items.count, items[left].remaining < items[smallest].remaining { smallest = left }
                if right < items.count, items[right].remaining < items[smallest].remaining { smallest = right }
                guard smallest != parent else { return }
                items.swapAt(parent, smallest)
                parent = smallest
            }
        }
    }

    /// Accepted and refused, and the interval with the most accepted beyond what the algorithm allows.
    private static func counts(_ history: History, origin: UInt64) -> LimitResult {
        let (spec, accepted) = (history.spec, history.accepted)
        let (acceptedByPid, refusedByPid) = (history.acceptedByPid, history.refusedByPid)
        let pids = Set(acceptedByPid.keys).union(refusedByPid.keys).sorted()
        let perPid = pids.map { LimitTally(pid: $0, accepted: acceptedByPid[$0] ?? 0, refused: refusedByPid[$0] ?? 0) }
        var result = LimitResult(
            limit: spec.count, windowSeconds: spec.window, algorithm: spec.window == nil ? nil : spec.algorithm.description,
            assumed: spec.window != nil && spec.assumed, accepted: accepted.count, refused: history.refused,
            indeterminate: history.indeterminate,
            perPid: perPid, unattributed: max(0, accepted.count - perPid.reduce(0) { $0 + $1.accepted }),
            overLimit: 0, allowance: allowance(spec))
        guard let window = spec.window else {
            result.overLimit = max(0, accepted.count - spec.count)
            if result.overLimit > 0, let first = accepted.map(\.start).min(), let last = accepted.map(\.end).max() {
                result.worstStart = seconds(first, origin)
                result.worstEnd = seconds(last, origin)
                result.worstAccepted = accepted.count
                result.worstBound = spec.count
            }
            return result
        }
        let sorted = accepted.sorted { $0.start < $1.start }
        let windowNanos = UInt64(window * 1e9)
        let rate = Double(spec.count) / window  // per second, for a token bucket
        var best: (excess: Int, start: UInt64, end: UInt64, count: Int, bound: Int)?
        // Each start is paired with the operations that began within one window of it.
        var reach = 0
        var total = 0
        for i in sorted.indices {
            while reach < sorted.count, sorted[reach].start <= sorted[i].start &+ windowNanos { reach += 1 }
            total += reach - i
        }
        let stride = max(1, total / workBudget)
        var reachEnd = 0
        for i in Swift.stride(from: 0, to: sorted.count, by: stride) {
            let from = sorted[i].start
            let horizon = from &+ windowNanos
            while reachEnd < sorted.count, sorted[reachEnd].start <= horizon { reachEnd += 1 }
            // Operations that began at or after `from` and ended within one window of it.
            let ends = sorted[i..<max(i, reachEnd)].map(\.end).filter { $0 <= horizon }
            switch spec.algorithm {
            case .fixed, .moving:
                let bound = spec.algorithm == .fixed ? 2 * spec.count : spec.count
                let excess = ends.count - bound
                if excess > 0, excess > (best?.excess ?? 0), let last = ends.max() {
                    best = (excess, from, last, ends.count, bound)
                }
            case .tokenBucket(let burst):
                // In order of their ends, the first k of them lie in [from, end_k].
                for (k, end) in ends.sorted().enumerated() {
                    let allowed = Double(burst) + Double(end - from) / 1e9 * rate
                    let bound = Int(allowed.rounded(.down))
                    let excess = k + 1 - bound
                    if excess > 0, excess > (best?.excess ?? 0) { best = (excess, from, end, k + 1, bound) }
                }
            }
        }
        if let best {
            result.overLimit = best.excess
            result.worstStart = seconds(best.start, origin)
            result.worstEnd = seconds(best.end, origin)
            result.worstAccepted = best.count
            result.worstBound = best.bound
        }
        return result
    }

    static func allowance(_ spec: LimitSpec) -> String {
        guard let window = spec.window else { return "at most \(ReportNumbers.grouped(spec.count)) in all" }
        let span = DurationText.format(.nanoseconds(Int64(window * 1e9)))
        switch spec.algorithm {
        case .fixed:
            return "a fixed window may accept up to \(ReportNumbers.grouped(2 * spec.count)) in any \(span) (the end of one window and the start of the next)"
        case .moving:
            return "a moving window accepts at most \(ReportNumbers.grouped(spec.count)) in any \(span)"
        case .tokenBucket(let burst):
            return "a token bucket accepts at most \(ReportNumbers.grouped(burst)) + \(ReportNumbers.grouped(spec.count)) per \(span) of the interval"
        }
    }

    private static func seconds(_ time: UInt64, _ origin: UInt64) -> Double { Double(time &- origin) / 1e9 }
}

extension LimitResult {
    /// "pid 4127 accepted 50, pid 4128 accepted 50 ...: 200 accepted ... against a limit of 50 per 1m".
    public var sentence: String {
        let limitText = "a limit of " + (windowSeconds.map { "\(ReportNumbers.grouped(limit)) per \(DurationText.format(.nanoseconds(Int64($0 * 1e9))))" }
            ?? "\(ReportNumbers.grouped(limit)) in all")
        let byPid = perPid.filter { $0.accepted > 0 }.map { "pid \($0.pid) accepted \(ReportNumbers.grouped($0.accepted))" }
        let who = byPid.isEmpty ? "" : byPid.joined(separator: ", ") + ": "
        if overLimit > 0 {
            var text = "\(who)\(ReportNumbers.grouped(accepted)) accepted against \(limitText)"
            if windowSeconds != nil, let count = worstAccepted, let bound = worstBound, let start = worstStart, let end = worstEnd {
                let kind = algorithm.map { $0.hasPrefix("token-bucket") ? "a token bucket" : "a \($0) window" } ?? "the limit"
                text += "; \(ReportNumbers.grouped(count)) of them within \(ReportNumbers.seconds(max(0, end - start))), where \(kind) allows at most \(ReportNumbers.grouped(bound))"
            }
            text += ": \(ReportNumbers.grouped(overLimit)) over"
            if perProcess { text += "; each worker enforces its own limit" }
            return text
        }
        var text = "\(ReportNumbers.grouped(accepted)) accepted, \(ReportNumbers.grouped(refused)) refused: within \(limitText)"
        if windowSeconds != nil { text += " (\(allowance)\(assumed ? "; assumed, name it with --limit-algorithm" : ""))" }
        if accepting < 2, accepted > 0 {
            text += "; only one worker accepted, so a limit kept per process could not show"
        }
        return text
    }
}
