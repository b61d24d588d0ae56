import NIOCore

/// Serves one client connection: authenticates it, then answers its requests
/// against the shared `ManagerState`, in order. Runs on the server's only event
/// loop. Nothing a client sends can crash the server: bad input gets an error
/// frame (and, before authentication or for a frame too large, a close).
final class ManagerConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum Phase {
        case awaitingAnswer(challenge: [UInt8])
        case serving
        case waitingForLock
        case closed
    }

    /// Requests a client may pipeline while it waits for the lock.
    static let maxPendingRequests = 64
    /// How long a client may take to answer the challenge.
    static let authenticationTimeout = TimeAmount.seconds(10)

    private let connection: Int
    private let key: [UInt8]
    private let state: ManagerState
    private let log: @Sendable (String) -> Void
    private var phase: Phase = .closed
    private var pending: [ByteBuffer] = []
    private var context: ChannelHandlerContext?
    private var authenticationDeadline: Scheduled<Void>?

    init(connection: Int, key: [UInt8], state: ManagerState, log: @escaping @Sendable (String) -> Void) {
        self.connection = connection
        self.key = key
        self.state = state
        self.log = log
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        let challenge = ManagerAuthentication.makeChallenge()
        phase = .awaitingAnswer(challenge: challenge)
        send(challenge, context: context)
        authenticationDeadline = context.eventLoop.assumeIsolated().scheduleTask(in: Self.authenticationTimeout) { [self] in
            if case .awaitingAnswer = phase {
                refuse("did not answer the challenge within \(Self.authenticationTimeout.nanoseconds / 1_000_000_000) s")
            }
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        phase = .closed
        pending.removeAll()
        authenticationDeadline?.cancel()
        let pid = state.pid(of: connection)
        if state.forget(connection) {
            let who = pid == ManagerProtocol.undeclaredPID ? "no pid declared" : "pid \(pid)"
            log("manager: client \(connection) (\(who)) disconnected holding the lock; released")
        }
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = Array(buffer: unwrapInboundIn(data))
        switch phase {
        case .awaitingAnswer(let challenge):
            authenticate(answer: frame, challenge: challenge, context: context)
        case .serving where pending.isEmpty:
            serve(frame, context: context)
        case .serving, .waitingForLock:
            guard pending.count < Self.maxPendingRequests else {
                sendThenClose("error too many requests while waiting for the lock", context: context)
                log("manager: client \(connection) pipelined more than \(Self.maxPendingRequests) requests behind a lock; closed")
                return
            }
            pending.append(ByteBuffer(bytes: frame))
        case .closed:
            break
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if case .closed = phase { return }
        if let oversized = error as? ManagerFrameDecoder.OversizedFrame {
            log("manager: client \(connection) sent a frame of \(oversized.declaredLength) bytes (limit \(ManagerProtocol.maxFrameLength)); refused and closed")
            sendThenClose("error frame of \(oversized.declaredLength) bytes is over the limit of \(ManagerProtocol.maxFrameLength)", context: context)
        } else {
            log("manager: client \(connection) connection error: \(error); closed")
            phase = .closed
            context.close(promise: nil)
        }
    }

    // MARK: - Authentication

    private func authenticate(answer: [UInt8], challenge: [UInt8], context: ChannelHandlerContext) {
        guard answer.count == ManagerProtocol.challengeLength,
            ManagerAuthentication.isValid(answer: answer, key: key, challenge: challenge)
        else {
            refuse(answer.count == ManagerProtocol.challengeLength
                ? "wrong key"
                : "sent \(answer.count) bytes instead of a \(ManagerProtocol.challengeLength)-byte answer")
            return
        }
        phase = .serving
        authenticationDeadline?.cancel()
        send(Array(ManagerProtocol.welcome.utf8), context: context)
    }

    private func refuse(_ reason: String) {
        guard let context else { return }
        log("manager: client \(connection) refused: \(reason)")
        sendThenClose(ManagerProtocol.failure, context: context)
    }

    // MARK: - Requests

    private func serve(_ frame: [UInt8], context: ChannelHandlerContext) {
        let request: ManagerRequest
        do {
            request = try ManagerRequest(parsing: String(decoding: frame, as: UTF8.self))
        } catch {
            log("manager: client \(connection) sent a malformed request: \(error.reason)")
            reply(.error(error.reason), context: context)
            return
        }
        switch request {
        case .get:
            reply(.value(state.counter), context: context)
        case .set(let value):
            state.counter = value
            reply(.ok, context: context)
        case .incr:
            let (sum, overflow) = state.counter.addingReportingOverflow(1)
            guard !overflow else {
                reply(.error("counter would overflow"), context: context)
                return
            }
            state.counter = sum
            reply(.value(sum), context: context)
        case .reset:
            state.counter = 0
            reply(.ok, context: context)
        case .lock:
            requestLock(context: context)
        case .unlock:
            reply(state.unlock(by: connection) ? .ok : .error("this connection does not hold the lock"), context: context)
        case .declarePID(let pid):
            reply(state.declare(pid: pid, for: connection)
                ? .ok
                : .error("this connection already declared pid \(state.pid(of: connection))"), context: context)
        case .holder:
            reply(.value(Int(state.lockHolderPID)), context: context)
        case .releases:
            reply(.value(state.releasedCount), context: context)
        case .released:
            reply(.value(Int(state.lastReleasedPID)), context: context)
        }
    }

    private func requestLock(context: ChannelHandlerContext) {
        let outcome = state.requestLock(for: connection) { [self] in
            // Runs on the loop when the previous holder lets go.
            guard case .waitingForLock = phase, let context = self.context else { return }
            phase = .serving
            reply(.granted, context: context)
            // Drain later, not inside the releasing connection's call stack.
            context.eventLoop.assumeIsolated().execute { [self] in drainPending() }
        }
        switch outcome {
        case .granted: reply(.granted, context: context)
        case .queued: phase = .waitingForLock
        case .alreadyHolding: reply(.error("this connection already holds or awaits the lock"), context: context)
        }
    }

    /// Serves requests that arrived while this connection waited for the lock.
    private func drainPending() {
        while case .serving = phase, !pending.isEmpty, let context {
            let frame = pending.removeFirst()
            serve(Array(buffer: frame), context: context)
        }
    }

    // MARK: - Writing

    private func reply(_ reply: ManagerReply, context: ChannelHandlerContext) {
        send(Array(reply.text.utf8), context: context)
    }

    private func send(_ payload: [UInt8], context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: 4 + payload.count)
        buffer.writeManagerFrame(payload)
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    private func sendThenClose(_ text: String, context: ChannelHandlerContext) {
        if case .closed = phase { return }
        phase = .closed
        var buffer = context.channel.allocator.buffer(capacity: 4 + text.utf8.count)
        buffer.writeManagerFrame(Array(text.utf8))
        context.writeAndFlush(wrapOutboundOut(buffer)).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }
}
