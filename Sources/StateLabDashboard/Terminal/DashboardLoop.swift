import Foundation
import StateLab

/// Runs the dashboard: each frame drains the engine's events into the model,
/// draws, then reads keys for at most one frame's time and hands their actions
/// to the engine. Nothing here waits on the engine.
public enum DashboardLoop {
    /// Why the loop stopped.
    public enum Ending: Sendable, Equatable {
        case quit
        case iterations
        /// SIGINT or SIGTERM (the caller may exit with 128 + signal).
        case signal(Int32)
    }

    /// Colour unless `--no-color` was given or NO_COLOR is set to anything non-empty (no-color.org).
    public static func wantsColor(noColorFlag: Bool, environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        !noColorFlag && (environment["NO_COLOR"] ?? "").isEmpty
    }

    /// Takes over the terminal until quit, `iterations` frames, or SIGINT / SIGTERM;
    /// the terminal is restored and `engine.shutdown()` called on every way out,
    /// including a thrown error. On `.signal(n)` the caller should exit with 128 + n.
    @discardableResult
    public static func run(engine: any DashboardEngine, initial: DashboardModel, fps: Int = 10,
                           iterations: Int? = nil, useColor: Bool) throws -> Ending {
        // Declared first so it runs last: the terminal is back before the engine stops its processes.
        defer { engine.shutdown() }
        let terminal = try Terminal(useColor: useColor)
        defer { terminal.restore() }

        var session = DashboardSession(model: initial)
        let frameMilliseconds = 1000 / max(1, fps)
        let start = ContinuousClock.now
        var frames = 0
        let testCrash = TestCrash.requested()
        while true {
            if let signal = terminal.caughtSignal { return .signal(signal) }
            session.absorb(engine.drainEvents())
            session.model.elapsedSeconds = (ContinuousClock.now - start).seconds
            let size = terminal.size
            terminal.draw(Renderer.render(session.model, width: size.width, height: size.height))
            frames += 1
            if let testCrash, TestCrash.isDue(session.model) { testCrash.now() }
            if let iterations, frames >= iterations { return .iterations }

            let keys = terminal.readKeys(waitingUpTo: frameMilliseconds)
            if keys.contains(.resize) { terminal.invalidate() }
            for action in session.press(keys) { engine.perform(action) }
            if session.model.quitRequested { return .quit }
        }
    }
}

/// The loop's logic without the terminal: events in, keys in, actions out.
public struct DashboardSession: Sendable {
    public var model: DashboardModel

    public init(model: DashboardModel) {
        self.model = model
    }

    public mutating func absorb(_ events: [DashboardEvent]) {
        for event in events { model.apply(event) }
    }

    /// Dispatches keys in order; stops at quit so later keys do nothing.
    public mutating func press(_ keys: [Key]) -> [DashboardAction] {
        var actions: [DashboardAction] = []
        for key in keys where !model.quitRequested {
            actions += KeyBindings.dispatch(key, model: &model)
        }
        return actions
    }
}
