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
                private socket. Closed model: --increments N or --duration D over --concurrency C connections. \
                Open model: add --rate R (latency measured from each request's intended send time).

                Exit status: 0 when the check found nothing wrong, 1 when it found lost updates, divergence \
                or errors, 2 for bad input or an app that could not start.
                """)

        @Option(help: "The app's base URL (loopback only), e.g. http://127.0.0.1:8000. Omit to launch statelab's own app (the app flags below apply only then).")
        var url: String?

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

        @OptionGroup var output: OutputOptions

        func validate() throws {
            if increments != nil && duration != nil {
                throw ValidationError("--increments and --duration are mutually exclusive; pick one")
            }
            if let increments, increments < 1 { throw ValidationError("--increments must be at least 1 (got \(increments))") }
            if let duration, DurationText.parse(duration) == nil {
                throw ValidationError("--duration '\(duration)' is not a duration; write it like 10s, 500ms or 1m")
            }
            if !(1...4096).contains(concurrency) { throw ValidationError("--concurrency must be between 1 and 4096 (got \(concurrency))") }
            if let rate, !(rate > 0) { throw ValidationError("--rate must be above 0 (got \(rate))") }
            if !(timeout > 0) { throw ValidationError("--timeout must be above 0 seconds") }
            if !(1...16).contains(loadThreads) { throw ValidationError("--load-threads must be between 1 and 16") }
            if let url { _ = try LoadTarget(parsing: url) }
        }

        var stop: StopCondition {
            if let duration, let parsed = DurationText.parse(duration) { return .duration(parsed.seconds) }
            return .count(increments ?? 10_000)
        }

        func run() async throws {
            if let url {
                try await runExternal(try LoadTarget(parsing: url))
            } else {
                try await runBuiltIn()
            }
        }

        private func plan(port: Int, host: String = "127.0.0.1") -> LoadPlan {
            LoadPlan(host: host, port: port, stop: stop, concurrency: concurrency, rate: rate,
                     timeout: timeout, threads: loadThreads)
        }

        private func runBuiltIn() async throws {
            let config = app.config(port: 0)
            if let reason = config.unavailability() { throw fail(reason) }
            let supervisor: Supervisor
            do { supervisor = try await OffThread.run { try Supervisor.start(config) } } catch { throw fail("\(error)") }
            defer { supervisor.stop() }
            let progress = ProgressLine(enabled: output.showProgress)
            let result = try await LoadGenerator(plan: plan(port: supervisor.port)).run { progress.show(text: Self.describe($0)) }
            progress.clear()
            let finalReads = await OffThread.run { supervisor.readAll() }
            let history = History(increments: result.increments, reads: finalReads, finalReads: finalReads)
            let check = Checker.check(history, shared: config.strategy.isShared)
            try finish(RunResult(strategy: config.strategy, mode: config.mode, workers: config.workers,
                                 raceWindowMicros: config.raceWindowMicros, concurrency: concurrency,
                                 targetRate: result.targetRate, achievedRate: result.achievedRate,
                                 elapsed: result.elapsed, check: check, throughputRPS: result.throughput,
                                 latency: result.latency),
                       target: "statelab \(config.strategy.rawValue)/\(config.mode.rawValue) at \(supervisor.url)")
        }

        private func runExternal(_ target: LoadTarget) async throws {
            let progress = ProgressLine(enabled: output.showProgress)
            let result = try await LoadGenerator(plan: plan(port: target.port, host: target.host)).run {
                progress.show(text: Self.describe($0))
            }
            progress.clear()
            if result.okCount == 0 {
                // Otherwise a typo in the port reads as a table of zeros and a bare "errors".
                FileHandle.standardError.write(Data(
                    "statelab: no increment was acknowledged by \(target); is the app running there, and does it answer POST /increment?\n".utf8))
            }
            let seen = Set(result.increments.compactMap(\.pid))
            let (reads, unreached) = await ReportReader.readAll(host: target.host, port: target.port,
                                                                expecting: seen, timeout: 10)
            if !unreached.isEmpty {
                let pids = unreached.sorted().map(String.init).joined(separator: ", ")
                FileHandle.standardError.write(Data("statelab: could not read worker pids \(pids) through GET /report\n".utf8))
            }
            let history = History(increments: result.increments, reads: reads, finalReads: reads)
            // An app started apart may share one counter or keep one per worker (a module-level
            // variable under uvicorn --workers N). Workers that still disagree after the load
            // cannot share one counter; checked as one, every other worker's increments would
            // count as lost. So they are checked as separate counters, and show as divergent.
            let shared = Set(reads.map(\.value)).count <= 1
            let check = Checker.check(history, shared: shared)
            try finish(RunResult(label: target.description, strategy: .global, mode: .naive, workers: reads.count,
                                 concurrency: concurrency, targetRate: result.targetRate,
                                 achievedRate: result.achievedRate, elapsed: result.elapsed, check: check,
                                 throughputRPS: result.throughput, latency: result.latency,
                                 unreachedPids: unreached.sorted(), external: true),
                       target: target.description)
        }

        private func finish(_ run: RunResult, target: String) throws {
            try output.emit(ReportWriter.renderLoad(run, target: target, as: output.format, color: output.useColor))
            if run.check.verdict != .ok { throw ExitCode(1) }
        }

        static func describe(_ load: LoadProgress) -> String {
            "\(String(format: "%5.1f", load.elapsed))s  \(load.completed) sent  \(load.ok) ok  "
                + "\(load.fail) fail  \(load.indeterminate) indeterminate  \(Int(load.currentRate)) req/s"
        }
    }
}

/// A load target URL: http on this machine only.
struct LoadTarget: CustomStringConvertible {
    var host: String
    var port: Int
    var description: String { "http://\(host.contains(":") ? "[\(host)]" : host):\(port)" }

    init(parsing text: String) throws {
        guard let components = URLComponents(string: text), components.scheme == "http",
              let host = components.host, !host.isEmpty
        else {
            throw ValidationError("--url '\(text)' is not an http URL; write it like http://127.0.0.1:8000")
        }
        let loopback = host == "localhost" || host.hasPrefix("127.") || host == "::1" || host == "[::1]"
        guard loopback else {
            throw ValidationError("--url host '\(host)' is not this machine; statelab load targets loopback only (127.0.0.1, localhost, ::1)")
        }
        self.host = host == "localhost" ? "127.0.0.1" : host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        self.port = components.port ?? 80
    }
}
