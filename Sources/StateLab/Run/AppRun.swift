import NIOConcurrencyHelpers

/// Runs one plan on statelab's own app: a fresh app, then the run pipeline,
/// then the app stopped again, whichever way the run ended.
public enum AppRun {
    public static func run(_ plan: RunPlan, index: Int = 0, count: Int = 1,
                           progress: @escaping @Sendable (RunProgress) -> Void = { _ in }) async throws -> RunResult {
        let spec = plan.spec
        let report: @Sendable (RunProgress.Phase, LoadProgress?) -> Void = { phase, load in
            progress(RunProgress(index: index, count: count, label: spec.label, phase: phase, load: load))
        }
        if let target = spec.target {
            return try await runUserApp(plan, target: target, report: report)
        }
        if let hosts = spec.app.hosts {
            return try await runOnHosts(plan, hosts: hosts, report: report)
        }
        if let reason = StrategyAvailability.reason(spec.strategy, redisURL: plan.redisURL, postgresURL: plan.postgres.url) {
            report(.skipped, nil)
            return RunResult.skipped(strategy: spec.strategy, mode: spec.mode, workers: spec.app.workers,
                                     reason: reason, expectations: spec.expectations)
        }
        report(.starting, nil)
        let started: (target: SupervisorTarget, stop: @Sendable () async -> Void)
        do {
            started = try await TargetStarter.own(plan.appConfig)
        } catch {
            throw RunError(label: spec.label, reason: "\(error)")
        }
        do {
            let run = try await load(plan, on: started.target, report: report)
            await started.stop()
            return run
        } catch {
            await started.stop()
            throw error
        }
    }

    /// statelab's own app on `hosts` namespaced hosts behind nginx; skipped,
    /// with the reason, where that cannot run (no root, no ip, no nginx).
    private static func runOnHosts(_ plan: RunPlan, hosts: Int,
                                   report: @escaping @Sendable (RunProgress.Phase, LoadProgress?) -> Void) async throws -> RunResult {
        let spec = plan.spec
        if let reason = HostCluster.availability(plan.appConfig) {
            report(.skipped, nil)
            return RunResult.skipped(strategy: spec.strategy, mode: spec.mode, workers: spec.app.workers * hosts,
                                     reason: reason, expectations: spec.expectations)
        }
        report(.starting, nil)
        let started: (target: HostsTarget, stop: @Sendable () async -> Void)
        do {
            started = try await TargetStarter.hosts(plan.appConfig, hosts: hosts)
        } catch {
            throw RunError(label: spec.label, reason: "\(error)")
        }
        do {
            var run = try await load(plan, on: started.target, report: report)
            run.notes += started.target.cluster.balancerEvents()
            await started.stop()
            return run
        } catch {
            await started.stop()
            throw error
        }
    }

    private static func load(_ plan: RunPlan, on target: some RunTarget,
                             report: @escaping @Sendable (RunProgress.Phase, LoadProgress?) -> Void) async throws -> RunResult {
        let spec = plan.spec
        let sharing = (target as? HostsTarget)?.sharing ?? (spec.strategy.isShared ? .yes : .no)
        let outcome = try await RunPipeline.run(
            target: target, plan: plan.loadPlan(port: target.port),
            steps: RunSteps(resetAfter: plan.load.resetAfter, resetTimeout: plan.load.timeout.seconds, faults: spec.faults),
            sharing: sharing, recording: plan.recording, progress: report)
        let run = RunResult(label: spec.name, strategy: spec.strategy, mode: spec.mode, workers: target.workerCount,
                            raceWindowMicros: spec.app.raceWindowMicros, concurrency: plan.load.concurrency,
                            outcome: outcome)
        return run.evaluating(spec.expectations)
    }

