import Foundation
import Yams

/// Turns a composed YAML tree into a Scenario, checking every key and value.
/// The schema lives in Scenarios/README.md; the limits below are its ranges.
struct ScenarioDecoder {
    let reader: NodeReader
    let path: String

    static let topKeys = ["name", "description", "app", "load", "runs", "expect", "faults"]
    static let appKeys = ["workers", "race_window_us", "threads", "listen", "redis_appendonly", "hosts"]
    static let loadKeys = ["increments", "duration", "concurrency", "rate", "reset_after", "timeout"]
    static let runKeys = ["name", "strategy", "mode", "target", "app", "expect", "faults"]
    static let faultTriggerKeys = ["after", "at", "delay", "worker", "host"]
    static let targetKeys = ["command", "url", "cwd", "env", "ready", "shared", "pid_field", "count_field"] + requestKeys
    static let readyKeys = ["path", "timeout"]
    static let longestReady = Duration.seconds(600)

    // The ranges are InputLimits', shared with the flags.
    static let triggerTimes = 0.001...InputLimits.durationSeconds.upperBound

    func scenario(from root: Node) throws -> Scenario {
        let top = try reader.mapping(root, "the scenario", allowed: Self.topKeys,
                                     example: "name: ..., load: ..., runs: ... at the top level")
        let name = try reader.text(try top.require("name", example: "name: my-scenario"), "name", example: "name: my-scenario")
        let description = try top["description"].map { try reader.text($0, "description", example: "description: \"...\"") }
        let app = try top["app"].map { try appSettings($0, base: .defaults, context: "app") } ?? .defaults
        let load = try loadSettings(try top.require("load", example: "load: {increments: 2000, concurrency: 32}"))
        let expectations = try top["expect"].map { try self.expectations($0, context: "expect") } ?? []
        let faults = try top["faults"].map { try self.faults($0, context: "faults") }
        var runs = try self.runs(try top.require("runs", example: "runs: [{strategy: shm, mode: atomic}]"),
                                 app: app, expectations: expectations, load: load)
        if let faults {
            for index in runs.indices where !runs[index].ownFaults && runs[index].target == nil {
                runs[index].faults = faults.steps
                try validate(runs[index], faultsAt: faults.node, load: load)
            }
        }
        return Scenario(name: name, description: description, sourcePath: path, app: app, load: load,
                        expectations: expectations, runs: runs)
    }

    private func appSettings(_ node: Node, base: AppSettings, context: String) throws -> AppSettings {
        let fields = try reader.mapping(node, context, allowed: Self.appKeys, example: "\(context): {workers: 4}")
        var app = base
        if let node = fields["workers"] { app.workers = try reader.integer(node, "workers", in: InputLimits.workers) }
        if let node = fields["hosts"] { app.hosts = try reader.integer(node, "hosts", in: InputLimits.hosts) }
        if let node = fields["race_window_us"] {
            app.raceWindowMicros = try reader.integer(node, "race_window_us", in: InputLimits.raceWindowMicros)
        }
        if let node = fields["threads"] { app.threads = try reader.integer(node, "threads", in: InputLimits.storeThreads) }
        if let node = fields["redis_appendonly"] {
            guard node.tag.description == Tag.Name.bool.rawValue, let flag = node.bool else {
                throw reader.error(at: node, "redis_appendonly takes yes or no, got \(NodeReader.describe(node))",
                                   "write redis_appendonly: yes to keep an append-only file (appendfsync everysec)")
            }
            app.redisAppendOnly = flag
        }
        if let node = fields["listen"] {
            let name = try reader.text(node, "listen", example: "listen: shared")
            guard let listen = ListenMode(rawValue: name) else {
                throw reader.error(at: node, "unknown listen \(ScenarioError.quote(name))",
                                   oneOf(ListenMode.allCases.map(\.rawValue), nearTo: name))
            }
            app.listen = listen
        }
        return app
    }

