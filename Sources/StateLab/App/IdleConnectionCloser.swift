import NIOCore
import NIOHTTP1

/// Closes a keep-alive connection that NIO's IdleStateHandler reports idle,
/// unless a request is in flight: a store call that takes longer than the
/// idle timeout (a held lock, a slow disk) still gets its answer. Nor while a
/// request head has begun to arrive: that is RequestHeadTimeout's to answer
/// with a 408 (with equal timeouts, closing here first lost the 408).
final class IdleConnectionCloser: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// From a request's head until its answer's end. After the pipelining
    /// handler, so at most one request is in flight at a time.
    private var requestInFlight = false
    /// Bytes came that do not make a complete head yet.
    private var headBegun = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = unwrapInboundIn(data) {
            requestInFlight = true
            headBegun = false
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { requestInFlight = false }
        context.write(data, promise: promise)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is RequestBytesArrived, !requestInFlight { headBegun = true }
        guard let idle = event as? IdleStateHandler.IdleStateEvent, idle == .all else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        if !requestInFlight && !headBegun { context.close(promise: nil) }
    }
}
