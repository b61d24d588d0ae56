import NIOCore
import NIOHTTP1

/// Writes the same bodiless request, encoded once, for every `.head` that
/// passes: a load run sends one identical request thousands of times a
/// second, and NIO's `HTTPRequestEncoder` plus its header validator would
/// re-validate and re-encode the head each time (about a tenth of the load
/// generator's CPU in a profile against the shm/atomic app).
///
/// A connection writes only `.head(head)` per request: the head still passes
/// the response decoder on its way out, which needs its method to frame the
/// answer. `.end` without a body is accepted and writes nothing; a body is
/// refused, since the encoded bytes promise `Content-Length: 0`.
final class PreEncodedRequestEncoder: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = ByteBuffer

    struct BodyNotSupported: Error {}

    private let encoded: ByteBuffer

    init(encoded: ByteBuffer) {
        self.encoded = encoded
    }

    /// The request line and headers of a bodiless HTTP/1.1 request.
    static func encode(method: String, path: String, host: String, port: Int) -> ByteBuffer {
        let hostHeader = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        return ByteBuffer(string: "\(method) \(path) HTTP/1.1\r\nHost: \(hostHeader)\r\nContent-Length: 0\r\n\r\n")
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head:
            context.write(wrapOutboundOut(encoded), promise: promise)
        case .body:
            promise?.fail(BodyNotSupported())
        case .end(let trailers):
            if trailers == nil {
                promise?.succeed(())
            } else {
                promise?.fail(BodyNotSupported())
            }
        }
    }
}
