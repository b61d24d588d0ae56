import NIOCore
import NIOHTTP1

/// Serves the counter API on one connection: routes a request, makes the store
/// call through the worker's backend (never blocking the loop), and answers in
/// JSON with X-Worker-Pid.
final class CounterHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// One request at a time per connection (the pipeline handler holds back pipelined ones).
    private enum State {
        case idle
        case receiving(HTTPRequestHead)
        case responding(keepAlive: Bool)

        mutating func received(_ head: HTTPRequestHead) {
            guard case .idle = self else { preconditionFailure("request head while \(self)") }
            self = .receiving(head)
        }

        mutating func ended() -> HTTPRequestHead {
            guard case .receiving(let head) = self else { preconditionFailure("request end while \(self)") }
            self = .responding(keepAlive: head.isKeepAlive)
            return head
        }

        mutating func responded() -> Bool {
            guard case .responding(let keepAlive) = self else { preconditionFailure("response while \(self)") }
            self = .idle
            return keepAlive
        }
    }

    private let app: CounterApp
    private var state = State.idle

    init(app: CounterApp) {
        self.app = app
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            state.received(head)
        case .body:
            break // the API takes no body; RequestBodyLimit bounds it, and it is dropped here
        case .end:
            let head = state.ended()
            route(head, context: context)
        }
    }

    private func route(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        let app = self.app
        let loop = context.eventLoop
        switch (path, head.method) {
        case ("/increment", .POST):
            answer(context: context, app.backend.increment(on: loop).map { count in
                app.handledIncrements.wrappingIncrement(ordering: .relaxed)
                return "{\"count\":\(count),\(app.identity)}"
            })
        case ("/report", .GET):
            answer(context: context, app.backend.read(on: loop).map { count in
                let handled = app.handledIncrements.load(ordering: .relaxed)
                return "{\"count\":\(count),\(app.identity),\"handled\":\(handled)\(app.backend.reportFields),\"strategy\":\"\(app.spec.strategy.rawValue)\",\"mode\":\"\(app.spec.mode.rawValue)\"}"
            })
        case ("/reset", .POST):
            answer(context: context, app.backend.reset(on: loop).map { "{\"count\":0,\(app.identity)}" })
        case ("/increment", _), ("/reset", _):
            respond(context: context, status: .methodNotAllowed, body: errorJSON("use POST \(path)"), extra: [("Allow", "POST")])
        case ("/report", _):
            respond(context: context, status: .methodNotAllowed, body: errorJSON("use GET /report"), extra: [("Allow", "GET")])
        default:
            respond(context: context, status: .notFound, body: errorJSON("no such endpoint \(path); try POST /increment, GET /report or POST /reset"))
        }
    }

    /// Answers when the store call is done.
    private func answer(context: ChannelHandlerContext, _ future: EventLoopFuture<String>) {
        future.assumeIsolated().whenComplete { result in
            switch result {
            case .success(let body):
                self.respond(context: context, status: .ok, body: body)
            case .failure(let error):
                let message = (error as? StoreError)?.message ?? "\(error)"
                let notCommitted = (error as? StoreError)?.notCommitted ?? false
                var body = "{\"error\":\(JSONText.quoted("store failed: \(message)")),\(self.app.identity)"
                body += notCommitted ? ",\"committed\":false}" : "}"
                self.respond(context: context, status: .serviceUnavailable, body: body,
                             extra: notCommitted ? [("X-Statelab-Committed", "false")] : [])
            }
        }
    }

    private func errorJSON(_ message: String) -> String {
        JSONAnswer.error(message, app: app)
    }

    private func respond(context: ChannelHandlerContext, status: HTTPResponseStatus, body: String,
                         extra: [(String, String)] = []) {
        let keepAlive = state.responded()
        let done = JSONAnswer.write(status, body: body, pid: app.pid, keepAlive: keepAlive, extra: extra, context: context)
        if !keepAlive {
            done.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // One bad client never takes the worker down: drop just this connection.
        context.close(promise: nil)
    }
}

