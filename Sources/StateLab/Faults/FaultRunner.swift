import NIOConcurrencyHelpers
#if canImport(Glibc)
import Glibc
#endif

/// An app a run can inject faults into: statelab's own, through its supervisor.
public protocol FaultTarget: RunTarget {
    /// SIGKILL one worker, then start its replacement (as gunicorn's arbiter
    /// does); the old and new pids.
    func killWorker(_ index: Int) async throws -> (old: Int32, new: Int32)
    /// SIGTERM one worker and start a new one; the old and new pids.
    func restartWorker(_ index: Int) async throws -> (old: Int32, new: Int32)
    /// SIGSTOP (paused) or SIGCONT one worker; its pid.
    func pauseWorker(_ index: Int, _ paused: Bool) async throws -> Int32
    /// Every worker stopped and started again; each one's old and new pid.
    func restartApp() async throws -> [(index: Int, old: Int32, new: Int32)]
    func killStore() async throws -> Int32
    func restartStore() async throws -> Int32
    /// Why the store has no process to kill or restart (global, shm, sqlite, a server at a URL); nil when it has one.
    var storeProcessProblem: String? { get }
    /// The pid of the worker holding the counter's lock, polled for at most `timeout` seconds.
    func lockHolder(timeout: Double) async -> Int32?
    /// How often a dead holder's lock was recovered so far, and from whom.
    func lockRecovery() async -> LockRecoveries?
    /// The worker index of a pid.
    func workerIndex(of pid: Int32) async -> Int?
    /// SIGKILL to every worker of one host (0-based), left down; their pids.
    func killHost(_ host: Int) async throws -> [Int32]
    /// One host's workers started again; each one's old and new pid.
    func restartHost(_ host: Int) async throws -> [(index: Int, old: Int32, new: Int32)]
}

extension FaultTarget {
    public func killHost(_ host: Int) async throws -> [Int32] {
        throw FaultError("kill_host needs several hosts: set app: {hosts: 3} (or --hosts 3)")
    }

    public func restartHost(_ host: Int) async throws -> [(index: Int, old: Int32, new: Int32)] {
        throw FaultError("restart_host needs several hosts: set app: {hosts: 3} (or --hosts 3)")
    }
}

/// Fires a run's fault steps in order while its load runs, and records each
/// in the history. Store and app restarts hold the load (`LoadGate`) around
/// their reads, so the count before and after is exact: nothing in flight.
final class FaultRunner: Sendable {
    let steps: [FaultStep]
    let target: any FaultTarget
    let recorder: HistoryRecorder
    let gate: LoadGate
    let shared: Bool
    /// How long requests in flight may take to end before a quiet read gives up on quiet.
    let drainTimeout: Double
    let adjust: @Sendable (ReadRecord) -> ReadRecord?
    private let loadOver = NIOLockedValueBox(false)
    private let state = NIOLockedValueBox(State())

    private struct State {
        var pendingStoreRestart: ResetToken?
        var paused: Set<Int> = []
        /// Hosts (0-based) a kill_host took down and no restart_host brought back yet.
        var hostsDown: Set<Int> = []
    }

    /// How long a worker may take to read again after a restart.
    static let recoveryTimeout = 60.0
    /// How long `kill_worker: holder` waits for a worker to hold the lock.
    static let holderTimeout = 5.0
    /// How long a lock recovery may take to show after its holder is killed.
    static let lockRecoveryTimeout = 10.0

    init(steps: [FaultStep], target: any FaultTarget, recorder: HistoryRecorder, gate: LoadGate, shared: Bool,
         drainTimeout: Double, adjust: @escaping @Sendable (ReadRecord) -> ReadRecord?) {
        self.steps = steps
        self.target = target
        self.recorder = recorder
        self.gate = gate
        self.shared = shared
        self.drainTimeout = drainTimeout
        self.adjust = adjust
    }

    /// The load has ended: steps still waiting for their trigger are missed.
    func loadEnded() { loadOver.withLockedValue { $0 = true } }

