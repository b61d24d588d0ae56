import Atomics
import Histogram
import Foundation
import NIOConcurrencyHelpers

public enum LoadError: Error, Equatable, CustomStringConvertible {
    case invalidPlan(String)

    public var description: String {
        switch self {
        case .invalidPlan(let reason): return "invalid load plan: \(reason)"
        }
    }
}

/// Fires a `LoadPlan` at an HTTP counter app and records every request.
/// A generator runs its plan once; make a new one for another run.
///
/// Connections live on the run's own loops (`LoadLoop`, one thread each) and
/// tally per loop (`LoadShard`); the caller's task only waits, samples
/// progress every 100 ms and merges the tallies at the end, so the view never
/// touches a connection.
public final class LoadGenerator: @unchecked Sendable {
    public let plan: LoadPlan
    private let recorder: HistoryRecorder?
    /// Holds the connections between requests while a fault step acts on a quiet app.
    public let gate = LoadGate()
    /// Guarded by `controlLock`; taken only at the start and end of a run and by stop().
    private var control = Control()
    private let controlLock = NSLock()

    /// What `stop()` needs to reach a run in progress.
    private struct Control {
        var stopRequested = false
        var schedule: RequestSchedule?
        var connections: [LoadConnection] = []
    }

    /// Nanoseconds between progress snapshots.
    public static let progressInterval: UInt64 = 100_000_000

    private func withControl<T>(_ body: (inout Control) -> T) -> T {
        controlLock.lock()
        defer { controlLock.unlock() }
        return body(&control)
    }

    /// - Parameter recorder: where each request's record streams as it ends;
    ///   without one, `LoadResult.increments` keeps them all.
    public init(plan: LoadPlan, recorder: HistoryRecorder? = nil) {
        self.plan = plan
        self.recorder = recorder
    }

    /// Stop issuing requests; `run` returns what it has once the requests in
    /// flight are answered or time out. Safe from any thread, before or during a run.
    public func stop() {
        let (schedule, connections) = withControl { control in
            control.stopRequested = true
            return (control.schedule, control.connections)
        }
        schedule?.stopIssuing()
        for connection in connections { connection.abandon() }
    }

    /// Runs the plan to its stop condition (or until `stop()` or task
    /// cancellation) and returns every request's record. `progress` is called
    /// from a background task at most every 100 ms (never when the plan's
    /// `progress` is `.none`) and once more at the end with the final totals;
    /// it should only hand the value on.
    /// Throws only `LoadError.invalidPlan`: failed requests are records, not errors.
    public func run(progress: (@Sendable (LoadProgress) -> Void)? = nil) async throws -> LoadResult {
        try validate()
        var loops: [LoadLoop] = []
        do {
            for index in 0..<min(max(1, plan.threads), plan.concurrency) { loops.append(try LoadLoop(name: "statelab-load-\(index)")) }
        } catch {
            for loop in loops { loop.shutdown() }
            throw LoadError.invalidPlan("no event loop for the load: \(error)")
        }
        defer { for loop in loops { loop.shutdown() } }
        return try await run(on: loops, progress: progress)
    }

    private func validate() throws {
        guard plan.concurrency >= 1 else { throw LoadError.invalidPlan("concurrency must be at least 1") }
        guard plan.timeout > 0 else { throw LoadError.invalidPlan("timeout must be positive") }
        guard plan.maxConnectAttempts >= 1 else { throw LoadError.invalidPlan("maxConnectAttempts must be at least 1") }
        if let rate = plan.rate, !(rate > 0 && rate.isFinite) { throw LoadError.invalidPlan("rate must be a positive number") }
        switch plan.stop {
        case .count(let total) where total < 0: throw LoadError.invalidPlan("count must not be negative")
        case .duration(let seconds) where !(seconds >= 0 && seconds.isFinite): throw LoadError.invalidPlan("duration must not be negative")
        default: break
        }
    }

