import ArgumentParser
import Foundation
import StateLab

extension StateLabCommand {
    struct Compare: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "compare",
            abstract: "Run a scenario headless: every run on a fresh app, then a table, JSON, Markdown or CSV.",
            discussion: """
                Exit status: 0 when every expectation holds, 1 when one does not (or a run failed: a step \
                that never happened, no worker read), 2 for bad input or a run that could not start, 130 or \
                143 when SIGINT or SIGTERM stopped it: the runs that finished are printed, marked interrupted, \
                after every process statelab started is stopped. A run whose strategy cannot run here (no redis-server) is skipped with \
                the reason and does not fail the comparison. Every scenario in Scenarios/ is built in: \
                --scenario NAME (no .yaml) runs the built-in one when no file NAME is there, and \
                --list-scenarios lists them. Without --scenario, the built-in quickstart runs. With \
                --app-command or --url, one run of your own app instead (--increments over --concurrency \
                connections), with the same table and diagnosis.
                """)

        @Option(help: "A scenario file (YAML; see Scenarios/README.md), or the name of a built-in scenario.")
        var scenario: String?

        @Flag(name: .customLong("list-scenarios"), help: "List the built-in scenarios and exit.")
        var listScenarios = false

        @Option(help: "Instead of a scenario: one run of your app already running at this loopback URL.")
        var url: String?

        @OptionGroup var command: AppCommandOptions

        @OptionGroup(title: "Your app's requests (with --url or --app-command)")
        var requestOptions: RequestOptions

        @Option(help: "With --url or --app-command: one counter for all workers (yes), one per worker (no), or decide from the reads (auto).")
        var shared: Sharing = .auto

        @Option(help: "With --url or --app-command: increments to send.")
        var increments: Int = 2_000

        @Option(help: "With --url or --app-command: keep-alive connections.")
        var concurrency: Int = 32

        @OptionGroup var output: OutputOptions

        @Option(name: .customLong("fault"), help: ArgumentHelp("A fault for every run of the scenario, replacing its faults: KIND[:WORKER][@after=N|at=2s|delay=500ms], e.g. kill_store@after=1000. Repeatable; see statelab load --help.", valueName: "step"))
        var faults: [String] = []

        @Option(name: .customLong("redis-url"), help: "Use this Redis server (redis://127.0.0.1:6379) instead of starting one.")
        var redisURL: String?

        @Option(help: "Run every run of statelab's own app on this many namespaced hosts behind nginx (1-16), as a scenario's app: {hosts: N} does. Needs root, ip and nginx; without them the runs are skipped with the reason.")
        var hosts: Int?

        @OptionGroup(title: "PostgreSQL")
        var postgres: PostgresCLIOptions

        func validate() throws {
            try requestOptions.permitRemote()
            if listScenarios && scenario != nil { throw ValidationError("--list-scenarios takes no --scenario; it lists them all") }
            let targets = [("--scenario", scenario != nil), ("--url", url != nil), ("--app-command", command.appCommand != nil)]
                .filter(\.1).map(\.0)
            if targets.count > 1 { throw ValidationError("\(targets.joined(separator: " and ")) are mutually exclusive; pick one") }
            if let url { _ = try LoadTarget(parsing: url) }
            try command.check(redisURL: redisURL)
            let ownApp = url == nil && command.appCommand == nil
            if ownApp && (shared != .auto || increments != 2_000 || concurrency != 32) {
                throw ValidationError("--shared, --increments and --concurrency apply to --url and --app-command; a scenario sets its own load")
            }
            if requestOptions.given && ownApp {
                throw ValidationError("--op, --read, --reset, --limit and the other request flags describe your app's requests; give --url or --app-command")
            }
            if !ownApp { _ = try requestOptions.requests(fields: command.fields) }
            if !faults.isEmpty && !ownApp { throw ValidationError("--fault applies to a scenario's runs of statelab's own app, not to --url or --app-command") }
            for text in faults {
                do { _ = try FaultSyntax.parse(text) } catch let error as FaultError { throw ValidationError("--fault \(error.description)") }
            }
            if let hosts {
                try InputCheck.whole("--hosts", hosts, in: InputLimits.hosts)
                if url != nil { throw ValidationError("--hosts runs statelab's app or your --app-command on several hosts; it does not apply to --url (an app already running where it runs)") }
                if let problem = HostCluster.loopbackServerProblem(redisURL: redisURL, postgresURL: postgres.options.url) {
                    throw ValidationError(problem)
                }
            }
            if shared == .perHost && (hosts == nil || command.appCommand == nil) {
                throw ValidationError("--shared per-host takes one counter per host of --hosts N with --app-command; add them, or use yes, no or auto")
            }
            try InputCheck.whole("--increments", increments, in: InputLimits.increments)
            try InputCheck.whole("--concurrency", concurrency, in: InputLimits.concurrency)
        }

        /// The scenario with --fault in place of its runs' faults, every run's
        /// faults checked against its strategy, mode and the servers given.
        private func withFaults(_ loaded: Scenario) throws -> Scenario {
            var scenario = loaded
            if let hosts {
                for index in scenario.runs.indices where scenario.runs[index].target == nil { scenario.runs[index].app.hosts = hosts }
            }
            if !faults.isEmpty {
                let steps = faults.compactMap { try? FaultSyntax.parse($0) }
                for index in scenario.runs.indices where scenario.runs[index].target == nil { scenario.runs[index].faults = steps }
            }
            for run in scenario.runs {
                let plan = RunPlan(spec: run, load: scenario.load, redisURL: redisURL, postgres: postgres.options)
                if let problem = plan.faultProblems.first { throw fail("\(run.label): \(problem)") }
            }
            return scenario
        }

        /// A scenario of one run of the user's app, from --url or --app-command.
        private func userAppScenario() throws -> Scenario? {
            let target: TargetSpec
            let requests = try requestOptions.requests(fields: command.fields)
            if let url {
                let parsed = try LoadTarget(parsing: url)
                target = .url(host: parsed.host, port: parsed.port, sharing: shared, requests: requests)
            } else if let spec = command.commandSpec(requests: requests) {
                target = .command(spec, sharing: shared, requests: requests)
            } else {
                return nil
            }
            var app = AppSettings.defaults
            if case .command = target { app.hosts = hosts }
            let run = RunSpec(strategy: .global, mode: .naive, app: app, expectations: [], line: 0, name: "your app", target: target)
            return Scenario(name: "your app", description: nil, sourcePath: target.description, app: .defaults,
                            load: LoadSettings(limit: .increments(increments), concurrency: concurrency),
                            expectations: [], runs: [run])
        }

        func run() async throws {
            if listScenarios {
                print(Self.scenarioList(), terminator: "")
                return
            }
            let loaded: Scenario
            do {
                loaded = try userAppScenario() ?? scenario.map(BuiltInScenario.resolve) ?? BuiltInScenario.load(named: "quickstart")
            } catch {
                throw fail("\(error)")
            }
            let scenario = try withFaults(loaded)
            let progress = ProgressLine(enabled: output.showProgress)
            let signals = SignalWatch()
            let recording = try output.recording()
            let report: CompareReport
            do {
                report = try await signals.cancelling { [redisURL, postgres = postgres.options] in
                    try await ScenarioRunner.run(scenario, redisURL: redisURL, postgres: postgres, recording: recording,
                                                 watching: output.progressDetail) { progress.show($0) }
                }
            } catch {
                progress.clear()
                output.finish(recording)
                if signals.fired { throw ExitCode(signals.exitStatus) }
                throw fail("\(error)")
            }
            progress.clear()
            output.finish(recording)
            try output.writeHTML(HTMLReport.compare(report))
            if signals.fired {
                let finished = report.runs.count
                FileHandle.standardError.write(Data("statelab: interrupted by \(signals.name) after \(finished) of \(loaded.runs.count) runs; every process statelab started is stopped\n".utf8))
                try output.emit(ReportWriter.render(report, as: output.format, color: output.useColor))
                throw ExitCode(signals.exitStatus)
            }
            for failure in report.failures {
                FileHandle.standardError.write(Data("statelab: \(failure)\n".utf8))
            }
            for run in report.runs where run.isSkipped {
                FileHandle.standardError.write(Data("statelab: skipped \(run.label): \(run.skipped ?? "")\n".utf8))
            }
            try output.emit(ReportWriter.render(report, as: output.format, color: output.useColor))
            if report.exitCode != 0 { throw ExitCode(report.exitCode) }
        }
    }
}

