import Foundation

/// `statelab load`: one run, on statelab's own app or on the user's (a URL or
/// a command), through the same starter and pipeline as `compare` and the
/// dashboard. The executable only parses flags and prints.
public enum LoadRun {
    /// What to drive, and how.
    public enum Target: Sendable {
        /// statelab's own app, with its fault steps.
        case own(AppConfig, faults: [FaultStep])
        /// The user's app; `resetFirst` sends POST /reset before the load; `hosts`: its command on that many hosts.
        case user(TargetSpec, resetFirst: Bool, hosts: Int? = nil)
    }

    /// The load every target gets.
    public struct Load: Sendable {
        public var stop: StopCondition
        public var concurrency: Int
        public var rate: Double?
        public var timeout: Double
        public var threads: Int
        /// Where the answers' worker pids come from; nil: the target's way.
        public var pidSource: PidSource?
        /// What of the progress is shown (nothing with --quiet or --format json).
        public var progress: ProgressDetail

        public init(stop: StopCondition, concurrency: Int, rate: Double?, timeout: Double, threads: Int, pidSource: PidSource? = nil,
                    progress: ProgressDetail = .latency) {
            self.pidSource = pidSource
            self.progress = progress
            self.stop = stop
            self.concurrency = concurrency
            self.rate = rate
            self.timeout = timeout
            self.threads = threads
        }

        func plan(host: String = "127.0.0.1", port: Int, fields: AnswerFields = .standard) -> LoadPlan {
            var plan = LoadPlan(host: host, port: port, stop: stop, concurrency: concurrency, rate: rate,
                                timeout: timeout, threads: threads, answerFields: fields)
            plan.progress = progress
            return plan
        }
    }

    /// A problem before any load ran (an app that could not start): one line for the user.
    public struct StartError: Error, CustomStringConvertible {
        public var description: String
    }

    /// The run and the title its report carries. `warn` gets lines for stderr.
    public static func run(_ target: Target, load: Load, redisURL: String?, postgresURL: String?,
                           recording: RunRecording = RunRecording(),
                           progress: @escaping @Sendable (LoadProgress) -> Void,
                           warn: @escaping @Sendable (String) -> Void) async throws -> (RunResult, String) {
        switch target {
        case .own(var config, let faults):
            config.trace = recording.traces(config.mode)
            return try await runOwn(config, faults: faults, load: load, recording: recording, progress: progress)
        case .user(let spec, let resetFirst, let hosts):
            return try await runUser(spec, resetFirst: resetFirst, hosts: hosts, load: load, redisURL: redisURL,
                                     postgresURL: postgresURL, recording: recording, progress: progress, warn: warn)
        }
    }

    private static func runOwn(_ config: AppConfig, faults: [FaultStep], load: Load, recording: RunRecording,
                               progress: @escaping @Sendable (LoadProgress) -> Void) async throws -> (RunResult, String) {
        if let hosts = config.hosts {
            return try await runOnHosts(config, hosts: hosts, faults: faults, load: load, recording: recording, progress: progress)
        }
        if let reason = config.unavailability() { throw StartError(description: reason) }
        let started: (target: SupervisorTarget, stop: @Sendable () async -> Void)
        do { started = try await TargetStarter.own(config) } catch { throw StartError(description: "\(error)") }
        let url = started.target.supervisor.url
        do {
            let outcome = try await RunPipeline.run(
                target: started.target, plan: load.plan(port: started.target.port),
                steps: RunSteps(resetTimeout: load.timeout, faults: faults, pidSource: load.pidSource),
                sharing: config.strategy.isShared ? .yes : .no, recording: recording
            ) { _, current in if let current { progress(current) } }
            await started.stop()
            let run = RunResult(strategy: config.strategy, mode: config.mode, workers: config.workers,
                                raceWindowMicros: config.raceWindowMicros, concurrency: load.concurrency, outcome: outcome)
            return (run, "statelab \(config.strategy.rawValue)/\(config.mode.rawValue) at \(url)")
        } catch {
            await started.stop()
            throw error
        }
    }

