import StateLab

/// What a binding does: a change to the model, and possibly an action for the engine.
public enum KeyCommand: Sendable, Equatable {
    case fireBurst
    case openStrategyPicker
    case openModePicker
    case concurrency(Int)
    case workers(Int)
    case resetOne
    case resetAll
    case killWorker
    case killStore
    case restartStore
    case restartApp
    case compare
    case showRace
    case togglePause
    case help
    case quit
    case selectWorker(Int)

    /// Changes the model as the key asks and returns what the engine must do, if anything.
    public func perform(on model: inout DashboardModel) -> DashboardAction? {
        switch self {
        case .fireBurst:
            return .fireBurst
        case .openStrategyPicker:
            model.overlay = .strategyPicker(cursor: Strategy.allCases.firstIndex(of: model.settings.strategy) ?? 0)
            return nil
        case .openModePicker:
            model.overlay = .modePicker(cursor: model.pickableModes.firstIndex(of: model.settings.mode) ?? 0)
            return nil
        case .concurrency(let delta):
            return .changeConcurrency(by: delta)
        case .workers(let delta):
            return .changeWorkers(by: delta)
        case .resetOne:
            guard let row = model.workers[safe: model.selectedWorker] else { return nil }
            return .resetOne(worker: row.index)
        case .resetAll:
            return .resetAll
        case .killWorker:
            guard let row = model.workers[safe: model.selectedWorker] else { return nil }
            return .killWorker(worker: row.index)
        case .killStore:
            return .killStore
        case .restartStore:
            return .restartStore
        case .restartApp:
            return .restartApp
        case .compare:
            model.overlay = .compare
            // Reopening while a comparison runs only shows it again.
            return model.compare?.running == true ? nil : .compare
        case .showRace:
            model.overlay = .race
            return nil
        case .togglePause:
            model.paused.toggle()
            return .setPaused(model.paused)
        case .help:
            model.overlay = .help
            return nil
        case .quit:
            model.quitRequested = true
            return .quit
        case .selectWorker(let delta):
            model.selectedWorker += delta
            model.clampSelection()
            return nil
        }
    }
}

extension Array {
    subscript(safe index: Int) -> Element? {
        indices.contains(index) ? self[index] : nil
    }
}
