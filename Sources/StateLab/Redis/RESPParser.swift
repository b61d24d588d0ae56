/// What parsing the start of a byte buffer found.
public enum RESPParseResult: Sendable, Equatable {
    /// The bytes so far are a valid prefix of a value: read more and try again.
    case incomplete
    /// A whole value, taking the first `consumed` bytes.
    case complete(RESPValue, consumed: Int)
    /// The bytes can never become a valid value; the stream is unusable.
    case invalid(String)
}

/// An incremental RESP2 parser. It never traps on bad input and checks every
/// declared length against `Limits` before waiting for (or allocating) it, so
/// a hostile or corrupt `$9999999999\r\n` is an error, not a 9 GB buffer.
public struct RESPParser: Sendable {
    public struct Limits: Sendable {
        /// Largest bulk string accepted (Redis's own default maximum is 512 MB).
        public var maxBulkLength: Int
        /// Most elements in one array.
        public var maxArrayCount: Int
        /// Deepest array nesting.
        public var maxDepth: Int
        /// Longest `+`, `-`, `:`, `$` or `*` line before its CRLF.
        public var maxLineLength: Int

        public init(maxBulkLength: Int = 64 << 20, maxArrayCount: Int = 1 << 20, maxDepth: Int = 32, maxLineLength: Int = 64 << 10) {
            self.maxBulkLength = maxBulkLength
            self.maxArrayCount = maxArrayCount
            self.maxDepth = maxDepth
            self.maxLineLength = maxLineLength
        }
    }

    public var limits: Limits

    public init(limits: Limits = Limits()) { self.limits = limits }

    /// Parses one value from the start of `bytes`.
    public func parse(_ bytes: [UInt8]) -> RESPParseResult {
        parse(bytes[...])
    }

    /// Parses one value from the start of `bytes` (any slice; indices are its own).
    public func parse(_ bytes: ArraySlice<UInt8>) -> RESPParseResult {
        var index = bytes.startIndex
        switch value(in: bytes, at: &index, depth: 0) {
        case .value(let v): return .complete(v, consumed: index - bytes.startIndex)
        case .needMore: return .incomplete
        case .bad(let why): return .invalid(why)
        }
    }

    // MARK: - Recursive descent over one buffer

    private enum Step<T> {
        case value(T)
        case needMore
        case bad(String)
    }

    private static let cr = UInt8(ascii: "\r")
    private static let lf = UInt8(ascii: "\n")

    private func value(in bytes: ArraySlice<UInt8>, at index: inout Int, depth: Int) -> Step<RESPValue> {
        guard index < bytes.endIndex else { return .needMore }
        let type = bytes[index]
        var cursor = index + 1
        let line: ArraySlice<UInt8>
        switch self.line(in: bytes, at: &cursor) {
        case .value(let l): line = l
        case .needMore: return .needMore
        case .bad(let why): return .bad(why)
        }

        switch type {
        case UInt8(ascii: "+"):
            index = cursor
            return .value(.simpleString(String(decoding: line, as: UTF8.self)))
        case UInt8(ascii: "-"):
            index = cursor
            return .value(.error(String(decoding: line, as: UTF8.self)))
        case UInt8(ascii: ":"):
            guard let n = Self.integer(line) else { return .bad("bad integer \(Self.show(line))") }
            index = cursor
            return .value(.integer(n))
        case UInt8(ascii: "$"):
            guard let length = Self.integer(line) else { return .bad("bad bulk length \(Self.show(line))") }
            if length == -1 { index = cursor; return .value(.bulkString(nil)) }
            guard length >= 0 else { return .bad("negative bulk length \(length)") }
            guard length <= limits.maxBulkLength else {
                return .bad("bulk length \(length) exceeds the limit of \(limits.maxBulkLength) bytes")
            }
            // Compare against what is left, never compute cursor + length first: both are bounded now.
            guard bytes.endIndex - cursor >= length + 2 else { return .needMore }
            let end = cursor + length
            guard bytes[end] == Self.cr, bytes[end + 1] == Self.lf else {
                return .bad("bulk string of \(length) bytes not followed by CRLF")
            }
            index = end + 2
            return .value(.bulkString(Array(bytes[cursor..<end])))
        case UInt8(ascii: "*"):
            guard let count = Self.integer(line) else { return .bad("bad array length \(Self.show(line))") }
            if count == -1 { index = cursor; return .value(.array(nil)) }
            guard count >= 0 else { return .bad("negative array length \(count)") }
            guard count <= limits.maxArrayCount else {
                return .bad("array length \(count) exceeds the limit of \(limits.maxArrayCount) elements")
            }
            guard depth < limits.maxDepth else { return .bad("arrays nested deeper than \(limits.maxDepth)") }
            // Reserve for a bounded count only: the declared count is not trusted yet.
            var items: [RESPValue] = []
            items.reserveCapacity(min(count, 1024))
            for _ in 0..<count {
                switch value(in: bytes, at: &cursor, depth: depth + 1) {
                case .value(let item): items.append(item)
                case .needMore: return .needMore
                case .bad(let why): return .bad(why)
                }
            }
            index = cursor
            return .value(.array(items))
        default:
            return .bad("unknown type byte \(Self.show(bytes[index...].prefix(1)))")
        }
    }