    private static func runOnHosts(_ config: AppConfig, hosts: Int, faults: [FaultStep], load: Load, recording: RunRecording,
                                   progress: @escaping @Sendable (LoadProgress) -> Void) async throws -> (RunResult, String) {
        if let reason = HostCluster.availability(config) { throw StartError(description: reason) }
        let started: (target: HostsTarget, stop: @Sendable () async -> Void)
        do { started = try await TargetStarter.hosts(config, hosts: hosts) } catch { throw StartError(description: "\(error)") }
        let cluster = started.target.cluster
        do {
            let outcome = try await RunPipeline.run(
                target: started.target, plan: load.plan(port: started.target.port),
                steps: RunSteps(resetTimeout: load.timeout, faults: faults, pidSource: load.pidSource),
                sharing: started.target.sharing, recording: recording
            ) { _, current in if let current { progress(current) } }
            var run = RunResult(strategy: config.strategy, mode: config.mode, workers: started.target.workerCount,
                                raceWindowMicros: config.raceWindowMicros, concurrency: load.concurrency, outcome: outcome)
            run.notes += cluster.balancerEvents()
            await started.stop()
            return (run, "\(started.target.label) at http://127.0.0.1:\(cluster.nginx.port) (hosts \(cluster.addresses.joined(separator: ", ")))")
        } catch {
            await started.stop()
            throw error
        }
    }

    private static func runUser(_ spec: TargetSpec, resetFirst: Bool, hosts: Int?, load: Load, redisURL: String?, postgresURL: String?,
                                recording: RunRecording, progress: @escaping @Sendable (LoadProgress) -> Void,
                                warn: @escaping @Sendable (String) -> Void) async throws -> (RunResult, String) {
        let started: (target: any RunTarget, stop: @Sendable () async -> Void)
        do {
            if hosts != nil, let reason = HostedCommand.availability() { throw StartError(description: reason) }
            started = try await TargetStarter.start(spec, label: spec.description, redisURL: redisURL, postgresURL: postgresURL,
                                                    hosts: hosts)
        } catch let error as RunError {
            throw StartError(description: error.reason)
        }
        let (target, stop) = started
        let title = if case .command = spec { "`\(spec.description)` (launched, port \(target.port))" } else { spec.description }
        do {
            try Task.checkCancellation()
            let outcome = try await RunPipeline.run(
                target: target, plan: load.plan(host: target.host, port: target.port, fields: spec.answerFields),
                steps: RunSteps(resetWorker: nil, resetTimeout: load.timeout, resetFirst: resetFirst, baseline: true, probe: true,
                                pidSource: load.pidSource),
                sharing: spec.sharing, recording: recording
            ) { _, current in if let current { progress(current) } }
            let workers = await target.workers().count
            // What nginx logged about each host, before stop() removes its log.
            let balancer = (target as? HostedCommandTarget)?.hosted.balancerEvents() ?? []
            await stop()
            if outcome.load.okCount == 0 {
                // Otherwise a typo in the port reads as a table of zeros and a bare verdict.
                let what = spec.requests.op == AppRequests.counterAPI.op ? "increment" : "operation"
                warn("no \(what) was acknowledged by \(title); is the app running there, and does it answer \(spec.requests.op)?")
            }
            var run = RunResult(label: spec.description, strategy: .global, mode: .naive,
                                workers: max(workers, outcome.check.perWorker.count), concurrency: load.concurrency,
                                outcome: outcome, external: true)
            run.notes += balancer
            return (run, title)
        } catch let error as RunError {
            await stop()
            throw StartError(description: error.reason)
        } catch {
            await stop()
            throw error
        }
    }
}

extension ProgressLine {
    /// `load`'s progress: "  2.5s  12000 sent  11990 ok  0 fail  0 indeterminate  4800 req/s".
    public static func describe(_ load: LoadProgress) -> String {
        "\(String(format: "%5.1f", load.elapsed))s  \(load.completed) sent  \(load.ok) ok  "
            + "\(load.fail) fail  \(load.indeterminate) indeterminate  \(Int(load.currentRate)) req/s"
    }
}