    /// Walks the steps; returns once all have fired or the load has ended,
    /// leaving the app whole (store up, no worker paused) either way.
    func run(loadStart: UInt64) async {
        var previousEnd = loadStart
        var index = 0
        while index < steps.count {
            let step = steps[index]
            guard await waitForTrigger(step.trigger, loadStart: loadStart, previousEnd: previousEnd) else { break }
            await perform(step)
            previousEnd = MonotonicClock.now()
            index += 1
        }
        for step in steps[index...] {
            recorder.missedFault("fault \(step) never happened: the load ended first (\(ReportNumbers.grouped(recorder.acknowledged)) acknowledged)")
        }
        // A worker paused by the last step stays paused, and a store killed stays down, until the load ends.
        while !loadOver.withLockedValue({ $0 }) && !Task.isCancelled {
            try? await Task.sleep(nanoseconds: 5_000_000)
        }
        await repair()
    }

    private func waitForTrigger(_ trigger: FaultStep.Trigger, loadStart: UInt64, previousEnd: UInt64) async -> Bool {
        // Bounded by the load: the loop ends when it does.
        while !loadOver.withLockedValue({ $0 }) && !Task.isCancelled {
            let now = MonotonicClock.now()
            switch trigger {
            case .next: return true
            case .afterAcknowledged(let count): if recorder.acknowledged >= count { return true }
            case .at(let seconds): if now >= loadStart + UInt64(seconds * 1e9) { return true }
            case .delay(let seconds): if now >= previousEnd + UInt64(seconds * 1e9) { return true }
            }
            try? await Task.sleep(nanoseconds: 1_000_000)
        }
        return false
    }

    // MARK: The steps

    /// One step fired on demand, with no load running (the dashboard's k, K,
    /// U and A): the same step a scenario runs, recorded in the same history.
    /// The store stays down after kill_store until a restart_store fires.
    func fire(_ step: FaultStep) async -> FaultRecord {
        await perform(step)
    }

    /// A kill_store fired and no restart_store after it yet.
    var storeDown: Bool { state.withLockedValue { $0.pendingStoreRestart != nil } }

    @discardableResult
    private func perform(_ step: FaultStep) async -> FaultRecord {
        let at = recorder.secondsSinceOrigin()
        let acknowledged = recorder.acknowledged
        var record = FaultRecord(step: step.description, atSeconds: at, acknowledged: acknowledged, outcome: "")
        do {
            switch step.kind {
            case .killStore: try await killStore(&record)
            case .restartStore: try await restartStore(&record)
            case .restartApp: try await restartApp(&record)
            case .killWorker, .restartWorker: try await replaceWorker(step, &record)
            case .killHost, .restartHost: try await hostStep(step, &record)
            case .pauseWorker, .resumeWorker:
                guard case .index(let index) = step.worker else { throw FaultError("pause and resume take a worker number") }
                let paused = step.kind == .pauseWorker
                record.worker = index
                record.pid = try await target.pauseWorker(index, paused)
                state.withLockedValue { state in
                    if paused { state.paused.insert(index) } else { state.paused.remove(index) }
                }
                record.outcome = "\(paused ? "paused" : "resumed") worker \(index) (pid \(record.pid!)) with \(paused ? "SIGSTOP" : "SIGCONT")"
            }
        } catch {
            record.failed = true
            record.outcome = "failed: \(error)"
            recorder.missedFault("fault \(step) failed: \(error)")
        }
        gate.open()
        recorder.recordFault(record)
        return record
    }

    private func killStore(_ record: inout FaultRecord) async throws {
        let before = await quietRead()
        let token = recorder.beginRestart(.store, before: before.value, exact: before.exact)
        do {
            record.storePid = try await target.killStore()
        } catch {
            // Nothing changed: the counter is still what was just read.
            recorder.endRestart(token, after: before.value, exact: false, note: "the kill failed, so nothing was restarted")
            throw error
        }
        state.withLockedValue { $0.pendingStoreRestart = token }
        record.outcome = "killed the store (pid \(record.storePid!)) with SIGKILL at \(describe(before))"
    }

