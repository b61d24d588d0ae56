import NIOCore
import NIOHTTP1

/// A JSON answer as every handler of a worker writes it: Content-Length,
/// X-Worker-Pid, and Connection saying whether the connection stays open.
enum JSONAnswer {
    /// `{"error": message, "pid", "worker"}`.
    static func error(_ message: String, app: CounterApp) -> String {
        "{\"error\":\(JSONText.quoted(message)),\(app.identity)}"
    }

    /// Writes and flushes head, body and end; the future completes once the end is written.
    @discardableResult
    static func write(_ status: HTTPResponseStatus, body: String, pid: Int32, keepAlive: Bool,
                      extra: [(String, String)] = [], context: ChannelHandlerContext) -> EventLoopFuture<Void> {
        var headers = HTTPHeaders()
        headers.reserveCapacity(4 + extra.count)
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: String(body.utf8.count))
        headers.add(name: "X-Worker-Pid", value: String(pid))
        headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        for (name, value) in extra { headers.add(name: name, value: value) }
        let head = HTTPResponseHead(version: .http1_1, status: status, headers: headers)
        context.write(NIOAny(HTTPServerResponsePart.head(head)), promise: nil)
        context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        let done = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)), promise: done)
        return done.futureResult
    }
}
