/// One RESP2 value, as redis-server sends it.
///
/// Bulk strings are bytes, not `String`: Redis values are binary-safe, and a
/// counter client should not fail on a value it only has to report.
public enum RESPValue: Sendable, Equatable {
    /// `+OK\r\n`
    case simpleString(String)
    /// `-ERR message\r\n`
    case error(String)
    /// `:42\r\n`
    case integer(Int)
    /// `$3\r\nfoo\r\n`; nil is the null bulk string `$-1\r\n` (GET on a missing key).
    case bulkString([UInt8]?)
    /// `*2\r\n...`; nil is the null array `*-1\r\n` (EXEC aborted by WATCH).
    case array([RESPValue]?)

    /// A bulk string from text.
    public static func bulk(_ text: String) -> RESPValue { .bulkString(Array(text.utf8)) }

    /// The text of a simple or bulk string (bulk decoded as UTF-8, lossily).
    public var text: String? {
        switch self {
        case .simpleString(let s): return s
        case .bulkString(let bytes?): return String(decoding: bytes, as: UTF8.self)
        default: return nil
        }
    }

    /// The value in RESP2 wire form.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        RESPEncoder.append(self, to: &out)
        return out
    }
}

extension RESPValue: CustomStringConvertible {
    /// A short human form for error messages (`"OK"`, `(error) ERR ...`, `(nil)`).
    public var description: String {
        switch self {
        case .simpleString(let s): return s
        case .error(let s): return "(error) \(s)"
        case .integer(let n): return "(integer) \(n)"
        case .bulkString(nil): return "(nil)"
        case .bulkString(let bytes?):
            let text = String(decoding: bytes.prefix(64), as: UTF8.self)
            return bytes.count > 64 ? "\"\(text)...\"" : "\"\(text)\""
        case .array(nil): return "(nil array)"
        case .array(let items?): return "[" + items.map(\.description).joined(separator: ", ") + "]"
        }
    }
}

/// Writes RESP2. Commands always go out as an array of bulk strings, the
/// form redis-server accepts for every command and every argument byte.
public enum RESPEncoder {
    /// `["SET", "k", "1"]` -> `*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n1\r\n`
    public static func command(_ arguments: [String]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(16 + arguments.reduce(0) { $0 + $1.utf8.count + 16 })
        appendHeader(UInt8(ascii: "*"), arguments.count, to: &out)
        for argument in arguments {
            appendHeader(UInt8(ascii: "$"), argument.utf8.count, to: &out)
            out.append(contentsOf: argument.utf8)
            out.append(contentsOf: crlf)
        }
        return out
    }

    static func append(_ value: RESPValue, to out: inout [UInt8]) {
        switch value {
        case .simpleString(let s):
            out.append(UInt8(ascii: "+")); out.append(contentsOf: s.utf8); out.append(contentsOf: crlf)
        case .error(let s):
            out.append(UInt8(ascii: "-")); out.append(contentsOf: s.utf8); out.append(contentsOf: crlf)
        case .integer(let n):
            appendHeader(UInt8(ascii: ":"), n, to: &out)
        case .bulkString(nil):
            appendHeader(UInt8(ascii: "$"), -1, to: &out)
        case .bulkString(let bytes?):
            appendHeader(UInt8(ascii: "$"), bytes.count, to: &out)
            out.append(contentsOf: bytes); out.append(contentsOf: crlf)
        case .array(nil):
            appendHeader(UInt8(ascii: "*"), -1, to: &out)
        case .array(let items?):
            appendHeader(UInt8(ascii: "*"), items.count, to: &out)
            for item in items { append(item, to: &out) }
        }
    }

    private static let crlf: [UInt8] = [13, 10]

    private static func appendHeader(_ type: UInt8, _ number: Int, to out: inout [UInt8]) {
        out.append(type)
        out.append(contentsOf: String(number).utf8)
        out.append(contentsOf: crlf)
    }
}
