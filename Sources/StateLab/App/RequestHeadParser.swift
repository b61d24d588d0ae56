import NIOCore
import NIOHTTP1
#if canImport(Glibc)
import Glibc
#endif

/// The parts of a request head a worker acts on. Everything else in the head
/// is checked for syntax and dropped.
struct RequestHead: Equatable, Sendable {
    enum Method: Equatable, Sendable {
        case get, post, other(String)

        var name: String {
            switch self {
            case .get: "GET"
            case .post: "POST"
            case .other(let name): name
            }
        }
    }

    enum Route: Equatable, Sendable {
        case increment, report, reset
        /// Any other path, as sent (without the query).
        case other(String)
    }

    var method: Method
    var route: Route
    /// HTTP/1.1 keeps the connection unless `Connection: close`; 1.0 closes it unless `keep-alive`.
    var keepAlive: Bool
    /// How the body is framed: none, a length (saturated at Int.max), or chunks.
    var body: BodyFraming
    /// `Expect: 100-continue`: the client waits for a 100 before it sends the body.
    var expectsContinue: Bool

    enum BodyFraming: Equatable, Sendable {
        case none
        case length(Int)
        case chunked
    }
}

/// Why a head was refused: the status and the reason for the JSON error.
struct RequestHeadError: Error, Equatable {
    var status: HTTPResponseStatus
    var reason: String

    static func malformed(_ reason: String) -> RequestHeadError {
        RequestHeadError(status: .badRequest, reason: "malformed HTTP request: \(reason)")
    }
}

/// Parses an HTTP/1.x request head from raw bytes in one pass, without
/// building a header table: the worker only needs the method, the path and
/// four headers. Strict where request smuggling lives (Content-Length and
/// Transfer-Encoding), lenient where common clients differ (bare LF line ends,
/// empty lines before the request line).
enum RequestHeadParser {
    /// A head longer than this gets a 431: the API's own heads are about 100 bytes.
    static let maxHeadBytes = 32 << 10

    enum Outcome: Equatable {
        /// No complete head yet (and not over the limit).
        case needMore
        /// A head, and how many bytes it took (including the empty line that ends it).
        case head(RequestHead, consumed: Int)
    }

    /// How far a head that is still arriving has been looked at, so each byte
    /// is looked at once however the head is split (`worthParsing`).
    struct Scan {
        /// Bytes looked at, from the start of the head's bytes.
        var offset = 0
        /// Where the request line starts, once past any empty lines before it.
        var lineStart: Int?
        var requestLineDone = false
    }

    /// True once `parse` can say more than "need more": the bytes hold an
    /// empty line that may end the head, a request line not yet checked, or
    /// more than the limit. Only the bytes after `scan.offset` are looked at,
    /// so a head sent one byte at a time costs about what it costs in one
    /// piece, instead of a full parse per byte. It may say yes too soon
    /// (`parse` then says needMore); it never misses an end `parse` would find.
    /// The price: a bad header line is refused when the head ends (or times
    /// out, or passes the size limit), not as soon as the line arrives.
    static func worthParsing(_ bytes: UnsafeRawBufferPointer, scan: inout Scan) -> Bool {
        let count = bytes.count
        if count > maxHeadBytes { return true }
        guard let base = bytes.baseAddress else { return false }
        while scan.offset < count {
            guard let lineStart = scan.lineStart else {
                // Empty lines before the request line are skipped, as `parse` does.
                if bytes[scan.offset] != cr && bytes[scan.offset] != lf { scan.lineStart = scan.offset } else { scan.offset += 1 }
                continue
            }
            guard let found = memchr(base + scan.offset, Int32(lf), count - scan.offset) else {
                scan.offset = count
                return false
            }
            let end = base.distance(to: UnsafeRawPointer(found))
            let length = end - lineStart
            scan.offset = end + 1
            scan.lineStart = end + 1
            if length == 0 || (length == 1 && bytes[lineStart] == cr) { return true }
            if !scan.requestLineDone {
                scan.requestLineDone = true
                return true  // a bad request line is refused as soon as it is whole
            }
        }
        return false
    }

    static func parse(_ buffer: ByteBuffer) throws(RequestHeadError) -> Outcome {
        let result = buffer.withUnsafeReadableBytes { bytes in parse(bytes) }
        return try result.get()
    }