extension StateLabCommand.Compare {
    /// One line per built-in scenario: its name, then its description.
    static func scenarioList() -> String {
        let names = BuiltInScenario.names
        let width = names.map(\.count).max() ?? 0
        return names.map { name in
            let about: String
            do {
                about = try BuiltInScenario.load(named: name).description ?? ""
            } catch {
                about = "(does not load: \(error))"
            }
            return name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + about + "\n"
        }.joined()
    }
}

/// --format / --output / colour and progress, shared by compare and load.
struct OutputOptions: ParsableArguments {
    @Option(help: "Output format.")
    var format: ReportFormat = .table

    @Option(help: "Write the output to this file instead of standard output.")
    var output: String?

    @Flag(name: .customLong("no-color"), help: "No colours (also when NO_COLOR is set or output is not a terminal).")
    var noColor = false

    @Flag(help: "No progress line on standard error.")
    var quiet = false

    @Option(help: ArgumentHelp("Also write a self-contained HTML report here: every run over time, its reads, and the race drawn (one file, no network).", valueName: "file"))
    var html: String?

    @Option(help: ArgumentHelp("Stream every operation to this file as it happens, one JSON object a line, as a Jepsen history (see Tools/HISTORY.md).", valueName: "file.jsonl"))
    var history: String?