    /// The bytes up to the next CRLF; moves `cursor` past it.
    private func line(in bytes: ArraySlice<UInt8>, at cursor: inout Int) -> Step<ArraySlice<UInt8>> {
        let searchEnd = min(bytes.endIndex, cursor + limits.maxLineLength + 1)
        var i = cursor
        while i < searchEnd {
            let byte = bytes[i]
            if byte == Self.cr {
                guard i + 1 < bytes.endIndex else { return .needMore }
                guard bytes[i + 1] == Self.lf else { return .bad("CR not followed by LF") }
                let line = bytes[cursor..<i]
                cursor = i + 2
                return .value(line)
            }
            if byte == Self.lf { return .bad("LF without CR") }
            i += 1
        }
        if searchEnd - cursor > limits.maxLineLength { return .bad("line longer than \(limits.maxLineLength) bytes") }
        return .needMore
    }

    /// A decimal Int with an optional leading '-'; nil on anything else or on overflow.
    static func integer(_ digits: ArraySlice<UInt8>) -> Int? {
        var rest = digits[...]
        var negative = false
        if rest.first == UInt8(ascii: "-") { negative = true; rest = rest.dropFirst() }
        guard !rest.isEmpty, rest.count <= 20 else { return nil }
        var value = 0
        for byte in rest {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let digit = Int(byte - UInt8(ascii: "0"))
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (next, o2) = negative ? times10.subtractingReportingOverflow(digit) : times10.addingReportingOverflow(digit)
            guard !o1, !o2 else { return nil }
            value = next
        }
        return value
    }

    private static func show(_ bytes: ArraySlice<UInt8>) -> String {
        let text = String(decoding: bytes.prefix(32), as: UTF8.self)
        return "\"" + text.unicodeScalars.map { $0.isASCII && $0.value >= 32 ? String($0) : "\\x" + String($0.value, radix: 16) }.joined() + "\""
    }
}

/// Accumulates bytes from a socket and hands out whole values.
public struct RESPReader: Sendable {
    private var buffer: [UInt8] = []
    private var start = 0
    public let parser: RESPParser

    public init(parser: RESPParser = RESPParser()) { self.parser = parser }

    /// Bytes received but not yet returned as values.
    public var bufferedCount: Int { buffer.count - start }

    public mutating func append<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        if start > 0 && start >= buffer.count / 2 {
            // Drop consumed bytes once they are at least half the buffer: amortised O(1).
            buffer.removeFirst(start)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next whole value, or nil when more bytes are needed.
    /// Throws StoreError on a protocol error; the stream cannot be resynchronised after that.
    public mutating func next() throws -> RESPValue? {
        switch parser.parse(buffer[start...]) {
        case .incomplete:
            return nil
        case .complete(let value, let consumed):
            start += consumed
            if start == buffer.count { buffer.removeAll(keepingCapacity: true); start = 0 }
            return value
        case .invalid(let why):
            throw StoreError("redis protocol error: \(why)")
        }
    }
}
