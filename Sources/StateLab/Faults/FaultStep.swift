import Foundation

/// One fault a run injects: what it does, to which worker, and when it fires.
/// Steps fire in the order they are listed, each once its trigger is met and
/// the step before it has finished (see Scenarios/README.md, `faults:`).
public struct FaultStep: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable, CaseIterable {
        /// SIGKILL one worker; statelab restarts it, as gunicorn's arbiter does.
        case killWorker = "kill_worker"
        /// SIGTERM one worker and start a new one.
        case restartWorker = "restart_worker"
        /// SIGKILL the store's process (manager, redis-server, postgres).
        case killStore = "kill_store"
        /// Start the store's process again on the same socket, port or data directory.
        case restartStore = "restart_store"
        /// Stop every worker and start them again; the store is left alone.
        case restartApp = "restart_app"
        /// SIGSTOP one worker: its requests time out (indeterminate).
        case pauseWorker = "pause_worker"
        /// SIGCONT a paused worker.
        case resumeWorker = "resume_worker"
        /// SIGKILL every worker of one host (`--hosts`) at once; they stay down until restart_host.
        case killHost = "kill_host"
        /// Start one host's workers again (stopping any still running first).
        case restartHost = "restart_host"

        /// Steps that act on one worker (and take `worker:`).
        public var takesWorker: Bool {
            switch self {
            case .killWorker, .restartWorker, .pauseWorker, .resumeWorker: return true
            case .killStore, .restartStore, .restartApp, .killHost, .restartHost: return false
            }
        }

        /// Steps that act on one host (and take `host:`, 1-based as the report says "host 1").
        public var takesHost: Bool { self == .killHost || self == .restartHost }
    }

    /// Which worker a worker step acts on.
    public enum Worker: Sendable, Equatable, CustomStringConvertible {
        case index(Int)
        /// The worker that holds the counter's lock when the step fires (shm and manager, locked).
        case holder

        public var description: String {
            switch self {
            case .index(let index): return String(index)
            case .holder: return "holder"
            }
        }
    }

    /// When a step fires (never before the step listed before it has finished).
    public enum Trigger: Sendable, Equatable, CustomStringConvertible {
        /// As soon as the step before it has finished (the load's start for the first).
        case next
        /// Once this many increments are acknowledged since the load began.
        case afterAcknowledged(Int)
        /// This many seconds after the load began.
        case at(Double)
        /// This many seconds after the step before it finished.
        case delay(Double)

        public var description: String {
            switch self {
            case .next: return "next"
            case .afterAcknowledged(let count): return "after=\(count)"
            case .at(let seconds): return "at=\(FaultStep.seconds(seconds))"
            case .delay(let seconds): return "delay=\(FaultStep.seconds(seconds))"
            }
        }
    }

    public var kind: Kind
    /// The worker of a worker step (worker 0 when not given), the host of a
    /// host step (`.index`, 1-based: host 1 when not given); nil for the others.
    public var worker: Worker?
    public var trigger: Trigger

    public init(_ kind: Kind, worker: Worker? = nil, trigger: Trigger = .next) {
        self.kind = kind
        self.worker = kind.takesWorker ? (worker ?? .index(0)) : kind.takesHost ? (worker ?? .index(1)) : nil
        self.trigger = trigger
    }

    /// The step as `--fault` writes it: `kill_worker:holder@after=300`.
    public var description: String {
        var text = kind.rawValue
        if let worker { text += ":\(worker)" }
        if trigger != .next { text += "@\(trigger)" }
        return text
    }

    static func seconds(_ value: Double) -> String {
        value >= 1 || value == 0 ? "\(ReportNumbers.plain(value) ?? "\(value)")s" : "\(Int((value * 1000).rounded()))ms"
    }
}

/// Parses `--fault KIND[:WORKER][@after=N|at=Ns|delay=Ns]`.
public enum FaultSyntax {
    public static let example = "kill_store@after=1000, restart_store@delay=500ms, kill_worker:holder@after=300"

    public static func parse(_ text: String) throws -> FaultStep {
        let (head, tail) = split(text, at: "@")
        let (name, workerText) = split(head, at: ":")
        guard let kind = FaultStep.Kind(rawValue: name) else {
            throw FaultError("unknown fault '\(name)' in '\(text)'; use one of \(FaultStep.Kind.allCases.map(\.rawValue).joined(separator: ", ")), e.g. \(example)")
        }
        var worker: FaultStep.Worker?
        if let workerText, kind.takesHost {
            guard let host = Int(workerText), host >= 1 else {
                throw FaultError("host '\(workerText)' in '\(text)' is not a host number (1, 2, ...)")
            }
            worker = .index(host)
        } else if let workerText {
            guard kind.takesWorker else {
                throw FaultError("\(kind.rawValue) takes no worker ('\(text)'); only \(FaultStep.Kind.allCases.filter(\.takesWorker).map(\.rawValue).joined(separator: ", ")) do")
            }
            worker = try parseWorker(workerText, in: text)
        }
        var trigger = FaultStep.Trigger.next
        if let tail {
            let (key, value) = split(tail, at: "=")
            guard let value, !value.isEmpty else {
                throw FaultError("'\(text)' has no value after \(key); write after=1000, at=2s or delay=500ms")
            }
            trigger = try parseTrigger(key: key, value: value, in: text)
        }
        return FaultStep(kind, worker: worker, trigger: trigger)
    }