    /// A run of the user's app: launched from its command (and stopped after),
    /// or already running at a URL. Read through GET /report, best effort.
    private static func runUserApp(_ plan: RunPlan, target spec: TargetSpec,
                                   report: @escaping @Sendable (RunProgress.Phase, LoadProgress?) -> Void) async throws -> RunResult {
        // An app that needs a server statelab cannot start here is skipped, as a redis or postgres run is.
        if case .command(let command, _, _) = spec {
            let servers = [("redis_url", plan.redisURL, RedisServerProcess.availability),
                           ("postgres_url", plan.postgres.url, PostgresServerProcess.availability)]
            for (placeholder, given, availability) in servers
            where given == nil && command.placeholdersUsed.contains(placeholder) {
                guard let reason = availability() else { continue }
                report(.skipped, nil)
                var skipped = RunResult.skipped(label: plan.spec.label, strategy: .global, mode: .naive, workers: 0,
                                                reason: "{\(placeholder)}: \(reason)", expectations: plan.spec.expectations)
                skipped.isExternal = true
                return skipped
            }
        }
        if plan.spec.app.hosts != nil, let reason = HostedCommand.availability() {
            report(.skipped, nil)
            var skipped = RunResult.skipped(label: plan.spec.label, strategy: .global, mode: .naive, workers: 0,
                                            reason: reason, expectations: plan.spec.expectations)
            skipped.isExternal = true
            return skipped
        }
        report(.starting, nil)
        let (target, stop) = try await TargetStarter.start(spec, label: plan.spec.label, redisURL: plan.redisURL,
                                                     postgresURL: plan.postgres.url, executable: plan.executable,
                                                     hosts: plan.spec.app.hosts)
        do {
            let outcome = try await RunPipeline.run(
                target: target, plan: plan.loadPlan(host: target.host, port: target.port, fields: spec.answerFields),
                steps: RunSteps(resetAfter: plan.load.resetAfter, resetWorker: nil, resetTimeout: plan.load.timeout.seconds,
                                baseline: true, probe: true),
                sharing: spec.sharing, recording: plan.recording, progress: report)
            // What nginx logged about each host, before stop() removes its log.
            let balancer = (target as? HostedCommandTarget)?.hosted.balancerEvents() ?? []
            await stop()
            var run = RunResult(label: plan.spec.label, strategy: .global, mode: .naive,
                                workers: outcome.check.perWorker.count, concurrency: plan.load.concurrency,
                                outcome: outcome, external: true)
            run.notes += balancer
            return run.evaluating(plan.spec.expectations)
        } catch {
            await stop()
            throw error
        }
    }
}

/// The one place that starts what a run drives, for `compare`, `load` and the
/// dashboard alike: statelab's own app (a supervisor with its store and
/// workers), an app at a URL, or a command statelab launches. Each comes with
/// how to stop what was started.
public enum TargetStarter {
    /// statelab's own app, started off the cooperative pool (spawning and
    /// waiting for workers blocks).
    public static func own(_ config: AppConfig, log: @escaping @Sendable (String) -> Void = { _ in })
        async throws -> (target: SupervisorTarget, stop: @Sendable () async -> Void) {
        let supervisor = try await OffThread.run { try Supervisor.start(config, log: log) }
        return (SupervisorTarget(supervisor: supervisor), { await OffThread.run { supervisor.stop() } })
    }

    /// statelab's own app on `hosts` namespaced hosts behind nginx (`HostCluster`).
    public static func hosts(_ config: AppConfig, hosts: Int, log: @escaping @Sendable (String) -> Void = { _ in })
        async throws -> (target: HostsTarget, stop: @Sendable () async -> Void) {
        let cluster = try await OffThread.run { try HostCluster.start(config, hosts: hosts, log: log) }
        return (HostsTarget(cluster: cluster), { await OffThread.run { cluster.stop() } })
    }

    /// The target, and how to stop what was started (nothing for a URL).
    /// Cancelling the task while a command starts stops it at once, rather
    /// than after its ready timeout.
    /// `hosts`: a command runs on that many namespaced hosts behind nginx (`HostedCommand`).
    public static func start(_ spec: TargetSpec, label: String, redisURL: String?, postgresURL: String? = nil,
                             executable: String = ChildProcess.currentExecutable, hosts: Int? = nil) async throws
        -> (any RunTarget, @Sendable () async -> Void) {
        if let hosts, case .command(let command, _, _) = spec {
            let cancelled = NIOLockedValueBox(false)
            let hosted: HostedCommand
            do {
                hosted = try await withTaskCancellationHandler {
                    try await OffThread.run {
                        try HostedCommand.start(command, hosts: hosts, executable: executable, redisURL: redisURL,
                                                postgresURL: postgresURL, cancelled: { cancelled.withLockedValue { $0 } })
                    }
                } onCancel: { cancelled.withLockedValue { $0 = true } }
            } catch {
                throw RunError(label: label, reason: "\(error)")
            }
            return (HostedCommandTarget(hosted: hosted, requests: spec.requests), { await OffThread.run { hosted.stop() } })
        }
        switch spec {
        case .url(let host, let port, _, let requests):
            // /proc sees only this machine's sockets: a remote host's workers are named by their answers.
            let owners = LoopbackHost.isRemote(host) ? nil : SocketOwners(scope: .anyProcess)
            return (URLTarget(host: host, port: port, requests: requests, owners: owners), {})
        case .command(let command, _, _):
            let cancelled = NIOLockedValueBox(false)
            let app: LaunchedApp
            do {
                app = try await withTaskCancellationHandler {
                    try await OffThread.run {
                        try LaunchedApp.start(command, executable: executable, redisURL: redisURL,
                                              postgresURL: postgresURL, cancelled: { cancelled.withLockedValue { $0 } })
                    }
                } onCancel: { cancelled.withLockedValue { $0 = true } }
            } catch {
                throw RunError(label: label, reason: "\(error)")
            }
            return (CommandTarget(app: app, requests: spec.requests), { await OffThread.run { app.stop() } })
        }
    }
}
