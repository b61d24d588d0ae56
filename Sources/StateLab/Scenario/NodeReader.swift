import Foundation
import Yams

/// Typed access to composed YAML nodes that turns every surprise into a
/// ScenarioError pointing at the node's line and column.
struct NodeReader {
    let file: String

    func error(at node: Node?, _ problem: String, _ fix: String) -> ScenarioError {
        error(at: node?.mark, problem, fix)
    }

    func error(at mark: Mark?, _ problem: String, _ fix: String) -> ScenarioError {
        ScenarioError(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1, problem: problem, fix: fix)
    }

    /// What a node is, for "got ..." in messages.
    static func describe(_ node: Node) -> String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        case .scalar(let scalar):
            return isNull(node) ? "nothing" : ScenarioError.quote(scalar.string)
        }
    }

    static func tagName(_ node: Node) -> String { node.tag.description }

    static func isNull(_ node: Node) -> Bool { tagName(node) == Tag.Name.null.rawValue }

    private static let coreScalarTags: Set<String> = [
        Tag.Name.str, .int, .float, .bool, .null, .timestamp,
    ].reduce(into: []) { $0.insert($1.rawValue) }

    /// The node as a scalar of a core type, or an error saying what `name` expects.
    func scalar(_ node: Node, _ name: String, expecting: String, example: String) throws -> Node.Scalar {
        if NodeReader.isNull(node) {
            throw error(at: node, "\(name) has no value", "write \(example)")
        }
        guard case .scalar(let scalar) = node else {
            throw error(at: node, "\(name) must be \(expecting), got \(NodeReader.describe(node))", "write \(example)")
        }
        let tag = NodeReader.tagName(node)
        guard NodeReader.coreScalarTags.contains(tag) else {
            // `lost: !=0` parses as the YAML tag "!=0" on an empty value.
            throw error(at: node, "\(name) has the YAML tag '\(tag)'", "quote the value, e.g. \"\(tag)\"")
        }
        return scalar
    }

    func text(_ node: Node, _ name: String, example: String) throws -> String {
        try scalar(node, name, expecting: "text", example: example).string
    }

    func integer(_ node: Node, _ name: String, in range: ClosedRange<Int>) throws -> Int {
        let example = "\(name): \(range.lowerBound)"
        let scalar = try scalar(node, name, expecting: "a whole number", example: example)
        guard NodeReader.tagName(node) == Tag.Name.int.rawValue, let value = node.int else {
            throw error(at: node, "\(name) must be a whole number, got \(ScenarioError.quote(scalar.string))",
                        "write a number from \(range.lowerBound) to \(range.upperBound)")
        }
        guard range.contains(value) else {
            throw error(at: node, "\(name) \(value) is out of range",
                        "use a number from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    func number(_ node: Node, _ name: String, in range: ClosedRange<Double>) throws -> Double {
        let bounds = "\(Comparison.format(range.lowerBound)) to \(Comparison.format(range.upperBound))"
        let scalar = try scalar(node, name, expecting: "a number", example: "\(name): \(Comparison.format(range.lowerBound))")
        let tag = NodeReader.tagName(node)
        guard tag == Tag.Name.int.rawValue || tag == Tag.Name.float.rawValue, let value = node.float, value.isFinite else {
            throw error(at: node, "\(name) must be a number, got \(ScenarioError.quote(scalar.string))",
                        "write a number from \(bounds)")
        }
        guard range.contains(value) else {
            throw error(at: node, "\(name) \(Comparison.format(value)) is out of range", "use a number from \(bounds)")
        }
        return value
    }

    /// "500ms", "5s", "1m", or a plain number of seconds.
    func duration(_ node: Node, _ name: String, in range: ClosedRange<Double>) throws -> Duration {
        let scalar = try scalar(node, name, expecting: "a duration", example: "\(name): 5s")
        let tag = NodeReader.tagName(node)
        let parsed: Duration?
        if tag == Tag.Name.int.rawValue || tag == Tag.Name.float.rawValue {
            parsed = node.float.flatMap { DurationText.seconds($0) }
        } else {
            parsed = DurationText.parse(scalar.string)
        }
        guard let parsed else {
            throw error(at: node, "bad duration \(ScenarioError.quote(scalar.string)) for \(name)",
                        "write it like 500ms, 5s, 1m or a number of seconds")
        }
        guard range.contains(parsed.seconds), parsed > .zero else {
            let lowest = DurationText.seconds(range.lowerBound).map(DurationText.format) ?? "0s"
            let highest = DurationText.seconds(range.upperBound).map(DurationText.format) ?? "?"
            throw error(at: node, "\(name) \(ScenarioError.quote(scalar.string)) is out of range",
                        range.lowerBound > 0 ? "use a duration from \(lowest) to \(highest)" : "use a duration above 0 and at most \(highest)")
        }
        return parsed
    }

    /// A mapping whose keys are all in `allowed`, or an error naming the stray key.
    func mapping(_ node: Node, _ name: String, allowed: [String], example: String) throws -> Fields {
        guard case .mapping(let mapping) = node else {
            if NodeReader.isNull(node) { throw error(at: node, "\(name) has no value", "write \(example)") }
            throw error(at: node, "\(name) must be a mapping, got \(NodeReader.describe(node))", "write \(example)")
        }
        var entries: [String: (key: Node, value: Node)] = [:]
        for (key, value) in mapping {
            guard case .scalar(let scalar) = key else {
                throw error(at: key, "a key in \(name) is \(NodeReader.describe(key))", "keys are plain words like \(allowed[0])")
            }
            let word = scalar.string
            guard allowed.contains(word) else {
                let fix = ScenarioError.nearMiss(for: word, among: allowed).map { "did you mean '\($0)'?" }
                    ?? "use one of \(allowed.joined(separator: ", "))"
                throw error(at: key, "unknown key \(ScenarioError.quote(word)) in \(name)", fix)
            }
            entries[word] = (key, value)
        }
        return Fields(node: node, name: name, entries: entries, reader: self)
    }

    /// The checked keys of one mapping.
    struct Fields {
        let node: Node
        let name: String
        let entries: [String: (key: Node, value: Node)]
        let reader: NodeReader

        subscript(key: String) -> Node? { entries[key]?.value }

        func key(_ key: String) -> Node? { entries[key]?.key }

        func require(_ key: String, example: String) throws -> Node {
            guard let value = entries[key]?.value else {
                throw reader.error(at: node, "missing required key '\(key)' in \(name)", "add \(example)")
            }
            return value
        }
    }
}