    private func restartStore(_ record: inout FaultRecord) async throws {
        guard let token = state.withLockedValue({ $0.pendingStoreRestart }) else {
            throw FaultError("restart_store without a kill_store before it")
        }
        state.withLockedValue { $0.pendingStoreRestart = nil }
        gate.close()
        let drained = await gate.waitQuiet(timeout: drainTimeout)
        do {
            record.storePid = try await target.restartStore()
        } catch {
            recorder.endRestart(token, after: nil, exact: false, note: "\(error)")
            throw error
        }
        let after = await readWhenBack(drained: drained)
        recorder.endRestart(token, after: after.value, exact: after.exact)
        record.outcome = "restarted the store as pid \(record.storePid!); \(after.value == nil ? "the count could not be read after it" : "then read \(describe(after))")"
    }

    private func restartApp(_ record: inout FaultRecord) async throws {
        let before = await quietRead()
        if shared {
            let token = recorder.beginRestart(.app, before: before.value, exact: before.exact)
            let pids: [(index: Int, old: Int32, new: Int32)]
            do {
                pids = try await target.restartApp()
            } catch {
                recorder.endRestart(token, after: nil, exact: false, note: "\(error)")
                throw error
            }
            for (_, old, _) in pids { recorder.departed(pid: old, reason: "stopped by restart_app") }
            let after = await readWhenBack(drained: true)
            recorder.endRestart(token, after: after.value, exact: after.exact)
            record.outcome = "restarted every worker (\(pids.map { "pid \($0.old) -> \($0.new)" }.joined(separator: ", ")))"
            return
        }
        let start = MonotonicClock.now()
        let pids = try await target.restartApp()
        for (_, old, _) in pids { recorder.departed(pid: old, reason: "stopped by restart_app: its own counter went with it (lost_to_restart)") }
        let after = await readWhenBack(drained: true)
        recorder.recordRestart(RestartSummary(
            scope: .app, atSeconds: recorder.secondsSinceOrigin(start), acknowledgedBefore: recorder.acknowledged,
            before: before.value, after: after.value, exact: before.exact && after.exact))
        record.outcome = "restarted every worker (\(pids.map { "pid \($0.old) -> \($0.new)" }.joined(separator: ", ")))"
    }

    /// kill_worker and restart_worker: one worker replaced. For a counter
    /// per worker (global) the load is held around it, so the worker's count
    /// before and its replacement's after are exact.
    private func replaceWorker(_ step: FaultStep, _ record: inout FaultRecord) async throws {
        let kill = step.kind == .killWorker
        let index: Int
        var recoveriesBefore: LockRecoveries?
        switch step.worker ?? .index(0) {
        case .index(let chosen):
            index = chosen
        case .holder:
            recoveriesBefore = await target.lockRecovery()
            let (pid, found) = try await freezeHolder()
            index = found
            record.events.append("pid \(pid) held the lock when the step fired (stopped with SIGSTOP while it held it, then killed)")
        }
        record.worker = index
        var before: (value: Int?, exact: Bool) = (nil, false)
        if !shared { before = await quietRead(worker: index) }
        let start = MonotonicClock.now()
        let acknowledged = recorder.acknowledged
        let (old, new) = kill ? try await target.killWorker(index) : try await target.restartWorker(index)
        record.pid = old
        record.outcome = "\(kill ? "killed worker \(index) (pid \(old)) with SIGKILL" : "restarted worker \(index) (pid \(old)) with SIGTERM"); replaced by pid \(new)"
        if shared { recorder.departed(pid: old, reason: kill ? "killed by kill_worker" : "stopped by restart_worker") }
        if !shared {
            recorder.departed(pid: old, reason: "\(kill ? "killed by kill_worker" : "stopped by restart_worker"): its own counter went with it (lost_to_restart)")
            let after = await quietRead(worker: index)
            recorder.recordRestart(RestartSummary(
                scope: .worker, atSeconds: recorder.secondsSinceOrigin(start), acknowledgedBefore: acknowledged,
                before: before.value, after: after.value, exact: before.exact && after.exact,
                worker: index, pid: old, newPid: new))
        }
        if step.worker == .holder {
            if let event = await waitForRecovery(after: recoveriesBefore, of: old) {
                record.events.append(event)
            } else {
                record.events.append("no lock recovery from pid \(old) was seen within \(Int(Self.lockRecoveryTimeout)) s")
            }
        }
    }

