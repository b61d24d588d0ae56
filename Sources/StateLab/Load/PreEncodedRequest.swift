import NIOCore

/// The bytes of the one bodiless request a load connection sends, encoded
/// once: a run sends the same request thousands of times a second, and NIO's
/// HTTPRequestEncoder with its header validator re-validated and re-encoded
/// the head each time (about a tenth of the load generator's CPU in a
/// profile against the shm/atomic app). Connections write these bytes
/// straight to the channel.
enum PreEncodedRequest {
    /// The request line and headers of a bodiless HTTP/1.1 request.
    static func encode(method: String, path: String, host: String, port: Int) -> ByteBuffer {
        let hostHeader = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        return ByteBuffer(string: "\(method) \(path) HTTP/1.1\r\nHost: \(hostHeader)\r\nContent-Length: 0\r\n\r\n")
    }
}
