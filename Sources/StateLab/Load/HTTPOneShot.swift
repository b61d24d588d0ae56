import NIOCore
import NIOHTTP1
import NIOPosix

public enum HTTPOneShotError: Error, Equatable {
    /// No complete answer within the timeout.
    case timedOut
    /// The server closed the connection before a complete answer.
    case closedBeforeAnswer
}

/// One HTTP/1.1 request over a fresh connection (`Connection: close`), for
/// reads, resets and probes outside a load run.
public enum HTTPOneShot {
    public typealias Response = (status: Int, headers: [(String, String)], body: [UInt8])

    /// The X-Worker-Pid header of an answer, when it names a pid.
    static func workerPid(_ answer: Response) -> Int32? {
        answer.headers.first { $0.0.lowercased() == "x-worker-pid" }.flatMap { Int32($0.1) }
    }

    public static func send(
        method: String = "GET",
        path: String,
        host: String = "127.0.0.1",
        port: Int,
        timeout: Double = 5,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> Response {
        let address = try LoopbackHost.address(host: host, port: port)
        let eventLoop = group.next()
        let exchange = OneShotExchange(promise: eventLoop.makePromise(of: OneShotAnswer.self))
        let timeoutAmount = TimeAmount.nanoseconds(Int64(max(timeout, 0.001) * 1_000_000_000))
        let timer = eventLoop.scheduleTask(in: timeoutAmount) { exchange.fail(HTTPOneShotError.timedOut) }

        var headers = HTTPHeaders()
        headers.add(name: "Host", value: "\(host):\(port)")
        headers.add(name: "Content-Length", value: "0")
        headers.add(name: "Connection", value: "close")
        let head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: method), uri: path, headers: headers)

        ClientBootstrap(group: eventLoop)
            .connectTimeout(timeoutAmount)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(HTTPResponseCollector { event in
                        switch event {
                        case .response(let head, let body):
                            exchange.succeed(OneShotAnswer(head: head, body: body))
                        case .closed:
                            exchange.fail(HTTPOneShotError.closedBeforeAnswer)
                        }
                    })
                }
            }
            .connect(to: address)
            .whenComplete { result in
                switch result {
                case .success(let channel):
                    exchange.channel = channel
                    if exchange.isDone {
                        channel.close(promise: nil)  // timed out while connecting
                    } else {
                        channel.write(HTTPClientRequestPart.head(head), promise: nil)
                        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
                    }
                case .failure(let error):
                    exchange.fail(error)
                }
            }

        defer { timer.cancel() }
        let answer = try await exchange.promise.futureResult.get()
        return (
            status: Int(answer.head.status.code),
            headers: answer.head.headers.map { ($0.name, $0.value) },
            body: answer.body.map { Array($0.readableBytesView) } ?? []
        )
    }
}

struct OneShotAnswer: Sendable {
    var head: HTTPResponseHead
    var body: ByteBuffer?
}

/// The state of one exchange, touched only on its event loop: it completes
/// the promise once and closes the connection when done.
private final class OneShotExchange: @unchecked Sendable {
    let promise: EventLoopPromise<OneShotAnswer>
    var channel: Channel?
    private(set) var isDone = false

    init(promise: EventLoopPromise<OneShotAnswer>) {
        self.promise = promise
    }

    func succeed(_ answer: OneShotAnswer) {
        guard !isDone else { return }
        isDone = true
        promise.succeed(answer)
        channel?.close(promise: nil)
    }

    func fail(_ error: Error) {
        guard !isDone else { return }
        isDone = true
        promise.fail(error)
        channel?.close(promise: nil)
    }
}
