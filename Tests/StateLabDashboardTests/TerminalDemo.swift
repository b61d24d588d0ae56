import Foundation
import StateLab
import Testing
@testable import StateLabDashboard

/// A stand-in engine for looking at the real terminal by hand before the real
/// engine exists: it answers every action with plausible events at once.
final class DemoEngine: DashboardEngine, @unchecked Sendable {  // state guarded by `lock`
    let queue = DashboardEventQueue()
    private let lock = NSLock()
    private var settings = DashboardSettings(strategy: .shm, mode: .naive, workers: 4, concurrency: 32, raceWindowMicroseconds: 0)
    private var acknowledged = 0
    private var store = 0
    private(set) var performed: [DashboardAction] = []
    private(set) var shutDown = false

    init() {
        queue.post(.availability([.redis: "redis-server not found: apt-get install redis-server"]))
        queue.post(.settings(settings))
        queue.post(.workers(rows()))
    }

    private func rows() -> [WorkerRow] {
        (0..<settings.workers).map { WorkerRow(index: $0, pid: Int32(30000 + $0), acknowledged: acknowledged / max(1, settings.workers), currentRead: store) }
    }

    func perform(_ action: DashboardAction) {
        lock.lock()
        defer { lock.unlock() }
        performed.append(action)
        switch action {
        case .fireBurst:
            queue.post(.burstStarted(total: 1000))
            acknowledged += 1000
            store += settings.mode == .naive ? 958 : 1000
            queue.post(.workers(rows()))
            // A checked history with the demo's verdict: the real checker's figures and words.
            let check = settings.mode == .naive ? Histories.lostUpdates() : Histories.ok(1000)
            queue.post(.burstFinished(RunTotals(check: check, witnesses: check.lost > 0 ? [WorkerWitness(count: 42, workers: [2, 3])] : [])))
            queue.post(.throughput(requestsPerSecond: Double.random(in: 2000...4000)))
            queue.post(.latency(p50Milliseconds: 1.2, p99Milliseconds: 7.9))
        case .chooseStrategy(let strategy):
            settings.strategy = strategy
            if !strategy.modes.contains(settings.mode) { settings.mode = .naive }
            queue.post(.relaunched(settings))
        case .chooseMode(let mode):
            settings.mode = mode
            queue.post(.relaunched(settings))
        case .changeWorkers(let delta):
            settings.workers = max(1, settings.workers + delta)
            queue.post(.relaunched(settings))
            queue.post(.workers(rows()))
        case .changeConcurrency(let delta):
            settings.concurrency = max(1, settings.concurrency + delta)
            queue.post(.settings(settings))
        case .resetAll, .resetOne:
            acknowledged = 0
            store = 0
            queue.post(.totals(RunTotals()))
            queue.post(.workers(rows()))
            queue.post(.log(.reset, "\(action)"))
        case .killWorker(let worker):
            queue.post(.log(.kill, "SIGKILL worker \(worker)"))
        case .killStore, .restartStore, .restartApp:
            queue.post(.log(.kill, "\(action)"))
        case .compare:
            queue.post(.compareStarted(mode: settings.mode, increments: 1000, strategies: Strategy.allCases))
            queue.post(.compareRow(CompareRow(strategy: .shm, mode: settings.mode, acknowledged: 1000, lost: 300, requestsPerSecond: 12000)))
        case .setPaused(let paused):
            queue.post(.paused(paused))
        case .quit:
            break
        }
    }

    func drainEvents() -> [DashboardEvent] { queue.drain() }

    func shutdown() {
        lock.lock()
        shutDown = true
        lock.unlock()
    }
}

/// Runs the real curses dashboard on the demo engine when STATELAB_DASHBOARD_DEMO
/// is set (e.g. inside tmux); STATELAB_DASHBOARD_ITERATIONS bounds it.
@Test(.enabled(if: ProcessInfo.processInfo.environment["STATELAB_DASHBOARD_DEMO"] != nil))
func terminalDemo() throws {
    let environment = ProcessInfo.processInfo.environment
    let engine = DemoEngine()
    let initial = DashboardModel(settings: DashboardSettings(strategy: .shm, mode: .naive, workers: 4, concurrency: 32))
    let ending = try DashboardLoop.run(engine: engine, initial: initial, fps: 10,
                                       iterations: environment["STATELAB_DASHBOARD_ITERATIONS"].flatMap { Int($0) },
                                       useColor: environment["NO_COLOR"] == nil)
    let report = "ending: \(ending)\nperformed: \(engine.performed)\nshutdown: \(engine.shutDown)\n"
    if let path = environment["STATELAB_DASHBOARD_DEMO_REPORT"] {
        try report.write(toFile: path, atomically: true, encoding: .utf8)
    }
    #expect(engine.shutDown)
}