    /// kill_host and restart_host: every worker of one host at once. The load
    /// goes on through nginx, which sends it to the other hosts: requests in
    /// flight on the host when it goes fail or end indeterminate, as they would.
    private func hostStep(_ step: FaultStep, _ record: inout FaultRecord) async throws {
        guard case .index(let number) = step.worker ?? .index(1) else { throw FaultError("a host step takes a host number") }
        let host = number - 1
        if step.kind == .killHost {
            let pids = try await target.killHost(host)
            state.withLockedValue { _ = $0.hostsDown.insert(host) }
            for pid in pids {
                recorder.departed(pid: pid, reason: shared ? "killed by kill_host \(number)"
                                  : "killed by kill_host \(number): its own counter went with it (lost_to_restart)")
            }
            record.outcome = "killed every worker of host \(number) (\(pids.map { "pid \($0)" }.joined(separator: ", "))) with SIGKILL; they stay down until restart_host"
            return
        }
        let pids = try await target.restartHost(host)
        let wasDown = state.withLockedValue { $0.hostsDown.remove(host) != nil }
        if !wasDown {
            for (_, old, _) in pids { recorder.departed(pid: old, reason: "stopped by restart_host \(number)") }
        }
        record.outcome = "\(wasDown ? "started" : "restarted") every worker of host \(number) (\(pids.map { "pid \($0.old) -> \($0.new)" }.joined(separator: ", ")))"
    }

    /// Finds the worker holding the lock and stops it (SIGSTOP) while it still
    /// holds it: a holder read and then killed a moment later may have let go
    /// in between, and its kill would prove nothing. A stopped process cannot
    /// let go, so once it is stopped and still the holder, the SIGKILL that
    /// follows kills the lock's holder. Returns its pid and worker index.
    private func freezeHolder() async throws -> (pid: Int32, index: Int) {
        let deadline = MonotonicClock.now() + UInt64(Self.holderTimeout * 1e9)
        while MonotonicClock.now() < deadline {
            guard let pid = await target.lockHolder(timeout: Self.holderTimeout) else { break }
            guard let index = await target.workerIndex(of: pid) else {
                throw FaultError("the lock holder, pid \(pid), is not a worker of this app")
            }
            do {
                _ = try await target.pauseWorker(index, true)
            } catch {
                _ = try? await target.pauseWorker(index, false)
                throw error
            }
            if await target.lockHolder(timeout: 0) == pid { return (pid, index) }
            _ = try await target.pauseWorker(index, false)
        }
        throw FaultError("no worker was caught holding the lock within \(Int(Self.holderTimeout)) s; give the run a race window (race_window_us) so the lock is held long enough to be caught")
    }

    /// Polls the lock's recoveries until one more than `before` shows.
    private func waitForRecovery(after before: LockRecoveries?, of pid: Int32) async -> String? {
        let deadline = MonotonicClock.now() + UInt64(Self.lockRecoveryTimeout * 1e9)
        while MonotonicClock.now() < deadline {
            if let now = await target.lockRecovery(), now.count > (before?.count ?? 0) {
                return FaultRecord.recoveryPrefix + now.description
            }
            try? await Task.sleep(nanoseconds: 5_000_000)
        }
        return nil
    }

    // MARK: Reads with the load held

    /// Holds the load, waits for the requests in flight, and reads every
    /// worker (or one): the shared count, or the workers' counts summed.
    /// Exact when nothing was in flight and every worker agreed. The gate
    /// stays closed; `perform` opens it when the step is done.
    private func quietRead(worker: Int? = nil) async -> (value: Int?, exact: Bool) {
        gate.close()
        let drained = await gate.waitQuiet(timeout: drainTimeout)
        let (reads, unread) = await target.readAll(expecting: [], skipping: [])
        let chosen = worker.map { index in reads.filter { $0.worker == index } } ?? reads
        for read in chosen { if let adjusted = adjust(read) { recorder.recordRead(adjusted) } }
        let values = chosen.compactMap { adjust($0)?.value }
        guard !values.isEmpty, values.count == chosen.count else { return (nil, false) }
        let exact = shared ? drained && unread.isEmpty && Set(values).count == 1 : drained && (worker != nil || unread.isEmpty)
        return (StoreCount.of(values, shared: shared), exact)
    }

