/// Jepsen's counter checker, adapted to a counter that may be shared by every
/// worker (manager, shm, sqlite, redis) or copied into each one (global).
///
/// Everything is sorting and binary search, O(n log n) in the increments.
public enum Checker {
    /// How many read violations and duplicate witnesses a result keeps.
    public static let readViolationCap = 20
    public static let witnessCap = 5

    public static func check(_ history: History, shared: Bool) -> CheckResult {
        var model = CounterModel(history: history, shared: shared)

        var acknowledged = 0, failed = 0, indeterminate = 0
        var acknowledgedByPid: [Int32: Int] = [:]
        var certain = 0, possible = 0
        for increment in history.increments {
            switch increment.outcome {
            case .ok:
                acknowledged += 1
                if let pid = increment.pid { acknowledgedByPid[pid, default: 0] += 1 }
            case .fail: failed += 1
            case .indeterminate: indeterminate += 1
            }
            switch model.standing(of: increment) {
            case .certain: certain += 1
            case .possible: possible += 1
            case .wiped, .never: break
            }
        }

        let finals = history.finalReads.map(\.value)
        let finalMin = finals.min() ?? 0
        let finalMax = finals.max() ?? 0
        // Shared: every final read sees the same counter, take the highest so
        // "lost" is a lower bound. Unshared: each worker holds part of the total.
        let final = shared ? finalMax : finals.reduce(0, +)
        let lost = max(0, certain - final)
        let unexpected = max(0, final - (certain + possible))
        let divergent = Set(finals).count > 1

        let (duplicates, witnesses) = model.duplicates(in: history.increments)
        let (violations, violationCount) = model.readViolations(in: readsToCheck(history))

        let perWorker = history.finalReads
            .sorted { ($0.worker ?? .max, $0.pid) < ($1.worker ?? .max, $1.pid) }
            .map { WorkerTally(pid: $0.pid, worker: $0.worker, count: $0.value,
                               acknowledged: acknowledgedByPid[$0.pid] ?? 0) }

        return CheckResult(
            shared: shared, acknowledged: acknowledged, failed: failed, indeterminate: indeterminate,
            acknowledgedSinceReset: certain, finalMin: finalMin, finalMax: finalMax, final: final,
            lost: lost, unexpected: unexpected, duplicates: duplicates, witnesses: witnesses,
            divergent: divergent, readViolations: violations, readViolationCount: violationCount,
            perWorker: perWorker,
            verdict: CheckResult.verdict(
                lost: lost, duplicates: duplicates, divergent: divergent, failed: failed,
                indeterminate: indeterminate, unexpected: unexpected, readViolations: violationCount))
    }

    /// Every read, the final ones included once, in time order.
    private static func readsToCheck(_ history: History) -> [ReadRecord] {
        struct Key: Hashable { var pid: Int32; var value: Int; var start: UInt64; var end: UInt64 }
        func key(_ read: ReadRecord) -> Key { Key(pid: read.pid, value: read.value, start: read.start, end: read.end) }
        var seen = Set(history.reads.map(key))
        var reads = history.reads
        for read in history.finalReads where seen.insert(key(read)).inserted {
            reads.append(read)
        }
        return reads.sorted { ($0.start, $0.end) < ($1.start, $1.end) }
    }
}
