import NIOCore
import NIOHTTP1

/// Gathers one HTTP response at a time into a head and a body, and tells its
/// owner when a response is complete or the connection goes away.
/// Lives on the channel's event loop; `onEvent` is called there.
final class HTTPResponseCollector: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart

    enum Event {
        case response(head: HTTPResponseHead, body: ByteBuffer?)
        /// The connection closed; `midAnswer` when part of an answer had arrived.
        case closed(midAnswer: Bool)
    }

    private var head: HTTPResponseHead?
    private var body: ByteBuffer?
    private let onEvent: (Event) -> Void

    init(onEvent: @escaping (Event) -> Void) {
        self.onEvent = onEvent
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let newHead):
            head = newHead
            body = nil
        case .body(var part):
            if body == nil {
                body = part
            } else {
                body!.writeBuffer(&part)
            }
        case .end:
            guard let finished = head else { return }
            let finishedBody = body
            head = nil
            body = nil
            onEvent(.response(head: finished, body: finishedBody))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        onEvent(.closed(midAnswer: head != nil))
        head = nil
        body = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // A parse error or a reset: this connection is no longer usable, and
        // channelInactive reports the request that was in flight.
        context.close(promise: nil)
    }
}
