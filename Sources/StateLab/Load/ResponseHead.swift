/// Why `LoadResponseDecoder` gave up on a connection. Every one of them closes
/// it, and the request in flight counts as indeterminate.
enum ResponseDecoderError: Error, Equatable {
    /// The status line and headers (or a chunked body's trailers) exceed the limit.
    case headTooLarge
    /// The body exceeds the limit, by its Content-Length, its chunks or until close.
    case bodyTooLarge
    case malformedStatusLine
    case malformedHeader
    case badContentLength
    case badChunk
    /// 101 Switching Protocols: the load generator never asks for an upgrade.
    case unexpectedUpgrade
}

/// The parts of a response head the load generator uses; everything else in
/// the head is checked for shape and skipped.
struct ResponseHead: Equatable {
    enum Framing: Equatable {
        case none
        case length(Int)
        case chunked
        /// Neither Content-Length nor chunked: the body ends when the server closes.
        case untilClose
    }

    var status: Int
    var keepAlive: Bool
    var workerPid: Int32?
    var framing: Framing
    /// X-Worker-Host: the host the worker runs on, when the app says (several hosts, or remote ones).
    var workerHost: String? = nil
    /// A rate limiter's X-RateLimit-Remaining (or RateLimit-Remaining) and -Reset, when sent.
    var rateRemaining: Int32? = nil
    var rateReset: Double? = nil
    /// X-Statelab-Trace: when statelab's own worker read and wrote.
    var trace: IncrementTrace? = nil

    /// 1xx answers other than 101 come before the real answer and carry no body.
    var isInterim: Bool { status >= 100 && status < 200 }

    /// Parses a complete head: the status line, header lines, and the empty
    /// line that ends them, each line ending in CRLF (a bare LF is accepted).
    /// `bodyless` is true for answers to HEAD requests.
    static func parse(_ bytes: UnsafeRawBufferPointer, bodyless: Bool, maxBody: Int) throws(ResponseDecoderError) -> ResponseHead {
        var lines = LineCursor(bytes: bytes)
        guard let statusLine = lines.next() else { throw .malformedStatusLine }
        let (minorVersion, status) = try parseStatusLine(statusLine)
        if status == 101 { throw .unexpectedUpgrade }

        var contentLength: Int?
        var transferEncoding: TransferEncoding = .absent
        var connectionClose = false
        var connectionKeepAlive = false
        var workerPid: Int32?
        var workerHost: String?
        var rateRemaining: Int32?
        var rateReset: Double?
        var trace: IncrementTrace?
        // The header lines, as whole buffers (no slices: their range checks cost more than the bytes).
        let base = bytes.baseAddress!  // the status line was there
        var position = lines.position
        while let newline = HTTPBytes.index(of: UInt8(ascii: "\n"), in: bytes, from: position) {
            let start = position
            var end = newline
            if end > start, bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
            position = newline + 1
            if end == start { break }  // the empty line
            // Obsolete line folding and lines without a colon are refused, as llhttp does.
            let line = UnsafeRawBufferPointer(start: base + start, count: end - start)
            guard let colon = HTTPBytes.index(of: UInt8(ascii: ":"), in: line, from: 0), colon > 0,
                  !HTTPBytes.isBlank(line[0]) else { throw .malformedHeader }
            let name = UnsafeRawBufferPointer(start: line.baseAddress, count: colon)
            let value = HTTPBytes.trimmed(UnsafeRawBufferPointer(start: line.baseAddress! + colon + 1, count: line.count - colon - 1))
            var index = 0
            while index < name.count {
                guard HTTPBytes.isTokenByte(name[index]) else { throw .malformedHeader }
                index += 1
            }
            // One or two comparisons per header at most: the names statelab reads differ in length but for two.
            switch name.count {
            case 14 where HTTPBytes.equalsIgnoringCase(name, "content-length"):
                let length = try parseContentLength(value, maxBody: maxBody)
                if let earlier = contentLength, earlier != length { throw .badContentLength }
                contentLength = length
            case 17 where HTTPBytes.equalsIgnoringCase(name, "transfer-encoding"):
                // Only the last coding decides: chunked must come last when present.
                var last: UnsafeRawBufferPointer?
                forEachToken(value) { last = $0 }
                transferEncoding = last.map { HTTPBytes.equalsIgnoringCase($0, "chunked") } == true ? .chunked : .other
            case 10 where HTTPBytes.equalsIgnoringCase(name, "connection"):
                forEachToken(value) { token in
                    if HTTPBytes.equalsIgnoringCase(token, "close") { connectionClose = true }
                    if HTTPBytes.equalsIgnoringCase(token, "keep-alive") { connectionKeepAlive = true }
                }
            case 12 where HTTPBytes.equalsIgnoringCase(name, "x-worker-pid"):
                workerPid = parseInt32(value)
            case 13 where HTTPBytes.equalsIgnoringCase(name, "x-worker-host"):
                // A name for grouping, not an address to use: printable ASCII, at most 253 bytes.
                if (1...253).contains(value.count), value.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) {
                    workerHost = String(decoding: value, as: UTF8.self)
                }
            case 21 where HTTPBytes.equalsIgnoringCase(name, "x-ratelimit-remaining"),
                 19 where HTTPBytes.equalsIgnoringCase(name, "ratelimit-remaining"):
                rateRemaining = parseInt32(value)
            case 17 where HTTPBytes.equalsIgnoringCase(name, "x-ratelimit-reset"),
                 15 where HTTPBytes.equalsIgnoringCase(name, "ratelimit-reset"):
                rateReset = Double(String(decoding: value, as: UTF8.self)).flatMap { $0.isFinite && $0 >= 0 ? $0 : nil }
            case 16 where HTTPBytes.equalsIgnoringCase(name, "x-statelab-trace"):
                trace = IncrementTrace(headerValue: String(decoding: value, as: UTF8.self))
            default:
                break
            }
        }