    static func parseWorker(_ text: String, in whole: String) throws -> FaultStep.Worker {
        if text == "holder" { return .holder }
        guard let index = Int(text), index >= 0 else {
            throw FaultError("worker '\(text)' in '\(whole)' is neither a worker number (0, 1, ...) nor holder")
        }
        return .index(index)
    }

    static func parseTrigger(key: String, value: String, in whole: String) throws -> FaultStep.Trigger {
        switch key {
        case "after":
            guard let count = Int(value), count >= 1 else {
                throw FaultError("after=\(value) in '\(whole)' is not a whole number of acknowledged increments of at least 1")
            }
            return .afterAcknowledged(count)
        case "at", "delay":
            guard let seconds = parseSeconds(value), seconds >= 0, seconds <= 3600 else {
                throw FaultError("\(key)=\(value) in '\(whole)' is not a time from 0 to 3600 s; write it like 2s or 500ms")
            }
            return key == "at" ? .at(seconds) : .delay(seconds)
        default:
            throw FaultError("unknown trigger '\(key)' in '\(whole)'; use after=N (acknowledged increments), at=2s (into the load) or delay=500ms (after the step before)")
        }
    }

    /// "2s", "500ms", "1.5" (seconds).
    public static func parseSeconds(_ text: String) -> Double? {
        if text.hasSuffix("ms"), let value = Double(text.dropLast(2)) { return value / 1000 }
        if text.hasSuffix("s"), let value = Double(text.dropLast()) { return value }
        return Double(text)
    }

    private static func split(_ text: String, at separator: Character) -> (String, String?) {
        guard let index = text.firstIndex(of: separator) else { return (text, nil) }
        return (String(text[..<index]), String(text[text.index(after: index)...]))
    }
}

public struct FaultError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The load a run's faults go with, as far as the plan needs it.
public struct FaultLoad: Sendable, Equatable {
    /// Where a count-limited load stops.
    public var increments: Int?
    /// How long a duration-limited load runs, in seconds.
    public var duration: Double?
    /// The open model's rate, when there is one.
    public var rate: Double?
    /// A reset step in the same run.
    public var resetAfter: Int?

    public init(increments: Int? = nil, duration: Double? = nil, rate: Double? = nil, resetAfter: Int? = nil) {
        self.increments = increments
        self.duration = duration
        self.rate = rate
        self.resetAfter = resetAfter
    }
}

