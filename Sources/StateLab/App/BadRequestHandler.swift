import NIOCore
import NIOHTTP1

/// Answers a request the HTTP parser rejects with a JSON 400 (NIO's own
/// handler sends an empty one), then lets the connection close. Other
/// connections of the worker are untouched.
final class BadRequestHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let pid: Int32
    private var responseInProgress = false

    init(pid: Int32) { self.pid = pid }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        guard error is HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        // A response can only be sent when none has started; the decoder closes the channel after us.
        if !responseInProgress {
            let body = "{\"error\":\(JSONText.quoted("malformed HTTP request: \(error)")),\"pid\":\(pid)}"
            JSONAnswer.write(.badRequest, body: body, pid: pid, keepAlive: false, context: context)
        }
        context.fireErrorCaught(error)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head) where head.status.code >= 200: responseInProgress = true
        case .end: responseInProgress = false
        default: break
        }
        context.write(data, promise: promise)
    }
}
