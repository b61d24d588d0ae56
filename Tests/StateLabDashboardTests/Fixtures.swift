import StateLab
@testable import StateLabDashboard

/// Models of the situations the dashboard must explain, built through the
/// same events the engine sends.
enum Fixtures {
    static let pids: [Int32] = [41001, 41002, 41003, 41004]

    static func base(_ strategy: Strategy = .shm, _ mode: Mode = .naive, workers: Int = 4) -> DashboardModel {
        var model = DashboardModel(settings: DashboardSettings(strategy: strategy, mode: mode, workers: workers, concurrency: 32, raceWindowMicroseconds: 50))
        model.apply(.availability([.redis: "redis-server not found: apt-get install redis-server"]))
        return model
    }

    /// shm naive: 1000 acknowledged, the store holds 958, workers 2 and 3 both wrote 42.
    static func lostUpdates() -> DashboardModel {
        var model = base()
        model.apply(.burstStarted(total: 1000))
        model.apply(.workers((0..<4).map { WorkerRow(index: $0, pid: pids[$0], acknowledged: 250, currentRead: 958) }))
        model.apply(.burstFinished(RunTotals(acknowledged: 1000, storeValue: 958, lost: 42, duplicates: 42,
                                             witnesses: [WorkerWitness(count: 42, workers: [2, 3]), WorkerWitness(count: 77, workers: [0, 1])])))
        for rate in [900.0, 2400, 3100, 2800, 3300, 1200] { model.apply(.throughput(requestsPerSecond: rate)) }
        model.apply(.latency(p50Milliseconds: 1.25, p99Milliseconds: 8.5))
        return model
    }

    /// global naive: every worker counts alone, 1996 acknowledged in all.
    static func divergence() -> DashboardModel {
        var model = base(.global)
        let reads = [512, 500, 496, 488]
        model.apply(.workers((0..<4).map { WorkerRow(index: $0, pid: pids[$0], acknowledged: reads[$0], currentRead: reads[$0]) }))
        model.apply(.burstFinished(RunTotals(acknowledged: 1996, storeValue: nil, lost: 0)))
        return model
    }

    /// shm atomic: nothing lost, every worker agrees.
    static func healthy() -> DashboardModel {
        var model = base(.shm, .atomic)
        model.apply(.workers((0..<4).map { WorkerRow(index: $0, pid: pids[$0], acknowledged: 250, currentRead: 1000) }))
        model.apply(.burstFinished(RunTotals(acknowledged: 1000, storeValue: 1000)))
        return model
    }
}

extension ScreenBuffer {
    /// The first row containing `text`, or nil.
    func line(containing text: String) -> String? {
        self.text.first { $0.contains(text) }
    }

    func contains(_ text: String) -> Bool {
        line(containing: text) != nil
    }
}
