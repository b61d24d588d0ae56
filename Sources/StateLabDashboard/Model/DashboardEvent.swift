import StateLab

/// What the engine reports; the loop drains these into the model every frame.
public enum DashboardEvent: Sendable, Equatable {
    /// The settings the app now runs with (after start or a change).
    case settings(DashboardSettings)
    /// Strategies that cannot run here, each with a one-line reason and fix (replaces the previous map).
    case availability([Strategy: String])
    /// A fresh snapshot of every worker, in index order.
    case workers([WorkerRow])
    case burstStarted(total: Int)
    case burstProgress(done: Int, total: Int)
    /// The burst in flight's figures so far, unchecked (nil: none).
    case live(LiveFigures?)
    /// The history was checked again (after a reset, a fault, a launch): the check to show.
    case totals(RunTotals)
    /// A burst ended and was checked; the check to show (also logged).
    case burstFinished(RunTotals)
    /// The latest witnessed lost update of the view the last check took (nil: none), for the race view.
    case race(RaceTrace?)
    /// One throughput sample (requests per second over the last interval), appended to the sparkline.
    case throughput(requestsPerSecond: Double)
    case latency(p50Milliseconds: Double, p99Milliseconds: Double)
    case log(LogKind, String)
    /// Something failed; it goes to the log in the error colour.
    case error(String)
    case compareStarted(mode: Mode, increments: Int, strategies: [Strategy])
    case compareRow(CompareRow)
    case compareFinished
    /// The app was stopped and started again with these settings (workers changed, strategy changed...).
    case relaunched(DashboardSettings)
    /// The load was paused or resumed (confirms the pause key).
    case paused(Bool)
    /// What the last burst's figures point to, one line each (replaces the previous ones).
    case diagnosis([String])
}

extension DashboardModel {
    /// Folds one engine report into the model.
    public mutating func apply(_ event: DashboardEvent) {
        switch event {
        case .settings(let new):
            settings = new
        case .availability(let reasons):
            unavailableStrategies = reasons
        case .workers(let rows):
            workers = rows
            clampSelection()
        case .burstStarted(let total):
            burst = BurstProgress(done: 0, total: total)
            note(.burst, "burst of \(Format.count(total)) increments")
        case .burstProgress(let done, let total):
            burst = BurstProgress(done: done, total: total)
        case .live(let figures):
            live = figures
        case .totals(let figures):
            totals = figures
        case .burstFinished(let figures):
            totals = figures
            burst = nil
            live = nil
            note(figures.verdict == .ok ? .burst : .error, Self.summary(of: figures))
        case .race(let trace):
            race = trace
        case .throughput(let rate):
            requestsPerSecond = rate
            throughput.append(rate)
        case .latency(let p50, let p99):
            p50Milliseconds = p50
            p99Milliseconds = p99
        case .log(let kind, let text):
            note(kind, text)
        case .error(let message):
            note(.error, message)
        case .compareStarted(let mode, let increments, let strategies):
            compare = CompareResults(mode: mode, increments: increments, strategies: strategies)
            note(.compare, "compare: \(increments) increments on \(strategies.count) strategies, \(mode.rawValue)")
        case .compareRow(let row):
            if compare == nil { compare = CompareResults(mode: row.mode, increments: row.acknowledged) }
            compare?.rows.removeAll { $0.strategy == row.strategy }
            compare?.rows.append(row)
        case .compareFinished:
            compare?.running = false
            note(.compare, "compare finished")
        case .relaunched(let new):
            settings = new
            burst = nil
            diagnosis = []
            // A race of the app that was stopped says nothing about this one.
            race = nil
            note(.relaunch, "app relaunched: \(new.strategy.rawValue) \(new.mode.rawValue), \(new.workers) workers")
        case .paused(let isPaused):
            paused = isPaused
        case .diagnosis(let lines):
            diagnosis = lines
            for line in lines { note(.info, "diagnosis: \(line)") }
        }
    }

    static func summary(of figures: RunTotals) -> String {
        var text = "burst checked: \(figures.verdict?.rawValue ?? "unknown"), \(Format.count(figures.acknowledged)) acknowledged"
        if let store = figures.storeValue { text += ", store \(Format.count(store))" }
        text += ", \(Format.count(figures.lost)) lost"
        if figures.failed > 0 { text += ", \(Format.count(figures.failed)) failed" }
        if figures.indeterminate > 0 { text += ", \(Format.count(figures.indeterminate)) indeterminate" }
        return text
    }
}