    /// After a restart: reads every worker until all answer (each reconnects
    /// to the store on its own backoff), with the load still held.
    private func readWhenBack(drained: Bool) async -> (value: Int?, exact: Bool) {
        let deadline = MonotonicClock.now() + UInt64(Self.recoveryTimeout * 1e9)
        while true {
            let (reads, unread) = await target.readAll(expecting: [], skipping: [])
            if unread.isEmpty, !reads.isEmpty {
                let values = reads.compactMap { adjust($0)?.value }
                guard values.count == reads.count else { return (nil, false) }
                let quiet = drained && gate.quiet
                return (StoreCount.of(values, shared: shared), shared ? quiet && Set(values).count == 1 : quiet)
            }
            if MonotonicClock.now() > deadline || Task.isCancelled { return (nil, false) }
            try? await Task.sleep(nanoseconds: 20_000_000)
        }
    }

    private func describe(_ read: (value: Int?, exact: Bool)) -> String {
        guard let value = read.value else { return "a count that could not be read" }
        return "count \(ReportNumbers.grouped(value))\(read.exact ? "" : " (read with increments in flight)")"
    }

    /// Once the load is over: a store left down is started again and a paused
    /// worker resumed, so the final reads can reach them.
    private func repair() async {
        gate.open()
        if let token = state.withLockedValue({ $0.pendingStoreRestart }) {
            state.withLockedValue { $0.pendingStoreRestart = nil }
            let restarted = (try? await target.restartStore()) != nil
            let after: (value: Int?, exact: Bool) = restarted ? await readWhenBack(drained: true) : (nil, false)
            recorder.endRestart(token, after: after.value, exact: after.exact, note: "restarted after the load ended")
        }
        for index in state.withLockedValue({ $0.paused }).sorted() {
            _ = try? await target.pauseWorker(index, false)
        }
        for host in state.withLockedValue({ $0.hostsDown }).sorted() {
            _ = try? await target.restartHost(host)
        }
    }
}

extension SupervisorTarget: FaultTarget {
    public func killWorker(_ index: Int) async throws -> (old: Int32, new: Int32) {
        let supervisor = self.supervisor
        return try await OffThread.run {
            guard let old = supervisor.workers.first(where: { $0.index == index })?.pid else { throw StoreError("no worker \(index)") }
            supervisor.kill(worker: index)
            supervisor.monitor()
            guard let new = supervisor.workers.first(where: { $0.index == index }), new.pid != old, new.status == .alive else {
                throw StoreError("worker \(index) (pid \(old)) was killed and did not come back")
            }
            return (old, new.pid)
        }
    }

    public func restartWorker(_ index: Int) async throws -> (old: Int32, new: Int32) {
        let supervisor = self.supervisor
        return try await OffThread.run {
            guard let old = supervisor.workers.first(where: { $0.index == index })?.pid else { throw StoreError("no worker \(index)") }
            return (old, try supervisor.restart(worker: index))
        }
    }

    public func pauseWorker(_ index: Int, _ paused: Bool) async throws -> Int32 {
        let supervisor = self.supervisor
        return try await OffThread.run { try supervisor.pause(worker: index, paused) }
    }

    public func restartApp() async throws -> [(index: Int, old: Int32, new: Int32)] {
        let supervisor = self.supervisor
        return try await OffThread.run { try supervisor.restartApp() }
    }

    public func killStore() async throws -> Int32 {
        let supervisor = self.supervisor
        return try await OffThread.run { try supervisor.killStore() }
    }

    public func restartStore() async throws -> Int32 {
        let supervisor = self.supervisor
        return try await OffThread.run { try supervisor.restartStore() }
    }

    public func lockHolder(timeout: Double) async -> Int32? {
        let supervisor = self.supervisor
        return await OffThread.run { supervisor.waitForLockHolder(timeout: timeout) }
    }

    public func lockRecovery() async -> LockRecoveries? {
        let supervisor = self.supervisor
        return await OffThread.run { supervisor.lockRecoveries() }
    }

    public func workerIndex(of pid: Int32) async -> Int? {
        supervisor.workers.first { $0.pid == pid }?.index
    }
}
