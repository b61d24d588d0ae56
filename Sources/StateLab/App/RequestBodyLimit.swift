import NIOCore
import NIOHTTP1

/// Answers 413 to a request body over the limit, without buffering it: a
/// declared Content-Length over the limit is refused at the head (before the
/// body is sent, for a client that waits on `Expect: 100-continue`), a chunked
/// body when its running count passes the limit. The rest of the request is
/// then read and dropped for a bounded time and amount, so the answer reaches
/// the client before the connection closes (closing on unread bytes sends a
/// TCP reset, which can destroy an answer the client has not read yet).
final class RequestBodyLimit: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    private enum State {
        case idle
        /// Passing a request on, with the body bytes seen so far.
        case forwarding(bodyBytes: Int)
        /// The 413 is out; dropping the rest until its end, the drain limits, or EOF.
        case draining(droppedBytes: Int, deadline: Scheduled<Void>)
        case closed
    }

    private let app: CounterApp
    private let limits: HTTPLimits
    private var state = State.idle

    init(app: CounterApp, limits: HTTPLimits) {
        self.app = app
        self.limits = limits
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .closed = state { return }
        switch (unwrapInboundIn(data), state) {
        case (.head(let head), _):
            if let declared = head.headers.first(name: "content-length").flatMap(Int.init), declared > limits.maxBodyBytes {
                refuse(context: context, declared: declared)
                return
            }
            state = .forwarding(bodyBytes: 0)
        case (.body(let bytes), .forwarding(let seen)):
            let total = seen + bytes.readableBytes
            if total > limits.maxBodyBytes {
                refuse(context: context, declared: nil)
                return
            }
            state = .forwarding(bodyBytes: total)
        case (.end, .forwarding):
            state = .idle
        case (.body(let bytes), .draining(let dropped, let deadline)):
            let total = dropped + bytes.readableBytes
            if total > limits.drainBytes {
                close(context: context)
            } else {
                state = .draining(droppedBytes: total, deadline: deadline)
            }
            return
        case (.end, .draining):
            // The client sent all of it: nothing is left unread, so closing sends no reset.
            close(context: context)
            return
        case (.body, _), (.end, _):
            break  // not after a head: the HTTP decoder never sends these
        }
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if case .draining(_, let deadline) = state { deadline.cancel() }
        state = .closed
        context.fireChannelInactive()
    }

    private func refuse(context: ChannelHandlerContext, declared: Int?) {
        let deadline = context.eventLoop.assumeIsolated().scheduleTask(in: limits.drainTime) { [self] in
            self.close(context: context)
        }
        state = .draining(droppedBytes: 0, deadline: deadline)
        let size = declared.map { "of \($0) bytes " } ?? ""
        let body = JSONAnswer.error("request body \(size)is over the limit of \(limits.maxBodyBytes) bytes; the API takes no body", app: app)
        JSONAnswer.write(.payloadTooLarge, body: body, pid: app.pid, keepAlive: false, context: context)
            .assumeIsolated().whenSuccess {
                // FIN after the answer: the client reads all of it and sees the end, while we keep draining.
                context.close(mode: .output, promise: nil)
            }
    }

    private func close(context: ChannelHandlerContext) {
        switch state {
        case .closed: return
        case .draining(_, let deadline): deadline.cancel()
        case .idle, .forwarding: break
        }
        state = .closed
        context.close(promise: nil)
    }
}
