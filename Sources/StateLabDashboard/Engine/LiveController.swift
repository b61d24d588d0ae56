import StateLab

/// What the dashboard watches.
public typealias DashboardTarget = LiveTarget
/// How the app under test is running: the header's first line.
public typealias DashboardSettings = LiveSettings

/// The dashboard's side of a `LiveRun`: keys become the run's steps, and the
/// run's events become dashboard events. It judges nothing and keeps no state
/// of the run: the verdict, the figures and the restarts are the run's check.
struct LiveController: Sendable {
    let run: LiveRun

    init(options: LiveRun.Options, events: DashboardEventQueue) {
        run = LiveRun(options: options) { event in
            for mapped in Self.map(event) { events.post(mapped) }
        }
    }

    func handle(_ action: DashboardAction) async {
        switch action {
        case .fireBurst: await run.fireBurst()
        case .chooseStrategy(let strategy):
            await run.relaunch { $0.strategy = strategy; if !strategy.modes.contains($0.mode) { $0.mode = .naive } }
        case .chooseMode(let mode): await run.relaunch { $0.mode = mode }
        case .changeConcurrency(let delta): await run.changeConcurrency(by: delta)
        case .changeWorkers(let delta): await run.relaunch { $0.workers = min(64, max(1, $0.workers + delta)) }
        case .resetOne(let worker): await run.reset(rows: [worker])
        case .resetAll: await run.reset(rows: nil)
        case .killWorker(let worker): await run.kill(row: worker)
        case .killStore: await run.fault(FaultStep(.killStore), key: "K")
        case .restartStore: await run.fault(FaultStep(.restartStore), key: "U")
        case .restartApp: await run.fault(FaultStep(.restartApp), key: "A")
        case .compare: await run.compare()
        case .setPaused(let paused): await run.setPaused(paused)
        case .quit: break
        }
    }

    /// A run's event as the dashboard's model takes it.
    static func map(_ event: LiveEvent) -> [DashboardEvent] {
        switch event {
        case .availability(let reasons): return [.availability(reasons)]
        case .settings(let settings, let relaunched): return [relaunched ? .relaunched(settings) : .settings(settings)]
        case .workers(let rows): return [.workers(rows)]
        case .burstStarted(let total): return [.burstStarted(total: total)]
        case .burstProgress(let done, let total): return [.burstProgress(done: done, total: total)]
        case .live(let figures): return [.live(figures)]
        case .checked(let check, let witnesses, let race, let afterBurst):
            let totals = RunTotals(check: check, witnesses: witnesses)
            return [afterBurst ? .burstFinished(totals) : .totals(totals), .race(race)]
        case .cleared: return [.totals(RunTotals()), .live(nil), .race(nil)]
        case .throughput(let rate): return [.throughput(requestsPerSecond: rate)]
        case .latency(let p50, let p99): return [.latency(p50Milliseconds: p50, p99Milliseconds: p99)]
        case .fault(let record, let key):
            let line = "\(key) \(record.step): \(record.outcome)"
            return [record.failed ? .error(line) : .log(.kill, line)] + record.events.map { .log(.kill, $0) }
        case .restartJudged(let restart): return [.log(restart.durable == false ? .error : .relaunch, restart.sentence)]
        case .workerExit(let exit): return [.log(.kill, exit.line)]
        case .sharingGuess(let reason): return [.log(.info, reason)]
        case .diagnosis(let found): return [.diagnosis(found.map(\.text))]
        case .note(let kind, let text): return [.log(LogKind(kind), text)]
        case .error(let text): return [.error(text)]
        case .compareStarted(let mode, let increments, let strategies):
            return [.compareStarted(mode: mode, increments: increments, strategies: strategies)]
        case .compareRow(let row): return [.compareRow(row)]
        case .compareFinished: return [.compareFinished]
        case .paused(let paused): return [.paused(paused)]
        }
    }
}

extension LogKind {
    init(_ note: LiveNote) {
        switch note {
        case .burst: self = .burst
        case .reset: self = .reset
        case .kill: self = .kill
        case .relaunch: self = .relaunch
        case .compare: self = .compare
        case .info: self = .info
        }
    }
}
