import NIOCore

/// Bytes of a request arrived from the socket (sent before they reach the HTTP decoder).
struct RequestBytesArrived: Sendable {}

/// Tells the handlers after the HTTP decoder that bytes arrived, even when
/// they do not complete a request head yet: the decoder only passes on
/// complete parts, and RequestHeadTimeout times a head from its first byte.
final class RequestBytesSignal: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.fireUserInboundEventTriggered(RequestBytesArrived())
        context.fireChannelRead(data)
    }
}