    private func loadSettings(_ node: Node) throws -> LoadSettings {
        let fields = try reader.mapping(node, "load", allowed: Self.loadKeys,
                                        example: "load: {increments: 2000, concurrency: 32}")
        let limit: LoadSettings.Limit
        switch (fields["increments"], fields["duration"]) {
        case (.some, .some):
            throw reader.error(at: fields.key("duration") ?? node, "both increments and duration in load",
                               "keep exactly one: increments stops after a count, duration after a time")
        case (nil, nil):
            throw reader.error(at: node, "neither increments nor duration in load",
                               "add one of them, e.g. increments: 2000 or duration: 5s")
        case let (increments?, nil):
            limit = .increments(try reader.integer(increments, "increments", in: InputLimits.increments))
        case let (nil, duration?):
            limit = .duration(try reader.duration(duration, "duration", in: InputLimits.durationSeconds))
        }
        var load = LoadSettings(limit: limit)
        if let node = fields["concurrency"] {
            load.concurrency = try reader.integer(node, "concurrency", in: InputLimits.concurrency)
        }
        if let node = fields["rate"] {
            // 0 is the documented way to say "closed model"; any other rate must be in range.
            let rate = try reader.number(node, "rate", in: 0...InputLimits.rate.upperBound)
            if rate != 0, let problem = InputLimits.problem("rate", rate, in: InputLimits.rate) {
                throw reader.error(at: node, problem, "write a rate from \(InputLimits.plain(InputLimits.rate.lowerBound)) to \(InputLimits.plain(InputLimits.rate.upperBound)) increments per second, or 0 for the closed model")
            }
            load.rate = rate > 0 ? rate : nil
        }
        if let node = fields["reset_after"] {
            let resetAfter = try reader.integer(node, "reset_after", in: InputLimits.increments)
            if case .increments(let total) = limit, resetAfter >= total {
                throw reader.error(at: node, "reset_after \(resetAfter) is not below increments \(total)",
                                   "reset mid-run: use a number from 1 to \(total - 1)")
            }
            load.resetAfter = resetAfter
        }
        if let node = fields["timeout"] {
            load.timeout = try reader.duration(node, "timeout", in: InputLimits.timeoutSeconds)
        }
        return load
    }

    private func runs(_ node: Node, app: AppSettings, expectations: [Expectation], load: LoadSettings) throws -> [RunSpec] {
        let example = "runs: [{strategy: shm, mode: atomic}]"
        guard case .sequence(let items) = node else {
            if NodeReader.isNull(node) { throw reader.error(at: node, "runs has no value", "write \(example)") }
            throw reader.error(at: node, "runs must be a list, got \(NodeReader.describe(node))", "write \(example)")
        }
        guard !items.isEmpty else {
            throw reader.error(at: node, "runs is empty", "add at least one run, e.g. - {strategy: shm, mode: atomic}")
        }
        guard items.count <= InputLimits.scenarioRuns.upperBound else {
            throw reader.error(at: node, "runs has \(items.count) runs, over the limit of \(InputLimits.scenarioRuns.upperBound)",
                               "split the scenario into several files")
        }
        return try items.enumerated().map { index, item in
            try run(item, number: index + 1, app: app, expectations: expectations, load: load)
        }
    }