    static func parse(_ bytes: UnsafeRawBufferPointer) -> Result<Outcome, RequestHeadError> {
        let count = bytes.count
        var position = 0
        // Empty lines before the request line are ignored (RFC 9112, 2.2).
        while position < count, bytes[position] == cr || bytes[position] == lf { position += 1 }
        guard let requestLineEnd = lineEnd(bytes, from: position) else {
            return count > maxHeadBytes ? .failure(tooLarge) : .success(.needMore)
        }
        // Every line, the request line and the empty one included, counts
        // toward the limit, so whether a head fits does not depend on how
        // much of it (and of what follows) arrived in one read.
        if requestLineEnd.next > maxHeadBytes { return .failure(tooLarge) }

        // The request line: METHOD SP target SP HTTP/1.x
        let line = position..<requestLineEnd.content
        guard let firstSpace = index(of: space, in: bytes, line),
              let secondSpace = index(of: space, in: bytes, firstSpace + 1..<line.upperBound) else {
            return .failure(.malformed("the request line is not METHOD PATH HTTP/1.1"))
        }
        let methodRange = line.lowerBound..<firstSpace
        let targetRange = firstSpace + 1..<secondSpace
        let versionRange = secondSpace + 1..<line.upperBound
        guard !methodRange.isEmpty, methodRange.allSatisfy({ isTokenByte(bytes[$0]) }) else {
            return .failure(.malformed("the method is not a token"))
        }
        guard !targetRange.isEmpty, targetRange.allSatisfy({ bytes[$0] > space && bytes[$0] != 0x7F }) else {
            return .failure(.malformed("the request target is empty or has spaces or control characters"))
        }
        guard let (major, minorVersion) = version(bytes, versionRange) else {
            return .failure(.malformed("the request line does not end in HTTP/1.1"))
        }
        guard major == 1, minorVersion <= 1 else {
            return .failure(RequestHeadError(status: .httpVersionNotSupported, reason: "only HTTP/1.0 and HTTP/1.1 are served"))
        }

        var keepAlive = minorVersion == 1
        var closeAsked = false
        var keepAliveAsked = false
        var contentLength: Int?
        var chunked = false
        var transferEncoding = false
        var expectsContinue = false

        // The header lines, up to the empty line.
        position = requestLineEnd.next
        while true {
            guard let end = lineEnd(bytes, from: position) else {
                return count > maxHeadBytes ? .failure(tooLarge) : .success(.needMore)
            }
            let header = position..<end.content
            position = end.next
            if position > maxHeadBytes { return .failure(tooLarge) }
            if header.isEmpty { break }
            if bytes[header.lowerBound] == space || bytes[header.lowerBound] == tab {
                return .failure(.malformed("obsolete line folding in a header"))
            }
            guard let colon = index(of: colonByte, in: bytes, header) else {
                return .failure(.malformed("a header line has no colon"))
            }
            let name = header.lowerBound..<colon
            guard !name.isEmpty, name.allSatisfy({ isTokenByte(bytes[$0]) }) else {
                return .failure(.malformed("a header name is empty or has spaces or separators"))
            }
            var value = colon + 1..<header.upperBound
            while !value.isEmpty, bytes[value.lowerBound] == space || bytes[value.lowerBound] == tab {
                value = value.lowerBound + 1..<value.upperBound
            }
            while !value.isEmpty, bytes[value.upperBound - 1] == space || bytes[value.upperBound - 1] == tab {
                value = value.lowerBound..<value.upperBound - 1
            }
            guard value.allSatisfy({ (bytes[$0] >= space && bytes[$0] != 0x7F) || bytes[$0] == tab }) else {
                return .failure(.malformed("a header value has control characters"))
            }

            switch name.count {
            case 14 where equalsLowercased(bytes, name, "content-length"):
                guard let length = decimal(bytes, value) else {
                    return .failure(.malformed("Content-Length is not a number"))
                }
                if let contentLength, contentLength != length {
                    return .failure(.malformed("two different Content-Length headers"))
                }
                contentLength = length
            case 17 where equalsLowercased(bytes, name, "transfer-encoding"):
                transferEncoding = true
                // The last coding must be chunked (RFC 9112, 6.3); the API takes no body anyway.
                chunked = endsWithChunked(bytes, value)
            case 10 where equalsLowercased(bytes, name, "connection"):
                forEachToken(bytes, value) { token in
                    if equalsLowercased(bytes, token, "close") { closeAsked = true }
                    if equalsLowercased(bytes, token, "keep-alive") { keepAliveAsked = true }
                }
            case 6 where equalsLowercased(bytes, name, "expect"):
                expectsContinue = equalsLowercased(bytes, value, "100-continue")
            default:
                break
            }
        }

        if transferEncoding && contentLength != nil {
            return .failure(.malformed("both Transfer-Encoding and Content-Length"))
        }
        if transferEncoding && !chunked {
            return .failure(.malformed("Transfer-Encoding must end in chunked"))
        }
        if closeAsked { keepAlive = false } else if keepAliveAsked { keepAlive = true }

        let framing: RequestHead.BodyFraming
        if chunked {
            framing = .chunked
        } else if let contentLength, contentLength > 0 {
            framing = .length(contentLength)
        } else {
            framing = .none
        }
        let head = RequestHead(method: method(bytes, methodRange), route: route(bytes, targetRange),
                               keepAlive: keepAlive, body: framing, expectsContinue: expectsContinue)
        return .success(.head(head, consumed: position))
    }

    // MARK: - Pieces

    private static let cr: UInt8 = 0x0D
    private static let lf: UInt8 = 0x0A
    private static let space: UInt8 = 0x20
    private static let tab: UInt8 = 0x09
    private static let colonByte: UInt8 = 0x3A
    private static let tooLarge = RequestHeadError(status: .requestHeaderFieldsTooLarge,
                                                   reason: "the request head is over \(maxHeadBytes) bytes")