    /// What the runs keep for --html and --history; opens the history file.
    func recording() throws -> RunRecording {
        do {
            return RunRecording(evidence: html != nil, export: try history.map { try HistoryExport(path: $0) })
        } catch {
            throw fail("\(error)")
        }
    }

    /// Writes the HTML report, when asked for.
    func writeHTML(_ page: @autoclosure () -> String) throws {
        guard let html else { return }
        do {
            try page().write(toFile: html, atomically: true, encoding: .utf8)
        } catch {
            throw fail("cannot write --html \(html): \(error.localizedDescription); choose a writable path")
        }
    }

    /// Closes the history file, saying on stderr if it could not be written whole.
    func finish(_ recording: RunRecording) {
        guard let export = recording.export else { return }
        do {
            try export.finish()
        } catch {
            FileHandle.standardError.write(Data("statelab: \(error)\n".utf8))
        }
    }


    var useColor: Bool {
        !noColor && output == nil && format == .table && isatty(1) == 1
            && ProcessInfo.processInfo.environment["NO_COLOR"].map(\.isEmpty) ?? true
    }

    var showProgress: Bool { !quiet && isatty(2) == 1 }

    /// The progress line shows counts and the rate; without one nothing is computed for it.
    var progressDetail: ProgressDetail { showProgress ? .counts : .none }

    func validate() throws {
        if let output, let problem = OutputPath.problem(output) { throw ValidationError(problem) }
        if let html, let problem = OutputPath.problem(html, flag: "--html") { throw ValidationError(problem) }
        if let history, let problem = OutputPath.problem(history, flag: "--history") { throw ValidationError(problem) }
        let files = [("--output", output), ("--html", html), ("--history", history)].compactMap { flag, path in path.map { (flag, URL(fileURLWithPath: $0).standardizedFileURL.path) } }
        for (index, file) in files.enumerated() {
            if let other = files[..<index].first(where: { $0.1 == file.1 }) {
                throw ValidationError("\(other.0) and \(file.0) both name \(file.1); give each its own file")
            }
        }
    }

    func emit(_ text: String) throws {
        if let output {
            do {
                try text.write(toFile: output, atomically: true, encoding: .utf8)
            } catch {
                throw fail("cannot write \(output): \(error.localizedDescription); choose a writable path for --output")
            }
        } else {
            // By bytes: CSV lines end in "\r\n", one Character that hasSuffix("\n") does not match.
            print(text, terminator: text.utf8.last == UInt8(ascii: "\n") ? "" : "\n")
        }
    }
}

extension ReportFormat: ExpressibleByArgument {}
