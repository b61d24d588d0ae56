import Yams

/// Turns a composed YAML tree into a Scenario, checking every key and value.
/// The schema lives in Scenarios/README.md; the limits below are its ranges.
struct ScenarioDecoder {
    let reader: NodeReader
    let path: String

    static let topKeys = ["name", "description", "app", "load", "runs", "expect"]
    static let appKeys = ["workers", "race_window_us", "threads", "listen"]
    static let loadKeys = ["increments", "duration", "concurrency", "rate", "reset_after", "timeout"]
    static let runKeys = ["strategy", "mode", "app", "expect"]

    static let workersRange = 1...64
    static let raceWindowRange = 0...1_000_000
    static let threadsRange = 1...64
    static let incrementsRange = 1...100_000_000
    static let concurrencyRange = 1...4096
    static let rateRange = 0.0...1_000_000.0
    static let longestRun = Duration.seconds(3600)
    static let longestTimeout = Duration.seconds(600)

    func scenario(from root: Node) throws -> Scenario {
        let top = try reader.mapping(root, "the scenario", allowed: Self.topKeys,
                                     example: "name: ..., load: ..., runs: ... at the top level")
        let name = try reader.text(try top.require("name", example: "name: my-scenario"), "name", example: "name: my-scenario")
        let description = try top["description"].map { try reader.text($0, "description", example: "description: \"...\"") }
        let app = try top["app"].map { try appSettings($0, base: .defaults, context: "app") } ?? .defaults
        let load = try loadSettings(try top.require("load", example: "load: {increments: 2000, concurrency: 32}"))
        let expectations = try top["expect"].map { try self.expectations($0, context: "expect") } ?? []
        let runs = try self.runs(try top.require("runs", example: "runs: [{strategy: shm, mode: atomic}]"),
                                 app: app, expectations: expectations)
        return Scenario(name: name, description: description, sourcePath: path, app: app, load: load,
                        expectations: expectations, runs: runs)
    }

    private func appSettings(_ node: Node, base: AppSettings, context: String) throws -> AppSettings {
        let fields = try reader.mapping(node, context, allowed: Self.appKeys, example: "\(context): {workers: 4}")
        var app = base
        if let node = fields["workers"] { app.workers = try reader.integer(node, "workers", in: Self.workersRange) }
        if let node = fields["race_window_us"] {
            app.raceWindowMicros = try reader.integer(node, "race_window_us", in: Self.raceWindowRange)
        }
        if let node = fields["threads"] { app.threads = try reader.integer(node, "threads", in: Self.threadsRange) }
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
            limit = .increments(try reader.integer(increments, "increments", in: Self.incrementsRange))
        case let (nil, duration?):
            limit = .duration(try reader.duration(duration, "duration", max: Self.longestRun))
        }
        var load = LoadSettings(limit: limit)
        if let node = fields["concurrency"] {
            load.concurrency = try reader.integer(node, "concurrency", in: Self.concurrencyRange)
        }
        if let node = fields["rate"] {
            let rate = try reader.number(node, "rate", in: Self.rateRange)
            load.rate = rate > 0 ? rate : nil
        }
        if let node = fields["reset_after"] {
            let resetAfter = try reader.integer(node, "reset_after", in: Self.incrementsRange)
            if case .increments(let total) = limit, resetAfter >= total {
                throw reader.error(at: node, "reset_after \(resetAfter) is not below increments \(total)",
                                   "reset mid-run: use a number from 1 to \(total - 1)")
            }
            load.resetAfter = resetAfter
        }
        if let node = fields["timeout"] {
            load.timeout = try reader.duration(node, "timeout", max: Self.longestTimeout)
        }
        return load
    }

    private func runs(_ node: Node, app: AppSettings, expectations: [Expectation]) throws -> [RunSpec] {
        let example = "runs: [{strategy: shm, mode: atomic}]"
        guard case .sequence(let items) = node else {
            if NodeReader.isNull(node) { throw reader.error(at: node, "runs has no value", "write \(example)") }
            throw reader.error(at: node, "runs must be a list, got \(NodeReader.describe(node))", "write \(example)")
        }
        guard !items.isEmpty else {
            throw reader.error(at: node, "runs is empty", "add at least one run, e.g. - {strategy: shm, mode: atomic}")
        }
        return try items.enumerated().map { index, item in
            try run(item, number: index + 1, app: app, expectations: expectations)
        }
    }

    private func run(_ node: Node, number: Int, app: AppSettings, expectations: [Expectation]) throws -> RunSpec {
        let context = "run \(number)"
        let fields = try reader.mapping(node, context, allowed: Self.runKeys, example: "- {strategy: shm, mode: atomic}")
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
                throw reader.error(at: modeNode, "strategy global supports only mode naive, not \(modeName)",
                                   "each worker has its own variable, so there is nothing to lock or share; use mode: naive")
            }
            mode = parsed
        } else if strategy == .global {
            mode = .naive
        } else {
            throw reader.error(at: node, "missing required key 'mode' in \(context)", "add mode: naive, locked or atomic")
        }
        let runApp = try fields["app"].map { try appSettings($0, base: app, context: "\(context) app") } ?? app
        let own = try fields["expect"].map { try self.expectations($0, context: "\(context) expect") } ?? []
        return RunSpec(strategy: strategy, mode: mode, app: runApp, expectations: merge(expectations, with: own),
                       line: node.mark?.line ?? 1)
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
