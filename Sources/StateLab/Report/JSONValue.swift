/// A JSON document built by hand, so keys come out in the order the schema
/// lists them (JSONEncoder's sortedKeys would put "schema" after "runs").
enum JSONValue: Equatable {
    case null
    case bool(Bool)
    case int(Int)
    /// Written with at most three decimals; NaN and infinity become null.
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        lhs.text(indent: nil) == rhs.text(indent: nil)
    }

    static func optional(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }
    static func optional(_ value: Double?) -> JSONValue { value.map(JSONValue.double) ?? .null }

    /// Pretty-printed with two-space indents, or on one line when `indent` is nil.
    func text(indent: String? = "") -> String {
        var output = ""
        write(to: &output, indent: indent)
        return output
    }

    private func write(to output: inout String, indent: String?) {
        switch self {
        case .null: output += "null"
        case .bool(let flag): output += flag ? "true" : "false"
        case .int(let number): output += String(number)
        case .double(let number): output += ReportNumbers.plain(number) ?? "null"
        case .string(let string): JSONValue.quote(string, into: &output)
        case .array(let items):
            writeContainer(open: "[", close: "]", count: items.count, to: &output, indent: indent) { index, inner, output in
                items[index].write(to: &output, indent: inner)
            }
        case .object(let members):
            writeContainer(open: "{", close: "}", count: members.count, to: &output, indent: indent) { index, inner, output in
                JSONValue.quote(members[index].0, into: &output)
                output += indent == nil ? ":" : ": "
                members[index].1.write(to: &output, indent: inner)
            }
        }
    }

    private func writeContainer(
        open: String, close: String, count: Int, to output: inout String, indent: String?,
        item: (Int, String?, inout String) -> Void
    ) {
        output += open
        guard count > 0 else { output += close; return }
        // A short list of plain values (pids) reads better on one line.
        let inner = isScalarArray ? nil : indent.map { $0 + "  " }
        for index in 0..<count {
            if index > 0 { output += inner == nil && indent != nil ? ", " : "," }
            if let inner { output += "\n" + inner }
            item(index, inner, &output)
        }
        if let indent, inner != nil { output += "\n" + indent }
        output += close
    }

    private var isScalarArray: Bool {
        guard case .array(let items) = self else { return false }
        return items.allSatisfy { item in
            switch item {
            case .array, .object: return false
            default: return true
            }
        }
    }

    private static func quote(_ string: String, into output: inout String) {
        output += JSONText.quoted(string)
    }
}
