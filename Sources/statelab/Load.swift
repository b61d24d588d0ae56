import ArgumentParser
import Foundation
import StateLab

extension StateLabCommand {
    struct Load: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "load",
            abstract: "Fire increments at a counter app and check what it lost.",
            discussion: """
                With --url, the target is any app on this machine that speaks the counter API (POST /increment \
                answering {"count", "pid"}; GET /report), e.g. a FastAPI app under uvicorn; at the end every \
                worker pid seen is read through GET /report on fresh connections. Without --url, statelab \
                launches its own app (--strategy, --mode, --workers ...) and reads every worker through its \
                private socket. With --app-command, statelab launches your app from a shell command \
                (e.g. "uvicorn app:app --workers 4 --host 127.0.0.1 --port {port}"; {port} is a free loopback \
                port, {redis_url} a redis-server statelab starts for the run), waits until GET --ready-path \
                answers, finds the workers from /proc, runs the load, and stops the command's whole process group \
                at the end, on Ctrl-C, and even when statelab itself is killed. Closed model: --increments N or --duration D over --concurrency C connections. \
                Open model: add --rate R (latency measured from each request's intended send time).

                Exit status: 0 when the check found nothing wrong, 1 when it found lost updates, divergence \
                or errors, 2 for bad input or an app that could not start.
                """)

        @Option(help: "The app's base URL (loopback only), e.g. http://127.0.0.1:8000. Omit to launch statelab's own app (the app flags below apply only then).")
        var url: String?

        @OptionGroup var command: AppCommandOptions

        @OptionGroup(title: "Your app's requests (with --url or --app-command)")
        var requestOptions: RequestOptions

        @OptionGroup var app: AppOptions

        @Option(help: "Increments to send in all (closed model). Default 10000 unless --duration is given.")
        var increments: Int?

        @Option(help: "How long to send: 10s, 500ms, 1m.")
        var duration: String?

        @Option(help: "Keep-alive connections.")
        var concurrency: Int = 32

        @Option(help: "Open model: increments per second on a fixed schedule.")
        var rate: Double?

        @Option(help: "Seconds before one request counts as timed out.")
        var timeout: Double = 5

        @Option(name: .customLong("load-threads"), help: "Event-loop threads of the load generator.")
        var loadThreads: Int = 1

        @Option(name: .customLong("pid-from"), help: "Where each answer's worker pid comes from: proc (the kernel's socket table, one lookup per connection; the default for --url and --app-command) or answer (its pid field or X-Worker-Pid; the default for statelab's own app).")
        var pidFrom: PidSource?

        @Flag(name: .customLong("reset-first"), help: "With --url or --app-command: POST /reset before the load. An app with a counter per worker resets one worker only (the baseline covers the rest).")
        var resetFirst = false

        @Option(help: "With --url or --app-command: does the app keep one counter for all workers (yes), one per worker (no), or guess from the reads (auto, the report says why)?")
        var shared: Sharing = .auto

        @Option(name: .customLong("fault"), help: ArgumentHelp("A fault while the load runs, fired in order: KIND[:WORKER][@after=N|at=2s|delay=500ms], e.g. kill_store@after=1000, restart_store@delay=500ms, kill_worker:holder@after=300. Kinds: kill_worker, restart_worker, kill_store, restart_store, restart_app, pause_worker, resume_worker. Repeatable; statelab's own app only.", valueName: "step"))
        var faults: [String] = []

        @OptionGroup var output: OutputOptions

        func validate() throws {
            try requestOptions.permitRemote()
            if !faults.isEmpty && (url != nil || command.appCommand != nil) {
                throw ValidationError("--fault applies to statelab's own app only (no --url or --app-command)")
            }
            if !faults.isEmpty { _ = try app.faults(faults, stop: stop, rate: rate) }
            if increments != nil && duration != nil {
                throw ValidationError("--increments and --duration are mutually exclusive; pick one")
            }
            if let duration {
                guard let parsed = DurationText.parse(duration) else {
                    throw ValidationError("--duration '\(duration)' is not a duration; write it like 10s, 500ms or 1m")
                }
                try InputCheck.number("--duration", parsed.seconds, in: InputLimits.durationSeconds, unit: " seconds")
            }
            try InputCheck.whole("--increments", increments, in: InputLimits.increments)
            try InputCheck.whole("--concurrency", concurrency, in: InputLimits.concurrency)
            try InputCheck.number("--rate", rate, in: InputLimits.rate, unit: " increments per second")
            try InputCheck.number("--timeout", timeout, in: InputLimits.timeoutSeconds, unit: " seconds")
            try InputCheck.whole("--load-threads", loadThreads, in: InputLimits.loadThreads)
            if url != nil && command.appCommand != nil {
                throw ValidationError("--url and --app-command are mutually exclusive: load an app that runs, or one statelab launches")
            }
            if let url { _ = try LoadTarget(parsing: url) }
            try command.check(redisURL: app.redisURL)
            let external = url != nil || command.appCommand != nil
            if requestOptions.given && !external {
                throw ValidationError("--op, --read, --reset, --limit and the other request flags describe your app's requests; give --url or --app-command")
            }
            if external { _ = try requestOptions.requests(fields: command.fields) }
            if !external && resetFirst { throw ValidationError("--reset-first applies to --url and --app-command only; statelab's own app starts from 0") }
            if !external && shared != .auto { throw ValidationError("--shared applies to --url and --app-command only; statelab knows how its own strategies share") }
            if app.hosts != nil && url != nil {
                throw ValidationError("--hosts runs statelab's app or your --app-command on several hosts; it does not apply to --url (an app already running where it runs)")
            }
            if shared == .perHost && (app.hosts == nil || command.appCommand == nil) {
                throw ValidationError("--shared per-host takes one counter per host of --hosts N with --app-command; add them, or use yes, no or auto")
            }
        }

        var stop: StopCondition {
            if let duration, let parsed = DurationText.parse(duration) { return .duration(parsed.seconds) }
            return .count(increments ?? 10_000)
        }

        func run() async throws {
            let signals = SignalWatch()
            let progress = ProgressLine(enabled: output.showProgress)
            let target: LoadRun.Target = try userApp().map { .user($0, resetFirst: resetFirst, hosts: app.hosts) }
                ?? .own(app.config(port: 0), faults: try app.faults(faults, stop: stop, rate: rate))
            let load = LoadRun.Load(stop: stop, concurrency: concurrency, rate: rate, timeout: timeout, threads: loadThreads,
                                    pidSource: pidFrom, progress: output.progressDetail)
            let recording = try output.recording()
            let run: (RunResult, String)
            defer { output.finish(recording) }
            do {
                run = try await signals.cancelling { [redisURL = app.redisURL, postgresURL = app.postgres.url] in
                    try await LoadRun.run(target, load: load, redisURL: redisURL, postgresURL: postgresURL, recording: recording,
                                          progress: { progress.show(text: ProgressLine.describe($0)) },
                                          warn: { FileHandle.standardError.write(Data("statelab: \($0)\n".utf8)) })
                }
            } catch where signals.fired {
                progress.clear()
                FileHandle.standardError.write(Data("statelab: interrupted by \(signals.name); every process statelab started is stopped, nothing was checked\n".utf8))
                throw ExitCode(signals.exitStatus)
            } catch let error as LoadRun.StartError {
                progress.clear()
                throw fail(error.description)
            }
            progress.clear()
            try finish(run.0, target: run.1)
        }

        /// --url or --app-command: the user's app.
        private func userApp() throws -> TargetSpec? {
            let requests = try requestOptions.requests(fields: command.fields)
            if let url {
                let target = try LoadTarget(parsing: url)
                return .url(host: target.host, port: target.port, sharing: shared, requests: requests)
            }
            return command.commandSpec(requests: requests).map { .command($0, sharing: shared, requests: requests) }
        }

        private func finish(_ run: RunResult, target: String) throws {
            try output.writeHTML(HTMLReport.load(run, target: target))
            try output.emit(ReportWriter.renderLoad(run, target: target, as: output.format, color: output.useColor))
            if run.check.verdict != .ok || !run.failures.isEmpty { throw ExitCode(1) }
        }
    }
}

extension Sharing: ExpressibleByArgument {}
extension PidSource: ExpressibleByArgument {}

/// A load target URL: http on this machine only, with the flag's errors.
struct LoadTarget: CustomStringConvertible {
    var host: String
    var port: Int
    var description: String { LoopbackURL(host: host, port: port).description }

    init(parsing text: String) throws {
        switch LoopbackURL.parse(text) {
        case .success(let url):
            (host, port) = (url.host, url.port)
        case .failure(.notHTTP):
            throw ValidationError("--url '\(text)' is not an http URL with a port from 1 to 65535; write it like http://127.0.0.1:8000")
        case .failure(.notLoopback(let host)):
            throw ValidationError("--url host '\(host)' is not a loopback address; write 127.0.0.1, [::1] or localhost (names are never resolved), or name a host off this machine with --allow-remote \(host)")
        }
    }
}
