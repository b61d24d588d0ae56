import NIOCore
import NIOPosix

/// redis atomic on the worker's own event loop: one connection per worker,
/// every request's INCR written to it as it comes, and the flush made once per
/// turn of the loop, so the requests that arrive together reach redis-server
/// in one write and come back in one read (auto-pipelining). Replies come in
/// order, so each is matched to the oldest command waiting. No store threads,
/// no thread hop, and redis-server handles a batch per system call.
///
/// Only INCR (and GET and SET for /report and /reset) go this way: the naive
/// and locked modes keep blocking sessions on store threads, since WATCH is
/// per-connection state and the naive race window is a sleep.
///
/// On a lost connection every command waiting fails (whether an INCR applied
/// is unknown, as with the blocking client); the next call connects again,
/// with `ReconnectBackoff` while the server cannot be reached. A command
/// without a reply within `timeout` drops the connection the same way.
final class RedisPipelineBackend: CounterBackend, @unchecked Sendable {
    // Mutable state is touched only on `loop`.
    private let loop: EventLoop
    private let url: RedisURL
    private let key: String
    private let timeout: TimeAmount
    /// `INCR key`, encoded once: the only command on the hot path.
    private let incrementCommand: [UInt8]
    private var channel: Channel?
    private var connecting: EventLoopFuture<Channel>?
    private var backoff = ReconnectBackoff()
    /// The connection a flush is scheduled for in this turn of the loop.
    private var flushScheduled: Channel?

    init(loop: EventLoop, url: RedisURL, key: String = "statelab:counter", timeout: TimeAmount = .seconds(10)) {
        self.loop = loop
        self.url = url
        self.key = key
        self.timeout = timeout
        self.incrementCommand = RESPEncoder.command(["INCR", key])
    }

    func increment(on caller: EventLoop) -> EventLoopFuture<Int> {
        let key = self.key
        return send(incrementCommand).flatMapThrowing { reply -> Int in
            guard case .integer(let value) = reply else { throw StoreError("redis INCR \(key): unexpected reply \(reply)") }
            return value
        }.hop(to: caller)
    }

    func read(on caller: EventLoop) -> EventLoopFuture<Int> {
        let key = self.key
        return send(RESPEncoder.command(["GET", key])).flatMapThrowing { try RedisSession.counter(from: $0, key: key) }.hop(to: caller)
    }

    func reset(on caller: EventLoop) -> EventLoopFuture<Void> {
        let key = self.key
        return send(RESPEncoder.command(["SET", key, "0"])).flatMapThrowing { reply in
            guard reply == .simpleString("OK") else { throw StoreError("redis SET \(key): expected OK, got \(reply)") }
        }.hop(to: caller)
    }

    var reportFields: String { "" }

    // MARK: - The connection

    /// Queues one command (encoded); its reply completes the future.
    private func send(_ command: [UInt8]) -> EventLoopFuture<RESPValue> {
        guard loop.inEventLoop else { return loop.flatSubmit { self.send(command) } }
        if let channel, channel.isActive {
            return write(command, to: channel)
        }
        return connect().flatMap { channel in self.write(command, to: channel) }
    }

    private func write(_ command: [UInt8], to channel: Channel) -> EventLoopFuture<RESPValue> {
        let promise = loop.makePromise(of: RESPValue.self)
        let bytes = channel.allocator.buffer(bytes: command)
        channel.write(RedisPipelineHandler.Command(bytes: bytes, reply: promise), promise: nil)
        if flushScheduled !== channel {
            // After the rest of this turn of the loop: one write for every command queued in it.
            flushScheduled = channel
            loop.execute {
                if self.flushScheduled === channel { self.flushScheduled = nil }
                channel.flush()
            }
        }
        return promise.futureResult
    }