    private func run(_ node: Node, number: Int, app: AppSettings, expectations: [Expectation], load: LoadSettings) throws -> RunSpec {
        let context = "run \(number)"
        let fields = try reader.mapping(node, context, allowed: Self.runKeys, example: "- {strategy: shm, mode: atomic}")
        let name = try fields["name"].map { try reader.text($0, "name", example: "name: global") }
        if let targetNode = fields["target"] {
            for key in ["strategy", "mode"] {
                if let extra = fields.key(key) {
                    throw reader.error(at: extra, "\(key) in \(context), which has a target",
                                       "strategy and mode pick statelab's own app; a run with target: drives yours: remove \(key)")
                }
            }
            if let extra = fields.key("faults") {
                throw reader.error(at: extra, "faults in \(context), which has a target",
                                   "faults run against statelab's own app only (strategy and mode); remove faults")
            }
            let target = try self.target(targetNode, context: "\(context) target")
            let runApp = try fields["app"].map { try appSettings($0, base: app, context: "\(context) app") } ?? app
            if case .url = target, runApp.hosts != nil {
                throw reader.error(at: fields.key("app") ?? targetNode, "hosts in \(context), whose target is a url",
                                   "hosts runs statelab's app or your command on several hosts; an app at a url already runs where it runs: remove hosts (or use command)")
            }
            if target.sharing == .perHost, runApp.hosts == nil {
                throw reader.error(at: targetNode, "shared: per-host in \(context), which runs on one host",
                                   "per-host takes one counter per host of app: {hosts: N}; add hosts, or use yes, no or auto")
            }
            let own = try fields["expect"].map { try self.expectations($0, context: "\(context) expect") } ?? []
            return RunSpec(strategy: .global, mode: .naive, app: runApp, expectations: merge(expectations, with: own),
                           line: node.mark?.line ?? 1, name: name, target: target)
        }
        let strategyNode = try fields.require("strategy", example: "strategy: shm")
        let strategyName = try reader.text(strategyNode, "strategy", example: "strategy: shm")
        guard let strategy = Strategy(rawValue: strategyName) else {
            throw reader.error(at: strategyNode, "unknown strategy \(ScenarioError.quote(strategyName))",
                               oneOf(Strategy.allCases.map(\.rawValue), nearTo: strategyName))
        }
        let mode: Mode
        if let modeNode = fields["mode"] {
            let modeName = try reader.text(modeNode, "mode", example: "mode: atomic")
            guard let parsed = Mode(rawValue: modeName) else {
                throw reader.error(at: modeNode, "unknown mode \(ScenarioError.quote(modeName))",
                                   oneOf(Mode.allCases.map(\.rawValue), nearTo: modeName))
            }
            guard strategy.modes.contains(parsed) else {
                if strategy == .global {
                    throw reader.error(at: modeNode, "strategy global supports only mode naive, not \(modeName)",
                                       "each worker has its own variable, so there is nothing to lock or share; use mode: naive")
                }
                throw reader.error(at: modeNode, "strategy \(strategy.rawValue) has no mode \(modeName)",
                                   "use one of: \(strategy.modes.map(\.rawValue).joined(separator: ", ")) (serializable is a database isolation level: postgres only)")
            }
            mode = parsed
        } else if strategy == .global {
            mode = .naive
        } else {
            throw reader.error(at: node, "missing required key 'mode' in \(context)", "add mode: naive, locked or atomic")
        }
        let runApp = try fields["app"].map { try appSettings($0, base: app, context: "\(context) app") } ?? app
        let own = try fields["expect"].map { try self.expectations($0, context: "\(context) expect") } ?? []
        var spec = RunSpec(strategy: strategy, mode: mode, app: runApp, expectations: merge(expectations, with: own),
                           line: node.mark?.line ?? 1, name: name)
        if let faultsNode = fields["faults"] {
            spec.faults = try faults(faultsNode, context: "\(context) faults").steps
            spec.ownFaults = true
            try validate(spec, faultsAt: faultsNode, load: load)
        }
        return spec
    }