        var keepAlive = minorVersion == 1 ? !connectionClose : (connectionKeepAlive && !connectionClose)
        let framing: Framing
        if bodyless || status == 204 || status == 304 || (status >= 100 && status < 200) {
            framing = .none
        } else {
            switch (transferEncoding, contentLength) {
            case (.chunked, _): framing = .chunked
            case (.other, _): framing = .untilClose  // RFC 9112 6.3: a non-chunked coding is read until close
            case (.absent, let length?): framing = length == 0 ? .none : .length(length)
            case (.absent, nil): framing = .untilClose
            }
        }
        if framing == .untilClose { keepAlive = false }
        return ResponseHead(status: status, keepAlive: keepAlive, workerPid: workerPid, framing: framing,
                            workerHost: workerHost, rateRemaining: rateRemaining, rateReset: rateReset, trace: trace)
    }

    private enum TransferEncoding { case absent, chunked, other }

    /// "HTTP/1.x SP 3DIGIT [SP reason]"; returns x and the status code.
    private static func parseStatusLine(_ line: Slice<UnsafeRawBufferPointer>) throws(ResponseDecoderError) -> (Int, Int) {
        let bytes = UnsafeRawBufferPointer(rebasing: line)
        guard bytes.count >= 12, HTTPBytes.startsWith(bytes, "HTTP/1."),
              bytes[7] == UInt8(ascii: "0") || bytes[7] == UInt8(ascii: "1"),
              bytes[8] == UInt8(ascii: " "),
              HTTPBytes.isDigit(bytes[9]), HTTPBytes.isDigit(bytes[10]), HTTPBytes.isDigit(bytes[11]),
              bytes.count == 12 || bytes[12] == UInt8(ascii: " ") else { throw .malformedStatusLine }
        let status = Int(bytes[9] &- 48) * 100 + Int(bytes[10] &- 48) * 10 + Int(bytes[11] &- 48)
        guard status >= 100 else { throw .malformedStatusLine }
        return (Int(bytes[7] &- 48), status)
    }

    private static func parseContentLength(_ value: UnsafeRawBufferPointer, maxBody: Int) throws(ResponseDecoderError) -> Int {
        guard !value.isEmpty else { throw .badContentLength }
        var length = 0
        for byte in value {
            guard HTTPBytes.isDigit(byte) else { throw .badContentLength }
            length = length * 10 + Int(byte &- 48)
            if length > maxBody { throw .bodyTooLarge }  // also keeps the sum from overflowing
        }
        return length
    }

    private static func parseInt32(_ value: UnsafeRawBufferPointer) -> Int32? {
        guard !value.isEmpty, value.count <= 10 else { return nil }
        var number: Int64 = 0
        for byte in value {
            guard HTTPBytes.isDigit(byte) else { return nil }
            number = number * 10 + Int64(byte &- 48)
        }
        return Int32(exactly: number)
    }

    /// Calls `body` with each comma-separated, trimmed, non-empty element.
    private static func forEachToken(_ value: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Void) {
        var start = 0
        for i in 0...value.count where i == value.count || value[i] == UInt8(ascii: ",") {
            let token = HTTPBytes.trimmed(UnsafeRawBufferPointer(rebasing: value[start..<i]))
            if !token.isEmpty { body(token) }
            start = i + 1
        }
    }
}