    private func run(on loops: [LoadLoop], progress: (@Sendable (LoadProgress) -> Void)?) async throws -> LoadResult {
        let shards = loops.map {
            LoadShard(loop: $0, expectedRecords: expectedRecords(perShardOf: loops.count), recorder: recorder,
                      windowLatency: plan.progress == .latency)
        }
        let schedule = RequestSchedule(stop: plan.stop, rate: plan.rate, startTime: MonotonicClock.now(), gate: gate)

        let allFinished = Latch()
        let running = ManagedAtomic(plan.concurrency)
        let onFinished: @Sendable () -> Void = {
            if running.wrappingDecrementThenLoad(ordering: .acquiringAndReleasing) == 0 {
                allFinished.open()
            }
        }
        gate.setConnections(plan.concurrency)
        let connections = (0..<plan.concurrency).map { index in
            LoadConnection(
                loop: loops[index % loops.count], plan: plan, schedule: schedule,
                shard: shards[index % shards.count], gate: gate, process: Int32(index), onFinished: onFinished
            )
        }
        let stoppedBeforeStart = withControl { control in
            control.schedule = schedule
            control.connections = connections
            return control.stopRequested
        }
        if stoppedBeforeStart { schedule.stopIssuing() }
        defer { withControl { $0.connections = [] } }

        for connection in connections { connection.start() }

        await withTaskCancellationHandler {
            await withTaskGroup(of: Void.self) { tasks in
                tasks.addTask { await allFinished.wait() }
                if let progress, plan.progress != .none {
                    tasks.addTask { await Self.reportProgress(of: shards, schedule: schedule, to: progress) }
                }
                await tasks.next()
                tasks.cancelAll()
            }
        } onCancel: {
            self.stop()
        }

        var increments: [IncrementRecord] = []
        var latency = LatencyHistogram.make()
        var perPid: [Int32: PidTally] = [:]
        var lastEnd = schedule.startTime
        var counts = (ok: 0, fail: 0, indeterminate: 0)
        var misrouted: [Int?] = []
        var disagreements = (count: 0, first: String?.none)
        for shard in shards {
            let final = await shard.loop.submit { shard.takeFinal() }
            increments.append(contentsOf: final.records)
            latency.add(final.latency)
            for (pid, tally) in final.perPid { perPid[pid, default: PidTally()].merge(tally) }
            lastEnd = max(lastEnd, final.lastEnd)
            counts.ok += final.ok
            counts.fail += final.fail
            counts.indeterminate += final.indeterminate
            misrouted.append(final.misrouted)
            disagreements.count += final.disagreements
            disagreements.first = disagreements.first ?? final.firstDisagreement
        }
        // Every connection gave up (the server is gone): the requests nobody
        // could send are certainly not applied.
        let now = MonotonicClock.now()
        while schedule.isCountLimited, schedule.claim(now: now) != nil {
            let record = IncrementRecord(outcome: .fail, start: now, end: now)
            if let recorder { recorder.add(record) } else { increments.append(record) }
            counts.fail += 1
            lastEnd = now
        }

        if let progress {
            var final = LoadProgress(ok: counts.ok, fail: counts.fail, indeterminate: counts.indeterminate)
            final.completed = counts.ok + counts.fail + counts.indeterminate
            final.elapsed = Double(now - schedule.startTime) / 1_000_000_000
            final.currentRate = final.elapsed > 0 ? Double(final.completed) / final.elapsed : 0
            final.acknowledgedByPid = perPid.mapValues(\.acknowledged)
            final.refusedByPid = perPid.mapValues(\.refused)
            let summary = LatencySummary(latency)
            final.p50 = summary.p50
            final.p99 = summary.p99
            progress(final)
        }

        let elapsed = max(Double(lastEnd - schedule.startTime) / 1_000_000_000, 1e-9)
        let attempted = counts.ok + counts.fail + counts.indeterminate
        var result = LoadResult(
            increments: increments,
            okCount: counts.ok,
            failCount: counts.fail,
            indeterminateCount: counts.indeterminate,
            elapsed: elapsed,
            throughput: Double(counts.ok) / elapsed,
            targetRate: plan.rate,
            achievedRate: Double(attempted) / elapsed,
            latency: LatencySummary(latency),
            perPid: perPid,
            stoppedEarly: withControl { $0.stopRequested }
        )
        // Misrouted only when no shard saw an answer from a path that exists.
        if counts.ok == 0, let status = misrouted.compactMap({ $0 }).first { result.misrouted = status }
        result.pidDisagreements = disagreements.count
        result.firstPidDisagreement = disagreements.first
        return result
    }

    private func expectedRecords(perShardOf shardCount: Int) -> Int {
        let total: Double
        switch plan.stop {
        case .count(let count): total = Double(count)
        case .duration(let seconds): total = (plan.rate ?? 10_000) * seconds
        }
        // Only a hint: a long run grows its arrays instead of reserving gigabytes.
        return Int(min(total, 1_000_000)) / max(shardCount, 1) + 16
    }

    // MARK: Progress

    private static func reportProgress(of shards: [LoadShard], schedule: RequestSchedule, to deliver: @Sendable (LoadProgress) -> Void) async {
        var previousCompleted = 0
        var previousTime = schedule.startTime
        while !Task.isCancelled {
            do {
                try await Task.sleep(nanoseconds: progressInterval)
            } catch {
                return
            }
            var snapshot = LoadProgress()
            var window: Histogram<UInt64>?
            for shard in shards {
                let part = await shard.loop.submit { shard.takeSnapshot() }
                snapshot.ok += part.ok
                snapshot.fail += part.fail
                snapshot.indeterminate += part.indeterminate
                snapshot.acknowledgedByPid.merge(part.acknowledgedByPid, uniquingKeysWith: +)
                snapshot.refusedByPid.merge(part.refusedByPid, uniquingKeysWith: +)
                if let part = part.windowLatency {
                    if window == nil { window = part } else { window!.add(part) }
                }
            }
            let now = MonotonicClock.now()
            snapshot.completed = snapshot.ok + snapshot.fail + snapshot.indeterminate
            snapshot.elapsed = Double(now - schedule.startTime) / 1_000_000_000
            let seconds = Double(now - previousTime) / 1_000_000_000
            snapshot.currentRate = seconds > 0 ? Double(snapshot.completed - previousCompleted) / seconds : 0
            if let window {
                let summary = LatencySummary(window)
                snapshot.p50 = summary.p50
                snapshot.p99 = summary.p99
            }
            previousCompleted = snapshot.completed
            previousTime = now
            guard !Task.isCancelled else { return }
            deliver(snapshot)
        }
    }
}

/// Opens once; waiting on it returns once it is open (at once if it already is).
private final class Latch: Sendable {
    private let state = NIOLockedValueBox<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func open() {
        let waiters = state.withLockedValue { state -> [CheckedContinuation<Void, Never>] in
            state.open = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func wait() async {
        await withCheckedContinuation { continuation in
            let isOpen = state.withLockedValue { state in
                if !state.open { state.waiters.append(continuation) }
                return state.open
            }
            if isOpen { continuation.resume() }
        }
    }
}
