import Foundation

/// The scenarios built into the binary, so `statelab compare` runs with no
/// file at hand: every Scenarios/*.yaml, copied into BuiltInScenarios.swift by
/// Scenarios/embed.sh (a test keeps the copies identical to the files).
///
/// A built-in scenario is parsed with "(built-in NAME)" as its path, so it has
/// no directory of its own: anything it names relative (a target's `cwd:`) is
/// read as if it were Scenarios/NAME.yaml under the current directory.
public enum BuiltInScenario {
    /// Every built-in scenario's name, in name order.
    public static var names: [String] { embedded.map(\.name) }

    /// The text of the built-in scenario `name`, or nil.
    public static func yaml(named name: String) -> String? {
        embedded.first { $0.name == name }?.yaml
    }

    /// What `statelab compare` runs without --scenario.
    public static var quickstart: String { yaml(named: "quickstart") ?? "" }

    public static func path(of name: String) -> String { "(built-in \(name))" }

    /// The built-in scenario `name`, parsed and checked.
    public static func load(named name: String) throws -> Scenario {
        guard let yaml = yaml(named: name) else {
            throw ScenarioError(file: name, problem: "no built-in scenario of that name",
                                fix: "use one of \(names.joined(separator: ", ")), or a path to a .yaml file")
        }
        return try ScenarioLoader.parse(yaml: yaml, path: path(of: name))
    }

    /// What `--scenario ARGUMENT` names: a file when one is there (or the
    /// argument looks like a path: it ends in .yaml or has a slash), else a
    /// built-in scenario of that name.
    public static func resolve(_ argument: String) throws -> Scenario {
        let looksLikePath = argument.hasSuffix(".yaml") || argument.hasSuffix(".yml") || argument.contains("/")
        if looksLikePath || FileManager.default.fileExists(atPath: argument) || yaml(named: argument) == nil {
            do {
                return try ScenarioLoader.load(path: argument)
            } catch let error as ScenarioError where !looksLikePath && error.line == nil {
                // Neither a readable file nor a built-in name: say both.
                throw ScenarioError(file: argument, problem: error.problem,
                                    fix: "\(error.fix), or name a built-in scenario: \(names.joined(separator: ", ")) (statelab compare --list-scenarios)")
            }
        }
        return try load(named: argument)
    }
}
