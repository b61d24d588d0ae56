/// The rows: every worker read (bounded) a few times a second, and what each
/// pid answered, as the run knows them.
extension LiveRun {
    /// Reads every worker (bounded) and posts their rows.
    public func sample() async {
        guard !stopping, !pausedNow.withLockedValue({ $0 }), let target else { return }
        let (epoch, generation) = (self.epoch, self.generation)
        let expected = Set(acknowledgedByPid.keys).union(rowIndex.keys)
        // What each worker held before the session's baseline taken off, as the final reads are.
        let reads = await target.quickReads(expecting: expected, timeout: 0.5).compactMap { read in
            session.map { $0.adjusted(read) } ?? read
        }
        // Only if nothing changed what the workers hold meanwhile: reads taken mid-burst must
        // not land after the burst's verdict, nor reads from before a reset after it.
        guard epoch == self.epoch, generation == self.generation, phase != .resetting, !stopping else { return }
        guard await postRows(reads: reads, epoch: epoch, generation: generation) else { return }
        if let live = live.withLockedValue({ $0 }) {
            emit(.throughput(requestsPerSecond: live.currentRate))
            let acknowledged = acknowledgedByPid.values.reduce(0, +) + live.ok
            let values = reads.map(\.value)
            let shared = ownApp ? settings.strategy.isShared : session?.sharing != .no && Set(values).count <= 1
            // A counter per host: each host's highest read, summed over the hosts.
            let store = session?.sharing == .perHost ? StoreCount.perHost(reads) : StoreCount.of(values, shared: shared)
            emit(.live(LiveFigures(acknowledged: acknowledged, failed: live.fail, indeterminate: live.indeterminate,
                                          storeRead: store)))
        } else {
            emit(.throughput(requestsPerSecond: 0))
        }
    }

    /// Posts the rows, unless the workers' state changed (`epoch`, `generation`) while
    /// they were being put together; says whether it posted. `reads` have the session's
    /// baseline taken off already (the final reads come so from `settle`).
    @discardableResult
    func postRows(reads: [ReadRecord], epoch: Int? = nil, generation: Int? = nil) async -> Bool {
        guard let target else { return false }
        samples += 1
        for read in reads { lastRead[read.pid] = (samples, read.value) }
        let liveAcks = live.withLockedValue { $0?.acknowledgedByPid } ?? [:]
        var rows: [WorkerRow] = []
        if ownApp {
            for worker in await target.workers() {
                rowIndex[worker.pid] = worker.index
                let read = reads.first { $0.pid == worker.pid }?.value
                let status: WorkerStatus = switch worker.status {
                case .dead: .dead
                case .restarting: .restarting
                case .alive where phase == .faulting(.restartApp): .restarting
                // Its reads fail with 503 because its store is gone, not because it is (until U has it back).
                case .alive where session?.storeDown == true || phase == .faulting(.restartStore): .storeDown
                case .alive: read == nil ? .dead : .alive
                }
                var row = WorkerRow(index: worker.index, pid: worker.pid, status: status,
                                    acknowledged: (acknowledgedByPid[worker.pid] ?? 0) + (liveAcks[worker.pid] ?? 0),
                                    currentRead: read)
                row.host = worker.host
                rows.append(row)
            }
        } else {
            // A launched command's workers come from /proc: a pid no longer there is dead, and
            // a new one takes the row of a dead one (the server replaced it). An app at a URL
            // has only the pids seen in its answers.
            let running = Set(await target.workers().map(\.pid))
            let known = !running.isEmpty
            var dead = rowIndex.filter { known && !running.contains($0.key) }.map(\.value).sorted()
            let seen = Set(acknowledgedByPid.keys).union(liveAcks.keys).union(lastRead.keys)
            for pid in (known ? running : seen).sorted() where rowIndex[pid] == nil {
                if !dead.isEmpty, let old = rowIndex.first(where: { $0.value == dead[0] })?.key {
                    rowIndex[old] = nil
                    rowIndex[pid] = dead.removeFirst()
                } else {
                    rowIndex[pid] = (rowIndex.values.max() ?? -1) + 1
                }
            }
            var unreached: [Int32] = []
            // A limit alone reads nothing: a row is what the worker accepted and refused.
            let limitOnly = !target.appRequests.checksCounter
            let liveRefusals = live.withLockedValue { $0?.refusedByPid } ?? [:]
            for (pid, index) in rowIndex.sorted(by: { $0.value < $1.value }) {
                // A shared socket cannot address one pid: a read older than two seconds is not shown as current.
                let recent = lastRead[pid].flatMap { samples - $0.sample <= 8 ? $0.value : nil }
                let gone = known && !running.contains(pid)
                if recent == nil, !gone, !limitOnly, !namedUnreached.contains(pid) { unreached.append(pid) }
                let status: WorkerStatus = gone ? .dead : recent == nil && !limitOnly ? .restarting : .alive
                rows.append(WorkerRow(index: index, pid: pid, status: status,
                                      acknowledged: (acknowledgedByPid[pid] ?? 0) + (liveAcks[pid] ?? 0),
                                      currentRead: gone ? nil : recent,
                                      refused: limitOnly ? (refusedByPid[pid] ?? 0) + (liveRefusals[pid] ?? 0) : nil))
            }
            if !unreached.isEmpty, samples > 8 {
                namedUnreached.formUnion(unreached)
                emit(.note(.info, "\(target.appRequests.read.map(\.description) ?? "a read") has not reached pid \(unreached.map(String.init).joined(separator: ", ")) lately: the kernel picks the worker for each connection"))
            }
        }
        guard epoch.map({ $0 == self.epoch }) ?? true, generation.map({ $0 == self.generation }) ?? true,
              epoch == nil || phase != .resetting, !stopping else {
            return false
        }
        emit(.workers(rows))
        return true
    }
}