    /// The end of the line starting at `from`: where its content ends (before
    /// CRLF or LF) and where the next line starts. A CR not before LF is left
    /// in the content, where the checks refuse it.
    private static func lineEnd(_ bytes: UnsafeRawBufferPointer, from: Int) -> (content: Int, next: Int)? {
        guard from < bytes.count, let base = bytes.baseAddress,
              let found = memchr(base + from, Int32(lf), bytes.count - from) else { return nil }
        let index = base.distance(to: UnsafeRawPointer(found))
        let content = index > from && bytes[index - 1] == cr ? index - 1 : index
        return (content, index + 1)
    }

    private static func index(of byte: UInt8, in bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Int? {
        guard !range.isEmpty, let base = bytes.baseAddress,
              let found = memchr(base + range.lowerBound, Int32(byte), range.count) else { return nil }
        return base.distance(to: UnsafeRawPointer(found))
    }

    /// tchar of RFC 9110, 5.6.2 (a bit table, as the load generator's).
    @inline(__always)
    private static func isTokenByte(_ byte: UInt8) -> Bool { HTTPBytes.isTokenByte(byte) }

    /// `HTTP/d.d` as (major, minor).
    private static func version(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> (Int, Int)? {
        guard range.count == 8 else { return nil }
        let base = range.lowerBound
        guard matches(bytes, base..<base + 5, "HTTP/") else { return nil }
        let major = bytes[base + 5], dot = bytes[base + 6], minor = bytes[base + 7]
        guard isDigit(major), dot == UInt8(ascii: "."), isDigit(minor) else { return nil }
        return (Int(major - 0x30), Int(minor - 0x30))
    }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

    /// Digits only, saturating at Int.max (a length that large is refused as over the limit).
    private static func decimal(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Int? {
        guard !range.isEmpty else { return nil }
        var value = 0
        for index in range {
            let byte = bytes[index]
            guard isDigit(byte) else { return nil }
            let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times.addingReportingOverflow(Int(byte - 0x30))
            value = overflow1 || overflow2 ? Int.max : sum
        }
        return value
    }

    /// ASCII case-insensitive comparison with a lowercase literal.
    private static func equalsLowercased(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, _ literal: StaticString) -> Bool {
        guard range.count == literal.utf8CodeUnitCount else { return false }
        let text = literal.utf8Start
        for offset in 0..<range.count {
            var byte = bytes[range.lowerBound + offset]
            if byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") { byte |= 0x20 }
            if byte != text[offset] { return false }
        }
        return true
    }

    /// Calls `body` with each comma-separated token of a header value, trimmed.
    private static func forEachToken(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, _ body: (Range<Int>) -> Void) {
        var start = range.lowerBound
        for index in range.lowerBound...range.upperBound where index == range.upperBound || bytes[index] == UInt8(ascii: ",") {
            var token = start..<index
            while !token.isEmpty, bytes[token.lowerBound] == space || bytes[token.lowerBound] == tab {
                token = token.lowerBound + 1..<token.upperBound
            }
            while !token.isEmpty, bytes[token.upperBound - 1] == space || bytes[token.upperBound - 1] == tab {
                token = token.lowerBound..<token.upperBound - 1
            }
            if !token.isEmpty { body(token) }
            start = index + 1
        }
    }

    private static func endsWithChunked(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Bool {
        var last: Range<Int>?
        forEachToken(bytes, range) { last = $0 }
        return last.map { equalsLowercased(bytes, $0, "chunked") } ?? false
    }

    private static func method(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> RequestHead.Method {
        if range.count == 4, bytes[range.lowerBound] == UInt8(ascii: "P"), bytes[range.lowerBound + 1] == UInt8(ascii: "O"),
           bytes[range.lowerBound + 2] == UInt8(ascii: "S"), bytes[range.lowerBound + 3] == UInt8(ascii: "T") {
            return .post
        }
        if range.count == 3, bytes[range.lowerBound] == UInt8(ascii: "G"), bytes[range.lowerBound + 1] == UInt8(ascii: "E"),
           bytes[range.lowerBound + 2] == UInt8(ascii: "T") {
            return .get
        }
        return .other(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self))
    }

    /// The path without its query, matched against the API's three endpoints.
    private static func route(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> RequestHead.Route {
        let path = range.lowerBound..<(index(of: UInt8(ascii: "?"), in: bytes, range) ?? range.upperBound)
        if matches(bytes, path, "/increment") { return .increment }
        if matches(bytes, path, "/report") { return .report }
        if matches(bytes, path, "/reset") { return .reset }
        return .other(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[path]), as: UTF8.self))
    }

    private static func matches(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, _ literal: StaticString) -> Bool {
        guard range.count == literal.utf8CodeUnitCount else { return false }
        let text = literal.utf8Start
        for offset in 0..<range.count where bytes[range.lowerBound + offset] != text[offset] { return false }
        return true
    }
}
