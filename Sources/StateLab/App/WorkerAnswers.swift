import NIOCore
import NIOHTTP1

/// A worker's HTTP answers, each written whole into one buffer: status line,
/// Content-Type, X-Worker-Pid, Connection, Content-Length, then the JSON body.
/// What never changes for a worker (its pid, its identity fields, the header
/// lines of a 200) is encoded once, so an increment's answer is a few copies
/// and one number.
struct WorkerAnswers: Sendable {
    let pid: Int32
    /// `"pid":P,"worker":W`, the fields every answer names the worker with.
    let identity: String
    /// A 200 up to the Content-Length value, for keep-alive and for close.
    private let okKeepAlive: [UInt8]
    private let okClose: [UInt8]
    /// `,"pid":P,"worker":W}`: the end of an increment's or a reset's body.
    private let identityTail: [UInt8]
    /// `X-Worker-Host`: the worker's host address on a `--hosts` network (nil on one host).
    let host: String?

    static let `continue`: [UInt8] = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)
    private static let countLead: [UInt8] = Array("{\"count\":".utf8)
    private static let headEnd: [UInt8] = Array("\r\n\r\n".utf8)

    init(pid: Int32, worker: Int, host: String? = nil) {
        self.pid = pid
        self.host = host
        identity = "\"pid\":\(pid),\"worker\":\(worker)"
        okKeepAlive = Array(Self.head(.ok, pid: pid, host: host, keepAlive: true, extra: []).utf8)
        okClose = Array(Self.head(.ok, pid: pid, host: host, keepAlive: false, extra: []).utf8)
        identityTail = Array(",\(identity)}".utf8)
    }

    /// `{"count":N,"pid":P,"worker":W}` with a 200: the answer to an increment or a reset.
    func count(_ count: Int, keepAlive: Bool, into buffer: inout ByteBuffer) {
        let head = keepAlive ? okKeepAlive : okClose
        let digits = Self.decimalLength(count)
        let length = Self.countLead.count + digits + identityTail.count
        let total = head.count + Self.decimalLength(length) + Self.headEnd.count + length
        // One write into the buffer: each separate write is a bounds check; the numbers are
        // written digit by digit in place, without a String each.
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: total) { out in
            var at = 0
            func put(_ bytes: UnsafeRawBufferPointer) {
                UnsafeMutableRawBufferPointer(rebasing: out[at..<at + bytes.count]).copyMemory(from: bytes)
                at += bytes.count
            }
            head.withUnsafeBytes(put)
            at = Self.putDecimal(length, into: out, at: at)
            Self.headEnd.withUnsafeBytes(put)
            Self.countLead.withUnsafeBytes(put)
            at = Self.putDecimal(count, into: out, at: at)
            identityTail.withUnsafeBytes(put)
            return at
        }
    }

    /// How many bytes `value` takes in decimal, with its sign.
    static func decimalLength(_ value: Int) -> Int {
        var length = value < 0 ? 2 : 1
        var rest = value.magnitude
        while rest >= 10 {
            rest /= 10
            length += 1
        }
        return length
    }

    /// Writes `value` in decimal at `out[at...]` (room checked by the caller); returns where it ends.
    static func putDecimal(_ value: Int, into out: UnsafeMutableRawBufferPointer, at start: Int) -> Int {
        let end = start + decimalLength(value)
        if value < 0 { out[start] = UInt8(ascii: "-") }
        var rest = value.magnitude
        var index = end - 1
        repeat {
            out[index] = UInt8(ascii: "0") + UInt8(rest % 10)
            rest /= 10
            index -= 1
        } while rest > 0
        return end
    }

    /// Any other answer, built from strings (errors, /report).
    /// `headOnly`: the answer to a HEAD request, the same head (Content-Length
    /// included) without the body.
    func write(_ status: HTTPResponseStatus, body: String, keepAlive: Bool, extra: [(String, String)] = [],
               headOnly: Bool = false, into buffer: inout ByteBuffer) {
        buffer.writeString(Self.head(status, pid: pid, host: host, keepAlive: keepAlive, extra: extra))
        buffer.writeString(String(body.utf8.count))
        buffer.writeBytes(Self.headEnd)
        if !headOnly { buffer.writeString(body) }
    }

    /// `{"error": message, "pid", "worker"}`.
    func error(_ message: String) -> String {
        "{\"error\":\(JSONText.quoted(message)),\(identity)}"
    }

    /// The head of an answer up to the Content-Length value.
    private static func head(_ status: HTTPResponseStatus, pid: Int32, host: String?, keepAlive: Bool,
                             extra: [(String, String)]) -> String {
        var head = "HTTP/1.1 \(status.code) \(status.reasonPhrase)\r\nContent-Type: application/json\r\nX-Worker-Pid: \(pid)\r\n"
        if let host { head += "X-Worker-Host: \(host)\r\n" }
        head += keepAlive ? "Connection: keep-alive\r\n" : "Connection: close\r\n"
        for (name, value) in extra { head += "\(name): \(value)\r\n" }
        return head + "Content-Length: "
    }
}
