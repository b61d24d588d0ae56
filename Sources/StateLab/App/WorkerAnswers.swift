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

    static let `continue`: [UInt8] = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)
    private static let countLead: [UInt8] = Array("{\"count\":".utf8)
    private static let headEnd: [UInt8] = Array("\r\n\r\n".utf8)

    init(pid: Int32, worker: Int) {
        self.pid = pid
        identity = "\"pid\":\(pid),\"worker\":\(worker)"
        okKeepAlive = Array(Self.head(.ok, pid: pid, keepAlive: true, extra: []).utf8)
        okClose = Array(Self.head(.ok, pid: pid, keepAlive: false, extra: []).utf8)
        identityTail = Array(",\(identity)}".utf8)
    }

    /// `{"count":N,"pid":P,"worker":W}` with a 200: the answer to an increment or a reset.
    func count(_ count: Int, keepAlive: Bool, into buffer: inout ByteBuffer) {
        let digits = String(count)
        let head = keepAlive ? okKeepAlive : okClose
        let length = String(Self.countLead.count + digits.utf8.count + identityTail.count)
        let total = head.count + length.utf8.count + Self.headEnd.count + Self.countLead.count + digits.utf8.count
            + identityTail.count
        // One write into the buffer: each separate write is a bounds and exclusivity check.
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: total) { out in
            var at = 0
            func put(_ bytes: UnsafeRawBufferPointer) {
                UnsafeMutableRawBufferPointer(rebasing: out[at..<at + bytes.count]).copyMemory(from: bytes)
                at += bytes.count
            }
            head.withUnsafeBytes(put)
            var length = length
            length.withUTF8 { put(UnsafeRawBufferPointer($0)) }
            Self.headEnd.withUnsafeBytes(put)
            Self.countLead.withUnsafeBytes(put)
            var digits = digits
            digits.withUTF8 { put(UnsafeRawBufferPointer($0)) }
            identityTail.withUnsafeBytes(put)
            return at
        }
    }

    /// Any other answer, built from strings (errors, /report).
    /// `headOnly`: the answer to a HEAD request, the same head (Content-Length
    /// included) without the body.
    func write(_ status: HTTPResponseStatus, body: String, keepAlive: Bool, extra: [(String, String)] = [],
               headOnly: Bool = false, into buffer: inout ByteBuffer) {
        buffer.writeString(Self.head(status, pid: pid, keepAlive: keepAlive, extra: extra))
        buffer.writeString(String(body.utf8.count))
        buffer.writeBytes(Self.headEnd)
        if !headOnly { buffer.writeString(body) }
    }

    /// `{"error": message, "pid", "worker"}`.
    func error(_ message: String) -> String {
        "{\"error\":\(JSONText.quoted(message)),\(identity)}"
    }

    /// The head of an answer up to the Content-Length value.
    private static func head(_ status: HTTPResponseStatus, pid: Int32, keepAlive: Bool, extra: [(String, String)]) -> String {
        var head = "HTTP/1.1 \(status.code) \(status.reasonPhrase)\r\nContent-Type: application/json\r\nX-Worker-Pid: \(pid)\r\n"
        head += keepAlive ? "Connection: keep-alive\r\n" : "Connection: close\r\n"
        for (name, value) in extra { head += "\(name): \(value)\r\n" }
        return head + "Content-Length: "
    }
}
