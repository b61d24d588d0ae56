import NIOCore
import NIOPosix

public enum HTTPOneShotError: Error, Equatable {
    /// No complete answer within the timeout.
    case timedOut
    /// The server closed the connection before a complete answer.
    case closedBeforeAnswer
}

/// One request (a read, a reset, a probe) over a fresh connection (`Connection: close`),
/// with the worker that answered named from /proc when `owners` is given:
/// all but the request's last byte is sent, the worker that accepts holds
/// the connection while it waits for that byte, and the last byte goes once
/// /proc has been asked.
public enum AppExchange {
    public struct Answer: Sendable {
        public var status: Int
        /// The X-Worker-Pid header.
        public var headerPid: Int32?
        public var body: [UInt8]
        /// The X-Worker-Host header.
        public var headerHost: String? = nil
        /// What /proc said about the worker, when it was asked.
        public var owner: SocketOwners.Lookup?

        /// The worker that answered: /proc's, else the header's, else the body's `pidField`.
        public func pid(field: String = "pid") -> Int32? {
            if case .pid(let pid)? = owner { return pid }
            return headerPid ?? CounterAnswer.parse(body, fields: AnswerFields(pidField: field)).pid
        }
    }

    public static func send(_ request: RequestSpec, host: String = "127.0.0.1", port: Int, timeout: Double,
                            owners: SocketOwners? = nil,
                            group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> Answer {
        let address = try LoopbackHost.address(host: host, port: port)
        let eventLoop = group.next()
        let promise = eventLoop.makePromise(of: Answer.self)
        let exchange = Exchange(promise: promise, bytes: request.encoded(host: host, port: port, close: true), owners: owners)
        let timeoutAmount = TimeAmount.nanoseconds(Int64(max(timeout, 0.001) * 1_000_000_000))
        let timer = eventLoop.scheduleTask(in: timeoutAmount) { exchange.fail(HTTPOneShotError.timedOut) }
        let bodyless = request.method == "HEAD"
        ClientBootstrap(group: eventLoop)
            .connectTimeout(timeoutAmount)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(LoadResponseDecoder(bodyless: bodyless) { event in
                        switch event {
                        case .response(let response):
                            exchange.succeed(status: response.status, headerPid: response.workerPid,
                                             body: Array(response.body.readableBytesView), headerHost: response.workerHost)
                        case .closed:
                            exchange.fail(HTTPOneShotError.closedBeforeAnswer)
                        }
                    })
                }
            }
            .connect(to: address)
            .whenComplete { result in
                switch result {
                case .success(let channel): exchange.connected(channel)
                case .failure(let error): exchange.fail(error)
                }
            }
        defer { timer.cancel() }
        return try await promise.futureResult.get()
    }
}

/// One exchange's state, touched only on its event loop.
private final class Exchange: @unchecked Sendable {
    let promise: EventLoopPromise<AppExchange.Answer>
    let bytes: [UInt8]
    let owners: SocketOwners?
    var channel: Channel?
    var owner: SocketOwners.Lookup?
    private(set) var isDone = false

    init(promise: EventLoopPromise<AppExchange.Answer>, bytes: [UInt8], owners: SocketOwners?) {
        self.promise = promise
        self.bytes = bytes
        self.owners = owners
    }

    func connected(_ channel: Channel) {
        self.channel = channel
        if isDone {
            channel.close(promise: nil)  // timed out while connecting
            return
        }
        guard let owners, bytes.count > 1 else {
            channel.writeAndFlush(ByteBuffer(bytes: bytes), promise: nil)
            return
        }
        channel.writeAndFlush(ByteBuffer(bytes: bytes.dropLast()), promise: nil)
        // At most a second; then the last byte, named or not.
        owners.place(channel, bound: 1_000_000_000, stillWanted: { !self.isDone }, done: { lookup in
            self.owner = lookup
            channel.writeAndFlush(ByteBuffer(bytes: self.bytes.suffix(1)), promise: nil)
        })
    }

    func succeed(status: Int, headerPid: Int32?, body: [UInt8], headerHost: String? = nil) {
        guard !isDone else { return }
        isDone = true
        promise.succeed(AppExchange.Answer(status: status, headerPid: headerPid, body: body, headerHost: headerHost, owner: owner))
        channel?.close(promise: nil)
    }

    func fail(_ error: Error) {
        guard !isDone else { return }
        isDone = true
        promise.fail(error)
        channel?.close(promise: nil)
    }
}
