import NIOCore
import NIOHTTP1

/// Answers 408 and closes when a request head has started arriving but is not
/// complete within the timeout (a slow or stuck client holding a connection).
///
/// It sits right after the HTTP decoder, before the pipelining handler, so it
/// sees every head as soon as it is parsed and its 408 does not count as an
/// answer to a request. The clock starts at the first bytes after the previous
/// request ended (RequestBytesArrived). Bytes of a next head that came in the
/// same read as the end of the previous request start no clock until more
/// bytes come; until then only the idle timeout bounds the connection.
///
/// A 408 never cuts off an answer the worker still owes: if the clock runs out
/// while one is being prepared, the 408 follows it.
final class RequestHeadTimeout: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private enum State {
        /// Between requests, no byte of the next head yet.
        case awaitingBytes
        /// A head started arriving; the clock runs.
        case readingHead(Scheduled<Void>)
        /// The clock ran out while an answer was owed: send the 408 after it.
        case overdue
        /// A head is complete; its body and end follow.
        case inRequest
        /// The 408 is out; the connection is closing.
        case timedOut
    }

    private let app: CounterApp
    private let timeout: TimeAmount
    private var state = State.awaitingBytes
    /// Heads seen minus answers ended (pipelined requests can be waiting).
    private var answersOwed = 0

    init(app: CounterApp, timeout: TimeAmount) {
        self.app = app
        self.timeout = timeout
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is RequestBytesArrived else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        if case .awaitingBytes = state {
            let task = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [self] in
                self.clockRanOut(context: context)
            }
            state = .readingHead(task)
        }
        // IdleConnectionCloser needs it too: a head that has begun is not idleness.
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch (unwrapInboundIn(data), state) {
        case (_, .timedOut):
            return  // the connection is closing; nothing more reaches the app
        case (.head, .readingHead(let task)):
            task.cancel()
            state = .inRequest
            answersOwed += 1
        case (.head, _):
            state = .inRequest
            answersOwed += 1
        case (.end, .inRequest):
            state = .awaitingBytes
        case (.body, _), (.end, _):
            break
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .end = unwrapOutboundIn(data) else {
            context.write(data, promise: promise)
            return
        }
        answersOwed = max(0, answersOwed - 1)
        context.write(data, promise: promise)
        if answersOwed == 0, case .overdue = state {
            answer408(context: context)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelClock()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelClock()
    }

    private func clockRanOut(context: ChannelHandlerContext) {
        guard case .readingHead = state else { return }
        if answersOwed == 0 {
            answer408(context: context)
        } else {
            state = .overdue
        }
    }

    private func answer408(context: ChannelHandlerContext) {
        state = .timedOut
        let millis = timeout.nanoseconds / 1_000_000
        let body = JSONAnswer.error("the request head did not arrive completely within \(millis) ms", app: app)
        JSONAnswer.write(.requestTimeout, body: body, pid: app.pid, keepAlive: false, context: context)
            .assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }

    private func cancelClock() {
        if case .readingHead(let task) = state {
            task.cancel()
            state = .awaitingBytes
        }
    }
}