/// What a list of steps may ask of an app; each problem is one line naming the fix.
public enum FaultPlan {
    /// Problems with `steps` for statelab's own app with this strategy and
    /// mode; empty when it can run them.
    public static func problems(_ steps: [FaultStep], strategy: Strategy, mode: Mode, workers: Int,
                                externalStore: Bool = false, load: FaultLoad = FaultLoad(), hosts: Int? = nil) -> [String] {
        var problems: [String] = []
        var storeDown = false
        var paused: Set<Int> = []
        var hostsDown: Set<Int> = []
        for step in steps {
            if step.kind.takesHost {
                guard let hosts else {
                    problems.append("\(step.kind.rawValue) needs several hosts: set app: {hosts: 3} (or --hosts 3)")
                    continue
                }
                guard case .index(let host) = step.worker, (1...hosts).contains(host) else {
                    problems.append("\(step.kind.rawValue): host \(step.worker?.description ?? "?") does not exist; this app has hosts 1 to \(hosts)")
                    continue
                }
                if step.kind == .killHost {
                    if !hostsDown.insert(host).inserted { problems.append("kill_host \(host) twice without a restart_host \(host) between them") }
                    if hostsDown.count == hosts { problems.append("kill_host \(host) takes down the last host: nothing would answer; keep one up") }
                } else {
                    hostsDown.remove(host)
                }
                continue
            }
            if hosts != nil, strategy.isPerHost {
                if step.kind == .killStore || step.kind == .restartStore || step.kind == .restartApp {
                    problems.append("\(step.kind.rawValue) with hosts: \(strategy.rawValue) is on each host, not one store; use kill_host and restart_host")
                    continue
                }
            }
            let restarts = step.kind != .pauseWorker && step.kind != .resumeWorker
            if restarts, let index = paused.min() {
                problems.append("\(step.kind.rawValue) while worker \(index) is paused; resume_worker \(index) first (its reads would hang the restart's count)")
            }
            switch step.kind {
            case .killStore, .restartStore:
                if !strategy.hasStoreProcess {
                    problems.append("\(step.kind.rawValue): \(strategy.rawValue) has no store process to kill or restart (\(strategy.summary)); use it with manager, redis or postgres, or use restart_app")
                    continue
                }
                if externalStore {
                    problems.append("\(step.kind.rawValue): \(strategy.rawValue) runs at a server statelab did not start (--\(strategy.rawValue)-url); statelab kills and restarts only its own")
                    continue
                }
                if step.kind == .killStore {
                    if storeDown { problems.append("kill_store twice without a restart_store between them") }
                    storeDown = true
                } else {
                    if !storeDown { problems.append("restart_store without a kill_store before it; list kill_store first") }
                    if case .afterAcknowledged = step.trigger {
                        problems.append("restart_store \(step.trigger) can never fire: nothing is acknowledged while the store is down; use delay (e.g. restart_store@delay=500ms)")
                    }
                    storeDown = false
                }
            case .killHost, .restartHost:
                break  // handled above
            case .restartApp:
                if storeDown { problems.append("restart_app while the store is down; restart_store first (the workers would not start)") }
            case .killWorker, .restartWorker, .pauseWorker, .resumeWorker:
                if storeDown && (step.kind == .killWorker || step.kind == .restartWorker) {
                    problems.append("\(step.kind.rawValue) while the store is down; restart_store first (a new worker reports ready only once it can read the store)")
                }
                switch step.worker {
                case .holder:
                    if step.kind != .killWorker {
                        problems.append("\(step.kind.rawValue): holder applies to kill_worker only")
                    } else if let reason = holderProblem(strategy: strategy, mode: mode) {
                        problems.append(reason)
                    }
                case .index(let index):
                    // With hosts, workers are numbered across them: host 1's first, then host 2's.
                    let total = workers * (hosts ?? 1)
                    if index >= total {
                        problems.append("\(step.kind.rawValue): worker \(index) does not exist; this app has workers 0 to \(total - 1)")
                    } else if hosts != nil, hostsDown.contains(index / workers + 1) {
                        problems.append("\(step.kind.rawValue) \(index) while its host \(index / workers + 1) is down; restart_host \(index / workers + 1) first")
                    } else if step.kind == .pauseWorker {
                        paused.insert(index)
                    } else if step.kind == .resumeWorker {
                        if paused.remove(index) == nil { problems.append("resume_worker \(index) without a pause_worker \(index) before it") }
                    }
                case nil:
                    break
                }
            }
        }
        for host in hostsDown.sorted() {
            problems.append("kill_host \(host) has no restart_host \(host) after it: its workers could not be read at the end; add restart_host (e.g. restart_host:\(host)@delay=1s)")
        }
        if storeDown {
            problems.append("kill_store has no restart_store after it: the final count could not be read; add restart_store (e.g. --fault restart_store@delay=500ms)")
        }
        return problems + loadProblems(steps, load: load)
    }

    /// What the load's shape rules out: a step it can never reach, an open
    /// model (its requests wait for their send time, so it cannot be held for
    /// an exact count), a reset in the same run (it could land between a
    /// restart's reads), a store kill in a count-limited load (the outage's
    /// quick failures use up the count, and the restart would come too late).
    static func loadProblems(_ steps: [FaultStep], load: FaultLoad) -> [String] {
        guard !steps.isEmpty else { return [] }
        var problems: [String] = []
        if load.rate != nil {
            problems.append("faults need the closed model: drop rate (an open model's requests wait for their send time, so the load cannot be held for an exact count)")
        }
        if load.resetAfter != nil {
            problems.append("reset_after and faults in one run: a reset between a restart's reads would make its counts ambiguous; put them in separate runs")
        }
        if let total = load.increments, steps.contains(where: { $0.kind == .killStore }) {
            problems.append("kill_store in a load limited by increments (\(total)): the outage's quick failures use up the count, so restart_store would come after the load; use duration (e.g. duration: 6s)")
        }
        for step in steps {
            if let total = load.increments, case .afterAcknowledged(let count) = step.trigger, count >= total {
                problems.append("fault \(step) fires after \(count) acknowledged, but the load stops at \(total) increments; use a number below \(total), or a longer load")
            }
            if let seconds = load.duration, case .at(let at) = step.trigger, at >= seconds {
                problems.append("fault \(step) fires \(FaultStep.seconds(at)) into a load that runs \(FaultStep.seconds(seconds)); use an earlier time, or a longer load")
            }
        }
        return problems
    }

    /// Why `kill_worker: holder` cannot know the holder here; nil when it can.
    public static func holderProblem(strategy: Strategy, mode: Mode) -> String? {
        if (strategy == .shm || strategy == .manager) && mode == .locked { return nil }
        return "kill_worker: holder needs a lock statelab can see: shm or manager in locked mode (not \(strategy.rawValue)/\(mode.rawValue))"
    }
}

extension Strategy {
    /// A store with a process statelab starts, so it can be killed and restarted.
    public var hasStoreProcess: Bool {
        switch self {
        case .manager, .redis, .postgres: return true
        case .global, .shm, .sqlite: return false
        }
    }
}