    /// A run's faults must fit its strategy, mode, workers and load: exit 2 at load, not a failed run.
    private func validate(_ run: RunSpec, faultsAt node: Node, load: LoadSettings) throws {
        if let problem = FaultPlan.problems(run.faults, strategy: run.strategy, mode: run.mode, workers: run.app.workers,
                                            load: load.faultLoad, hosts: run.app.hosts).first {
            let parts = problem.split(separator: ";", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            throw reader.error(at: node, "\(parts[0]) (run \(run.label) at line \(run.line))",
                               parts.count > 1 ? parts[1] : "change the faults, or the run's strategy and mode")
        }
    }

    /// `faults: [{kill_store: {after: 1000}}, {restart_store: {delay: 500ms}}, "kill_worker:holder@after=300"]`.
    private func faults(_ node: Node, context: String) throws -> (steps: [FaultStep], node: Node) {
        let example = "faults: [{kill_store: {after: 1000}}, {restart_store: {delay: 500ms}}]"
        guard case .sequence(let items) = node else {
            throw reader.error(at: node, "\(context) must be a list, got \(NodeReader.describe(node))", "write \(example)")
        }
        let steps = try items.map { item -> FaultStep in
            if case .scalar = item {
                let text = try reader.text(item, "a fault", example: "- kill_store@after=1000")
                do { return try FaultSyntax.parse(text) } catch let error as FaultError {
                    throw reader.error(at: item, error.description, "write it like \(FaultSyntax.example)")
                }
            }
            guard case .mapping(let pairs) = item, pairs.count == 1, let (key, value) = pairs.first(where: { _ in true }) else {
                throw reader.error(at: item, "each fault is one step, like kill_store: {after: 1000}, got \(NodeReader.describe(item))",
                                   "write \(example)")
            }
            let name = try reader.text(key, "a fault", example: "kill_store: {after: 1000}")
            guard let kind = FaultStep.Kind(rawValue: name) else {
                throw reader.error(at: key, "unknown fault \(ScenarioError.quote(name))",
                                   oneOf(FaultStep.Kind.allCases.map(\.rawValue), nearTo: name))
            }
            if NodeReader.isNull(value) { return FaultStep(kind) }
            let fields = try reader.mapping(value, name, allowed: Self.faultTriggerKeys,
                                            example: "\(name): {after: 1000}")
            var worker: FaultStep.Worker?
            if let node = fields["worker"] {
                guard kind.takesWorker else {
                    throw reader.error(at: fields.key("worker"), "\(name) takes no worker",
                                       "only \(FaultStep.Kind.allCases.filter(\.takesWorker).map(\.rawValue).joined(separator: ", ")) act on one worker")
                }
                if node.string == "holder" {
                    worker = .holder
                } else {
                    worker = .index(try reader.integer(node, "worker", in: 0...(InputLimits.workers.upperBound - 1)))
                }
            }
            if let node = fields["host"] {
                guard kind.takesHost else {
                    throw reader.error(at: fields.key("host"), "\(name) takes no host",
                                       "only kill_host and restart_host act on one host")
                }
                worker = .index(try reader.integer(node, "host", in: InputLimits.hosts))
            }
            let triggers = ["after", "at", "delay"].filter { fields[$0] != nil }
            if triggers.count > 1 {
                throw reader.error(at: fields.key(triggers[1]), "\(name) has both \(triggers[0]) and \(triggers[1])",
                                   "keep one: after (acknowledged increments), at (time into the load) or delay (after the step before)")
            }
            var trigger = FaultStep.Trigger.next
            if let node = fields["after"] {
                trigger = .afterAcknowledged(try reader.integer(node, "after", in: InputLimits.increments))
            } else if let node = fields["at"] {
                trigger = .at(try reader.duration(node, "at", in: Self.triggerTimes).seconds)
            } else if let node = fields["delay"] {
                trigger = .delay(try reader.duration(node, "delay", in: Self.triggerTimes).seconds)
            }
            return FaultStep(kind, worker: worker, trigger: trigger)
        }
        return (steps, node)
    }

    /// `target: {command: ..., cwd: ..., env: {...}, ready: {path, timeout}, shared: yes|no|auto}` or `target: {url: ...}`.
    private func target(_ node: Node, context: String) throws -> TargetSpec {
        let example = "target: {command: \"uvicorn app:app --workers 4 --port {port}\"}"
        let fields = try reader.mapping(node, context, allowed: Self.targetKeys, example: example)
        var sharing = Sharing.auto
        if let sharedNode = fields["shared"] {
            // YAML reads a bare yes or no as a boolean.
            let word: String
            if let flag = sharedNode.bool {
                word = flag ? "yes" : "no"
            } else {
                word = try reader.text(sharedNode, "shared", example: "shared: no")
            }
            guard let parsed = Sharing(rawValue: word) else {
                throw reader.error(at: sharedNode, "shared takes yes, no, per-host or auto, got \(ScenarioError.quote(word))",
                                   "yes: the workers share one counter; no: each keeps its own; per-host: the workers of each host share one (with hosts); auto: decide from the reads")
            }
            sharing = parsed
        }
        switch (fields["command"], fields["url"]) {
        case (.some, .some):
            throw reader.error(at: fields.key("url") ?? node, "both command and url in \(context)",
                               "keep one: command launches your app, url points at one already running")
        case (nil, nil):
            throw reader.error(at: node, "neither command nor url in \(context)", "add one, e.g. \(example)")
        case let (nil, url?):
            for key in ["cwd", "env", "ready", "pid_field", "count_field"] {
                if let extra = fields.key(key) {
                    throw reader.error(at: extra, "\(key) in a url target", "\(key) applies to a command statelab launches; remove it")
                }
            }
            let text = try reader.text(url, "url", example: "url: http://127.0.0.1:8000")
            switch LoopbackURL.parse(text) {
            case .success(let parsed):
                return .url(host: parsed.host, port: parsed.port, sharing: sharing,
                            requests: try requests(fields, context: context, answerFields: .standard))
            case .failure(.notHTTP):
                throw reader.error(at: url, "url \(ScenarioError.quote(text)) is not an http URL with a port from 1 to 65535",
                                   "write it like http://127.0.0.1:8000")
            case .failure(.notLoopback(let host)):
                throw reader.error(at: url, "url host \(ScenarioError.quote(host)) is not a loopback address",
                                   "write 127.0.0.1, [::1] or localhost (names are never resolved)")
            }
        case let (command?, nil):
            var spec = CommandSpec(command: try reader.text(command, "command", example: example))
            if spec.command.trimmingCharacters(in: .whitespaces).isEmpty {
                throw reader.error(at: command, "command is empty", "write the command that starts your app, e.g. \(example)")
            }
            if let cwd = fields["cwd"] {
                let text = try reader.text(cwd, "cwd", example: "cwd: ../examples/python")
                spec.cwd = Self.resolve(text, relativeTo: path)
            }
            if let env = fields["env"] {
                guard case .mapping(let pairs) = env else {
                    throw reader.error(at: env, "env must be a mapping, got \(NodeReader.describe(env))", "write env: {NAME: value}")
                }
                for (key, value) in pairs {
                    let name = try reader.text(key, "an env name", example: "env: {NAME: value}")
                    spec.env[name] = try reader.scalar(value, name, expecting: "a value", example: "env: {\(name): value}").string
                }
            }
            var readyPathGiven = false
            if let ready = fields["ready"] {
                let readyFields = try reader.mapping(ready, "\(context) ready", allowed: Self.readyKeys,
                                                     example: "ready: {path: /report, timeout: 30s}")
                if let path = readyFields["path"] {
                    spec.readyPath = try reader.text(path, "path", example: "path: /report")
                    readyPathGiven = true
                    guard spec.readyPath.hasPrefix("/") else {
                        throw reader.error(at: path, "ready path \(ScenarioError.quote(spec.readyPath)) does not start with /",
                                           "write it like path: /report")
                    }
                }
                if let timeout = readyFields["timeout"] {
                    spec.readyTimeout = try reader.duration(timeout, "timeout", in: InputLimits.readySeconds).seconds
                }
            }
            if let node = fields["pid_field"] { spec.pidField = try reader.text(node, "pid_field", example: "pid_field: pid") }
            if let node = fields["count_field"] { spec.countField = try reader.text(node, "count_field", example: "count_field: count") }
            if let problem = spec.answerFields.problem {
                throw reader.error(at: fields.key("pid_field") ?? fields.key("count_field") ?? node, problem,
                                   "name the JSON fields your app answers with, e.g. pid_field: pid")
            }
            let used = spec.placeholdersUsed
            if let unknown = used.first(where: { !CommandSpec.placeholders.contains($0) }) {
                throw reader.error(at: command, "unknown placeholder {\(unknown)} in \(context)",
                                   "use \(CommandSpec.placeholders.map { "{\($0)}" }.joined(separator: ", "))")
            }
            if !used.contains("port") {
                throw reader.error(at: command, "the command never gets {port}",
                                   "statelab picks a free port: pass it, e.g. --port {port}, or in env, e.g. PORT: \"{port}\"")
            }
            let requests = try requests(fields, context: context, answerFields: spec.answerFields)
            // Ready once the read answers, unless the scenario names a ready path.
            if !readyPathGiven, requests != .counterAPI {
                spec.readyPath = requests.read.flatMap { $0.method == "GET" ? $0.path : nil } ?? spec.readyPath
            }
            return .command(spec, sharing: sharing, requests: requests)
        }
    }

    /// A path in a scenario is relative to the scenario file's directory. A
    /// built-in scenario has no file: its paths are taken as if it were
    /// Scenarios/NAME.yaml under the current directory (a checkout's top).
    static func resolve(_ path: String, relativeTo scenario: String) -> String {
        if path.hasPrefix("/") { return path }
        var directory = (scenario as NSString).deletingLastPathComponent
        if !FileManager.default.fileExists(atPath: scenario) { directory = "Scenarios" }
        if !directory.hasPrefix("/") { directory = FileManager.default.currentDirectoryPath + "/" + directory }
        // Lexically, so "Scenarios/../examples" needs no Scenarios directory.
        var parts: [Substring] = []
        for part in (directory + "/" + path).split(separator: "/") {
            switch part {
            case ".": continue
            case "..": if !parts.isEmpty { parts.removeLast() }
            default: parts.append(part)
            }
        }
        return "/" + parts.joined(separator: "/")
    }

    /// "use one of a, b, c", with a "did you mean" when the word is a near miss.
    private func oneOf(_ words: [String], nearTo word: String) -> String {
        let list = "use one of \(words.joined(separator: ", "))"
        guard let near = ScenarioError.nearMiss(for: word, among: words) else { return list }
        return "\(list) (did you mean '\(near)'?)"
    }

    /// The scenario's expectations, with the run's own replacing those on the same field.
    private func merge(_ shared: [Expectation], with own: [Expectation]) -> [Expectation] {
        var merged = shared
        for expectation in own {
            if let index = merged.firstIndex(where: { $0.field == expectation.field }) {
                merged[index] = expectation
            } else {
                merged.append(expectation)
            }
        }
        return merged
    }

    private func expectations(_ node: Node, context: String) throws -> [Expectation] {
        guard case .mapping(let mapping) = node else {
            throw reader.error(at: node, "\(context) must be a mapping, got \(NodeReader.describe(node))",
                               "write \(context.split(separator: " ").last!): {lost: 0}")
        }
        return try mapping.map { key, value in
            guard case .scalar(let keyScalar) = key else {
                throw reader.error(at: key, "a field in \(context) is \(NodeReader.describe(key))",
                                   "fields are words like lost or divergent")
            }
            let field = keyScalar.string
            guard let kind = Expectation.kind(of: field) else {
                let fix = ScenarioError.nearMiss(for: field, among: Expectation.knownFields).map { "did you mean '\($0)'?" }
                    ?? "use one of \(Expectation.knownFields.joined(separator: ", "))"
                throw reader.error(at: key, "unknown expectation field \(ScenarioError.quote(field)) in \(context)", fix)
            }
            return Expectation(field: field, comparison: try comparison(value, field: field, kind: kind))
        }
    }

    private func comparison(_ node: Node, field: String, kind: Expectation.FieldKind) throws -> Comparison {
        switch kind {
        case .bool:
            let scalar = try reader.scalar(node, field, expecting: "true or false", example: "\(field): true")
            guard node.tag.description == Tag.Name.bool.rawValue, let value = node.bool else {
                throw reader.error(at: node, "\(field) takes true or false, got \(ScenarioError.quote(scalar.string))",
                                   "write \(field): true or \(field): false")
            }
            return .isBool(value)
        case .verdict:
            let word = try reader.text(node, field, example: "\(field): ok")
            guard Verdict(rawValue: word) != nil else {
                throw reader.error(at: node, "unknown verdict \(ScenarioError.quote(word))",
                                   oneOf(Verdict.allCases.map(\.rawValue), nearTo: word))
            }
            return .isText(word)
        case .number:
            let scalar = try reader.scalar(node, field, expecting: "a number or a comparison", example: "\(field): \">0\"")
            let tag = node.tag.description
            if tag == Tag.Name.int.rawValue || tag == Tag.Name.float.rawValue, let value = node.float {
                return .equal(value)
            }
            guard tag == Tag.Name.str.rawValue, let comparison = Comparison.parse(scalar.string) else {
                throw reader.error(at: node, "bad comparison \(ScenarioError.quote(scalar.string)) for \(field)",
                                   "write a number or a quoted comparison: \">0\", \">=10\", \"<5\", \"<=5\", \"!=0\", \"==3\" or \"10..20\"")
            }
            return comparison
        }
    }
}
