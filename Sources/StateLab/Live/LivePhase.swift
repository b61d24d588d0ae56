/// What a live run is doing, one thing at a time. It replaces loose flags
/// (settling, faulting, stopping ...): every change goes through `move(to:)`,
/// which refuses a transition the run does not make, so an action that would
/// change the store while a burst is checked, or a restart that would race a
/// stop, is refused with the reason instead of half done.
public enum LivePhase: Sendable, Equatable, CustomStringConvertible {
    /// No target yet, or one being (re)started.
    case starting
    /// A target runs and nothing is being done to it.
    case idle
    /// A burst is in flight.
    case loading
    /// The workers' final reads and the check are being taken.
    case settling
    /// A reset is in flight.
    case resetting
    /// A fault step is being fired (k, K, U, A).
    case faulting(FaultStep.Kind)
    /// A comparison runs on apps of its own; this target is left alone.
    case comparing
    /// The run is being stopped; nothing starts any more.
    case stopping

    public var description: String {
        switch self {
        case .starting: "starting"
        case .idle: "idle"
        case .loading: "loading"
        case .settling: "settling"
        case .resetting: "resetting"
        case .faulting(let kind): "faulting (\(kind.rawValue))"
        case .comparing: "comparing"
        case .stopping: "stopping"
        }
    }

    /// The transitions a live run makes. Stopping is reachable from
    /// everywhere and left for nothing; a relaunch goes back to starting.
    public func canMove(to next: LivePhase) -> Bool {
        switch (self, next) {
        case (.stopping, _): return false
        case (_, .stopping): return true
        case (.starting, .idle): return true
        // A relaunch stops the burst in flight, or leaves its check, and starts another app.
        case (.idle, .starting), (.loading, .starting), (.settling, .starting): return true
        case (.idle, .loading), (.idle, .resetting), (.idle, .faulting), (.idle, .comparing): return true
        case (.loading, .settling): return true
        // A reset is checked afterwards; a fault is checked afterwards.
        case (.resetting, .settling), (.faulting, .settling): return true
        case (.settling, .idle), (.comparing, .idle): return true
        // A fault or a reset that was refused or failed returns without a check.
        case (.resetting, .idle), (.faulting, .idle): return true
        // The burst could not run at all.
        case (.loading, .idle): return true
        default: return false
        }
    }

    /// Why an action cannot start now, in words for the event log; nil when it can.
    public var busyReason: String? {
        switch self {
        case .idle: nil
        case .starting: "the app is starting"
        case .loading: "a burst is running"
        case .settling: "the burst is being checked; wait for its verdict"
        case .resetting: "a reset is in flight"
        case .faulting(let kind): "\(kind.rawValue) is under way"
        case .comparing: "wait for the compare to finish"
        case .stopping: "the dashboard is stopping"
        }
    }
}

/// The phase and its one way of changing.
public struct LivePhaseMachine: Sendable {
    public private(set) var phase: LivePhase = .starting

    public init() {}

    /// Moves to `next` when the run makes that transition; false (and no change) when it does not.
    @discardableResult
    public mutating func move(to next: LivePhase) -> Bool {
        guard phase.canMove(to: next) else { return false }
        phase = next
        return true
    }
}
