/// Resets, kills and faults on a live run: each recorded in the run's one
/// history, then checked, and the check is what the run reports.
extension LiveRun {
    /// r and R: POST /reset through the given workers (nil: every one).
    public func reset(rows: [Int]?) async {
        guard let session, let target else { return }
        guard enter(.resetting) else { return }
        guard ownApp else {
            // A shared socket cannot address one worker: the reset goes to whichever answers.
            epoch += 1
            let answer = await session.reset(through: nil, timeout: 5)
            epoch += 1
            if answer.outcome == .ok {
                let pid = answer.pid.map { "pid \($0)" } ?? "a worker"
                emit(.note(.reset, "POST /reset answered by \(pid): an app with a counter per worker reset that worker only (the kernel picks which)"))
                if let pid = answer.pid { acknowledgedByPid[pid] = 0 }
                if session.sharing == .yes || session.sharing == .perHost { acknowledgedByPid = [:] }
            } else {
                emit(.error("POST /reset: \(answer.error ?? answer.outcome.rawValue)"))
            }
            await checkNow()
            return
        }
        let workers = await target.workers()
        let shared = settings.strategy.isShared
        for worker in workers where rows?.contains(worker.index) ?? true {
            epoch += 1
            let answer = await session.reset(through: worker.index, pid: worker.pid, timeout: 5)
            epoch += 1
            guard answer.outcome == .ok else {
                emit(.error("reset through worker \(worker.index) failed: \(answer.error ?? answer.outcome.rawValue)"))
                continue
            }
            if shared { acknowledgedByPid = [:] } else { acknowledgedByPid[worker.pid] = 0 }
            let pid = " (pid \(answer.pid ?? worker.pid))"
            let reach = shared ? "every worker shares the store" : "only that worker's own counter"
            emit(.note(.reset, rows == nil ? "reset through worker \(worker.index)\(pid)" : "reset through worker \(worker.index)\(pid): \(reach)"))
        }
        await checkNow()
    }

    /// k: statelab's own worker through the fault path (`kill_worker`); a
    /// launched command's pid by SIGKILL, recorded in the history, then
    /// watched in /proc for the server's replacement.
    public func kill(row: Int) async {
        guard let target else { return }
        if ownApp {
            await fault(FaultStep(.killWorker, worker: .index(row)), key: "k")
            return
        }
        guard let session, let pid = rowIndex.first(where: { $0.value == row })?.key else { return }
        await endBurst()
        guard enter(.faulting(.killWorker)) else { return }
        let before = Set(await target.workers().map(\.pid))
        if let refusal = await target.kill(pid: pid) {
            emit(.error(refusal))
            enter(.idle)
            return
        }
        epoch += 1
        session.recordKill(pid: pid, outcome: "SIGKILL to pid \(pid)")
        emit(.note(.kill, "SIGKILL to pid \(pid): its count dies with it"))
        // The user's server starts a new worker, or does not: watch /proc for a while.
        var fresh: [Int32] = []
        for _ in 0..<50 where fresh.isEmpty && !stopping {
            try? await Task.sleep(nanoseconds: 200_000_000)
            fresh = Set(await target.workers().map(\.pid)).subtracting(before).sorted()
        }
        emit(.note(.kill, fresh.isEmpty
            ? "no new worker appeared within 10 s (does the server start a new worker when one dies?)"
            : "pid \(pid) was replaced by pid \(fresh.map(String.init).joined(separator: ", "))"))
        await checkNow()
    }

    /// k, K, U and A on statelab's own app: the fault step a scenario would
    /// run, fired now through `RunSession.fire` (the `FaultRunner`), so it is in
    /// the history with its outcome, and a restart is judged durable or not by
    /// the check. A burst in flight is stopped and checked first; the history
    /// is checked again once the step is done.
    public func fault(_ step: FaultStep, key: String) async {
        guard let session, let target else {
            emit(.error("no app is running yet"))
            return
        }
        guard ownApp, target is any FaultTarget else {
            emit(.error("\(key): faults go to statelab's own app only, not to \(target.label)"))
            return
        }
        await endBurst()
        guard !stopping, enter(.faulting(step.kind)) else { return }
        epoch += 1
        if step.kind == .restartApp { await postRows(reads: []) }
        let restartsBefore = session.restartCount
        let task = Task { try await session.fire(step) }
        faultTask = task
        let record: FaultRecord
        do {
            record = try await task.value
        } catch {
            faultTask = nil
            emit(.error("\(key): \(error)"))
            enter(.idle)
            return
        }
        faultTask = nil
        epoch += 1
        guard !stopping else { return }
        emit(.fault(record, key: key))
        // With the store down, the check says what cannot be known until U.
        guard let check = await checkNow() else { return }
        // The restart this step ended, judged by the check in the report's words.
        for restart in check.restarts.dropFirst(restartsBefore) { emit(.restartJudged(restart)) }
    }

    /// Stops a burst in flight and waits for its check, which sees the store as it was.
    func endBurst() async {
        guard let burst else { return }
        burst.handle.stop()
        await burst.task?.value
    }

    /// After a reset or a fault: the workers' reads settled and the whole
    /// history checked again, and that check reported, as after a burst.
    @discardableResult
    func checkNow() async -> CheckResult? {
        defer { if machine.phase == .settling { machine.move(to: .idle) } }
        guard let session, !stopping, enter(.settling) else { return nil }
        let generation = self.generation
        epoch += 1
        let finals = await session.settle(expecting: Set(acknowledgedByPid.keys).union(rowIndex.keys))
        let (check, _) = session.check()
        guard generation == self.generation, !stopping else { return nil }
        await postRows(reads: finals)
        emit(.checked(check, witnesses: witnessRows(check), race: session.latestRace(for: check), afterBurst: false))
        return check
    }
}
