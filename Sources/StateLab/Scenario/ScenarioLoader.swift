import Foundation
import Yams

/// Reads a scenario file and validates all of it before anything runs, so a
/// typo costs one line of error, not a half-finished benchmark.
public enum ScenarioLoader {
    public static func load(path: String) throws -> Scenario {
        try parse(yaml: readText(path), path: path)
    }

    public static func parse(yaml: String, path: String) throws -> Scenario {
        guard yaml.utf8.count <= InputLimits.scenarioBytes else { throw tooLarge(path) }
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch {
            throw yamlProblem(error, file: path)
        }
        guard let root else {
            throw ScenarioError(file: path, line: 1, column: 1, problem: "the file is empty",
                                fix: "a scenario needs at least name, load and runs (see Scenarios/README.md)")
        }
        return try ScenarioDecoder(reader: NodeReader(file: path), path: path).scenario(from: root)
    }

    /// The file as UTF-8 text, or "FILE: cannot read: reason".
    private static func readText(_ path: String) throws -> String {
        func unreadable(_ reason: String, _ fix: String) -> ScenarioError {
            ScenarioError(file: path, problem: "cannot read: \(reason)", fix: fix)
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw unreadable("no such file", "check the path")
        }
        if isDirectory.boolValue { throw unreadable("it is a directory", "name a .yaml file") }
        // Only a regular file is read, and only when small: /dev/zero or a FIFO would never end.
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        guard attributes?[.type] as? FileAttributeType == .typeRegular else {
            throw unreadable("not a regular file", "name a .yaml file")
        }
        if let size = attributes?[.size] as? Int, size > InputLimits.scenarioBytes { throw tooLarge(path) }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw unreadable("permission denied or I/O error", "check the file's permissions")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw unreadable("not UTF-8 text", "save the file as UTF-8")
        }
        return text
    }

    private static func tooLarge(_ path: String) -> ScenarioError {
        ScenarioError(file: path, problem: "the file is over \(InputLimits.scenarioBytes >> 10) KiB",
                      fix: "a scenario is a few KiB of YAML; split a larger one into several files")
    }

    /// Yams' errors, moved onto the one-line form with their own line and column.
    private static func yamlProblem(_ error: Error, file: String) -> ScenarioError {
        let fix = "fix the YAML there: indent with spaces, close brackets and quotes, quote values starting with > ! & * or %"
        guard let yamlError = error as? YamlError else {
            return ScenarioError(file: file, line: 1, column: 1, problem: "not YAML: \(error)", fix: fix)
        }
        func syntax(_ context: YamlError.Context?, _ problem: String, _ mark: Mark) -> ScenarioError {
            var text = "YAML syntax error: \(problem)"
            if let context { text += " (\(context.text) at \(context.mark))" }
            return ScenarioError(file: file, line: mark.line, column: mark.column, problem: text, fix: fix)
        }
        switch yamlError {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _),
             let .composer(context, problem, mark, _):
            return syntax(context, problem, mark)
        case let .reader(problem, offset, _, yaml):
            let (line, column) = offset.map { position(of: $0, in: yaml) } ?? (1, 1)
            return ScenarioError(file: file, line: line, column: column, problem: "not YAML text: \(problem)",
                                 fix: "remove control characters and save the file as UTF-8")
        case let .duplicatedKeysInMapping(duplicates, context):
            let keys = duplicates.map { "'\($0)'" }.joined(separator: ", ")
            return ScenarioError(file: file, line: context.mark.line, column: context.mark.column,
                                 problem: "duplicate key \(keys)", fix: "keep only one of them")
        default:
            return ScenarioError(file: file, line: 1, column: 1, problem: "not YAML: \(yamlError)", fix: fix)
        }
    }

    /// 1-based line and column of a character offset.
    private static func position(of offset: Int, in text: String) -> (Int, Int) {
        var line = 1, column = 1
        for character in text.prefix(offset) {
            if character.isNewline { line += 1; column = 1 } else { column += 1 }
        }
        return (line, column)
    }
}
