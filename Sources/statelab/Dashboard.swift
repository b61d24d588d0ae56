import ArgumentParser
import Foundation
import StateLab
import StateLabDashboard

extension StateLabCommand {
    struct Dashboard: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "dashboard",
            abstract: "Open the live dashboard (the default when statelab runs with no arguments).",
            discussion: """
                Workers are rows: each pid's acknowledged increments, its current read of the counter and \
                its gap to the truth, while bursts of increments fly. Press ? for every key: space fires a \
                burst, s and m pick strategy and mode, v draws the latest lost update (who read and wrote \
                when), c compares every strategy, q quits. With --scenario, \
                the first run's settings and the scenario's load start the dashboard, and c compares the \
                scenario's runs. With --url, the dashboard watches your own app instead: one row per pid seen, \
                read through GET /report on fresh connections (best effort: the kernel picks the worker, and the \
                log names pids not reached lately); space, r and R work as usual, s, m and + - do not apply.
                """)

        @Option(help: "Start from this scenario's first run and load: a YAML file, or the name of a built-in scenario (statelab compare --list-scenarios).")
        var scenario: String?

        @Option(help: "Watch an app already running at this loopback URL (e.g. http://127.0.0.1:8000) instead of statelab's own.")
        var url: String?

        @OptionGroup var command: AppCommandOptions

        @OptionGroup(title: "Your app's requests (with --url or --app-command)")
        var requestOptions: RequestOptions

        @Option(help: "With --url or --app-command: does the app keep one counter for all workers (yes), one per worker (no), or guess from the reads (auto)?")
        var shared: Sharing = .auto

        @OptionGroup var app: AppOptions

        @Option(help: "Keep-alive connections each burst uses.")
        var concurrency: Int = 32

        @Option(help: "Increments per burst (space).")
        var burst: Int = 2_000

        @Option(help: "Frames per second.")
        var fps: Int = 10

        @Option(help: "Quit after this many frames (for tests and demos).")
        var iterations: Int?

        @Flag(name: .customLong("no-color"), help: "Monochrome (also when NO_COLOR is set).")
        var noColor = false

        func validate() throws {
            try requestOptions.permitRemote()
            if shared == .perHost && (app.hosts == nil || command.appCommand == nil) {
                throw ValidationError("--shared per-host takes one counter per host of --hosts N with --app-command; add them, or use yes, no or auto")
            }
            try InputCheck.whole("--concurrency", concurrency, in: InputLimits.concurrency)
            try InputCheck.whole("--burst", burst, in: InputLimits.burst)
            try InputCheck.whole("--fps", fps, in: InputLimits.fps)
            try InputCheck.whole("--iterations", iterations, in: InputLimits.iterations)
            let targets = [("--url", url != nil), ("--app-command", command.appCommand != nil), ("--scenario", scenario != nil)]
                .filter(\.1).map(\.0)
            if targets.count > 1 { throw ValidationError("\(targets.joined(separator: " and ")) are mutually exclusive; pick one") }
            if let url { _ = try LoadTarget(parsing: url) }
            try command.check(redisURL: app.redisURL)
            let external = url != nil || command.appCommand != nil
            if requestOptions.given && !external {
                throw ValidationError("--op, --read, --reset, --limit and the other request flags describe your app's requests; give --url or --app-command")
            }
            if external { _ = try requestOptions.requests(fields: command.fields) }
            if url == nil && command.appCommand == nil && shared != .auto {
                throw ValidationError("--shared applies to --url and --app-command only; statelab knows how its own strategies share")
            }
        }

        func run() throws {
            guard isatty(0) == 1, isatty(1) == 1 else {
                throw fail("the dashboard needs a terminal; for scripts and CI use statelab compare --scenario FILE")
            }
            var options = try engineOptions()
            options.postgres = app.postgres.options
            options.redisAppendOnly = options.redisAppendOnly || app.redisAppendOnly
            if let hosts = app.hosts {
                if case .url = options.target {
                    throw fail("--hosts runs statelab's app or your --app-command on several hosts; it does not apply to --url (an app already running where it runs)")
                }
                let reason = options.target == .ownApp ? HostCluster.availability(app.config(port: 0)) : HostedCommand.availability()
                if let reason { throw fail(reason) }
                options.hosts = hosts
            }
            if options.target == .ownApp, let reason = StrategyAvailability.reason(options.settings.strategy, redisURL: app.redisURL,
                                                                                   postgresURL: app.postgres.url) {
                throw fail(reason)
            }
            options.executable = ChildProcess.currentExecutable
            let engine = LiveEngine(options: options)
            engine.start()
            let model = DashboardModel(settings: options.settings)
            let ending: DashboardLoop.Ending
            do {
                ending = try DashboardLoop.run(engine: engine, initial: model, fps: fps, iterations: iterations,
                                               useColor: DashboardLoop.wantsColor(noColorFlag: noColor))
            } catch {
                throw fail("\(error)")
            }
            if case .signal(let number) = ending { throw ExitCode(128 + number) }
        }

        private func engineOptions() throws -> LiveEngine.Options {
            if let url {
                let target = try LoadTarget(parsing: url)
                return LiveEngine.Options(
                    settings: DashboardSettings(strategy: app.strategy, mode: app.mode, workers: app.workers,
                                                concurrency: concurrency, targetLabel: target.description),
                    burstSize: burst, storeThreads: app.threads, redisURL: app.redisURL,
                    target: .url(host: target.host, port: target.port, sharing: shared,
                                 requests: try requestOptions.requests(fields: command.fields)))
            }
            let requests = try requestOptions.requests(fields: command.fields)
            if let spec = command.commandSpec(requests: requests) {
                return LiveEngine.Options(
                    settings: DashboardSettings(strategy: app.strategy, mode: app.mode, workers: app.workers,
                                                concurrency: concurrency, targetLabel: spec.command),
                    burstSize: burst, storeThreads: app.threads, redisURL: app.redisURL,
                    target: .command(spec, sharing: shared, requests: requests))
            }
            guard let scenario else {
                return LiveEngine.Options(
                    settings: DashboardSettings(strategy: app.strategy, mode: app.mode, workers: app.workers,
                                                concurrency: concurrency, raceWindowMicroseconds: app.raceWindowMicros),
                    burstSize: burst, storeThreads: app.threads, redisURL: app.redisURL, listen: app.listen)
            }
            let loaded: Scenario
            do { loaded = try BuiltInScenario.resolve(scenario) } catch { throw fail("\(error)") }
            do { return try LiveRun.Options(scenario: loaded, name: scenario, burst: burst, redisURL: app.redisURL) } catch {
                throw fail("\(error)")
            }
        }
    }
}
