import Foundation

/// A value a run produced, as expectations see it.
public enum ResultValue: Sendable, Codable, Equatable, CustomStringConvertible {
    case number(Double)
    case bool(Bool)
    case text(String)

    public var description: String {
        switch self {
        case .number(let value): return Comparison.format(value)
        case .bool(let value): return String(value)
        case .text(let value): return value
        }
    }
}

/// How an expectation compares a result field with what the scenario asked for.
public enum Comparison: Sendable, Codable, Equatable {
    case equal(Double)
    case notEqual(Double)
    case greater(Double)
    case greaterOrEqual(Double)
    case less(Double)
    case lessOrEqual(Double)
    /// Inclusive at both ends.
    case within(Double, Double)
    case isBool(Bool)
    case isText(String)

    public func holds(for value: ResultValue) -> Bool {
        switch (self, value) {
        case let (.equal(expected), .number(actual)): return actual == expected
        case let (.notEqual(expected), .number(actual)): return actual != expected
        case let (.greater(expected), .number(actual)): return actual > expected
        case let (.greaterOrEqual(expected), .number(actual)): return actual >= expected
        case let (.less(expected), .number(actual)): return actual < expected
        case let (.lessOrEqual(expected), .number(actual)): return actual <= expected
        case let (.within(low, high), .number(actual)): return low <= actual && actual <= high
        case let (.isBool(expected), .bool(actual)): return actual == expected
        case let (.isText(expected), .text(actual)): return actual == expected
        default: return false
        }
    }

    /// The comparison as it reads after the field name: "> 0", "in 10..20".
    public var text: String {
        switch self {
        case .equal(let value): return "== \(Comparison.format(value))"
        case .notEqual(let value): return "!= \(Comparison.format(value))"
        case .greater(let value): return "> \(Comparison.format(value))"
        case .greaterOrEqual(let value): return ">= \(Comparison.format(value))"
        case .less(let value): return "< \(Comparison.format(value))"
        case .lessOrEqual(let value): return "<= \(Comparison.format(value))"
        case let .within(low, high): return "in \(Comparison.format(low))..\(Comparison.format(high))"
        case .isBool(let value): return "== \(value)"
        case .isText(let value): return "== \(value)"
        }
    }

    /// Whole numbers without a trailing ".0".
    static func format(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }

    /// Parses ">0", ">= 10", "<5", "<=5", "!=0", "==3", "10..20" or a bare number;
    /// nil when the text is none of those.
    public static func parse(_ text: String) -> Comparison? {
        let text = text.trimmingCharacters(in: .whitespaces)
        for (symbol, make) in operators where text.hasPrefix(symbol) {
            guard let value = number(String(text.dropFirst(symbol.count))) else { return nil }
            return make(value)
        }
        if let range = text.range(of: "..") {
            guard let low = number(String(text[..<range.lowerBound])),
                  let high = number(String(text[range.upperBound...])), low <= high else { return nil }
            return .within(low, high)
        }
        return number(text).map(Comparison.equal)
    }

    // Two-character operators first, so ">=" is not read as ">" then "=5".
    private static let operators: [(String, @Sendable (Double) -> Comparison)] = [
        (">=", { .greaterOrEqual($0) }), ("<=", { .lessOrEqual($0) }), ("!=", { .notEqual($0) }),
        ("==", { .equal($0) }), (">", { .greater($0) }), ("<", { .less($0) }),
    ]

    /// A plain decimal number: Double("inf"), "nan" or "0x10" are not accepted.
    private static func number(_ text: String) -> Double? {
        let text = text.trimmingCharacters(in: .whitespaces)
        let body = text.hasPrefix("-") ? text.dropFirst() : Substring(text)
        guard !body.isEmpty, body.first != ".", body.last != ".",
              body.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }),
              body.filter({ $0 == "." }).count <= 1 else { return nil }
        return Double(text)
    }
}

/// What a scenario expects of one result field, e.g. `lost: ">0"`.
public struct Expectation: Sendable, Codable, Equatable {
    public var field: String
    public var comparison: Comparison
    /// How it reads in a report: "lost > 0", "divergent == true", "lost in 10..20".
    public var text: String

    public init(field: String, comparison: Comparison) {
        self.field = field
        self.comparison = comparison
        self.text = "\(field) \(comparison.text)"
    }

    /// False when the field is missing or of another kind.
    public func holds(in fields: [String: ResultValue]) -> Bool {
        fields[field].map(comparison.holds(for:)) ?? false
    }

    /// What kind of value a field holds, which decides the comparisons it takes.
    public enum FieldKind: Sendable {
        case number, bool, verdict
    }

    /// Every field an expectation may name, in report order.
    public static let knownFields: [String] = [
        "acknowledged", "failed", "indeterminate", "final_min", "final_max", "lost", "lost_percent",
        "unexpected", "duplicates", "divergent", "throughput_rps", "p50_ms", "p90_ms", "p99_ms",
        "p999_ms", "max_ms", "verdict", "workers", "retries", "lost_to_restart", "durable", "lock_recoveries",
        "over_limit", "accepted", "refused", "accepting_pids", "oversold",
    ]

    public static func kind(of field: String) -> FieldKind? {
        switch field {
        case "divergent", "durable": return .bool
        case "verdict": return .verdict
        default: return knownFields.contains(field) ? .number : nil
        }
    }
}

/// An expectation checked against one run's fields, for reports.
public struct ExpectationOutcome: Sendable, Equatable {
    public var expectation: Expectation
    public var actual: ResultValue?
    public var holds: Bool

    public init(expectation: Expectation, fields: [String: ResultValue]) {
        self.expectation = expectation
        self.actual = fields[expectation.field]
        self.holds = expectation.holds(in: fields)
    }

    /// "lost > 0: got 0 (failed)".
    public var summary: String {
        "\(expectation.text): got \(actual?.description ?? "nothing") (\(holds ? "holds" : "failed"))"
    }
}