    /// The open connection, or one being made (shared by every call meanwhile).
    private func connect() -> EventLoopFuture<Channel> {
        if let connecting { return connecting }
        if let failure = backoff.waiting() { return loop.makeFailedFuture(failure) }
        let url = self.url
        let timeout = self.timeout
        let address: SocketAddress
        do {
            address = try LoopbackHost.address(host: url.host, port: url.port)
        } catch {
            return loop.makeFailedFuture(StoreError("redis \(url): \(error)"))
        }
        let future = ClientBootstrap(group: loop)
            .connectTimeout(timeout)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(RedisPipelineHandler(timeout: timeout))
                }
            }
            .connect(to: address)
            .flatMap { channel in self.handshake(on: channel).map { channel } }
        connecting = future
        future.whenComplete { result in
            self.connecting = nil
            switch result {
            case .success(let channel):
                self.backoff.connected()
                self.channel = channel
                channel.closeFuture.whenComplete { _ in
                    if self.channel === channel { self.channel = nil }
                }
            case .failure:
                break
            }
        }
        return future.flatMapErrorThrowing { error -> Channel in
            let address = ServerAddress.text(host: url.host, port: url.port)
            let reason = (error as? StoreError)?.message ?? "cannot connect to \(address): \(error)"
            throw self.backoff.failed(reason)
        }
    }

    /// AUTH and SELECT as the blocking client sends them, before any command.
    private func handshake(on channel: Channel) -> EventLoopFuture<Void> {
        var steps: [[String]] = []
        if let password = url.password {
            steps.append(url.username.map { ["AUTH", $0, password] } ?? ["AUTH", password])
        }
        if url.database != 0 { steps.append(["SELECT", String(url.database)]) }
        var done = loop.makeSucceededVoidFuture()
        for step in steps {
            done = done.flatMap {
                self.write(RESPEncoder.command(step), to: channel).flatMapThrowing { reply in
                    guard reply == .simpleString("OK") else {
                        channel.close(promise: nil)
                        throw StoreError("redis \(step[0]) failed: \(reply)")
                    }
                }
            }
        }
        return done
    }
}

/// The pipeline of one connection: commands out, replies matched to the
/// oldest waiting command, and every waiting command failed when the
/// connection ends.
final class RedisPipelineHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = Command
    typealias OutboundOut = ByteBuffer

    struct Command: Sendable {
        var bytes: ByteBuffer
        var reply: EventLoopPromise<RESPValue>
    }

    private let parser = RESPParser()
    private let timeout: TimeAmount
    private var waiting = CircularBuffer<(reply: EventLoopPromise<RESPValue>, sent: NIODeadline)>()
    private var received: [UInt8] = []
    private var clock: Scheduled<Void>?

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let command = unwrapOutboundIn(data)
        waiting.append((command.reply, .now()))
        if clock == nil { arm(in: timeout, context: context) }
        context.write(wrapOutboundOut(command.bytes), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        received.append(contentsOf: bytes.readBytes(length: bytes.readableBytes) ?? [])
        var start = 0
        while start < received.count {
            switch parser.parse(received[start...]) {
            case .incomplete:
                received.removeFirst(start)
                return
            case .complete(let value, let consumed):
                start += consumed
                guard let next = waiting.popFirst() else {
                    fail(StoreError("redis: a reply came that no command waited for"), context: context)
                    return
                }
                if case .error(let message) = value {
                    next.reply.fail(StoreError("redis: \(message)"))
                } else {
                    next.reply.succeed(value)
                }
            case .invalid(let why):
                fail(StoreError("redis: protocol error: \(why)"), context: context)
                return
            }
        }
        received.removeAll(keepingCapacity: true)
    }

    func channelInactive(context: ChannelHandlerContext) {
        failWaiting(StoreError("redis: the connection to redis-server closed"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        fail(StoreError("redis: \(error)"), context: context)
    }

    private func fail(_ error: StoreError, context: ChannelHandlerContext) {
        failWaiting(error)
        context.close(promise: nil)
    }

    private func failWaiting(_ error: StoreError) {
        clock?.cancel()
        clock = nil
        while let next = waiting.popFirst() { next.reply.fail(error) }
    }

    /// One timer per connection: when it fires, the oldest command waiting is
    /// either overdue (the connection is dropped) or sets the next check.
    private func arm(in delay: TimeAmount, context: ChannelHandlerContext) {
        clock = context.eventLoop.assumeIsolated().scheduleTask(in: delay) { [self] in
            self.clock = nil
            guard let oldest = self.waiting.first else { return }
            let deadline = oldest.sent + self.timeout
            if deadline <= .now() {
                self.fail(StoreError("redis: no reply within \(self.timeout.nanoseconds / 1_000_000_000) s"), context: context)
            } else {
                self.arm(in: deadline - .now(), context: context)
            }
        }
    }
}
