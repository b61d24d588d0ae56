import NIOCore
import NIOHTTP1

/// One HTTP/1.1 connection of a worker, from raw bytes to answers, in one
/// handler: it parses each request head itself (`RequestHeadParser`), drops
/// any body, routes the request to the store and writes the whole answer as
/// one buffer. The rules a public-facing server needs live here too:
///
/// - one request at a time: bytes of pipelined requests wait until the answer
///   before them is out, and reading stops while too many wait;
/// - backpressure: while the socket cannot take more (the channel is not
///   writable: a client that pipelines and never reads), no further request
///   is taken and nothing more is read, so what a connection holds is bounded
///   by the write buffer's high-water mark plus `maxPendingBytes`;
/// - malformed heads get a JSON 400 (431 when too long, 505 for another HTTP
///   version), then the connection closes; other connections are untouched;
/// - a body over the limit gets a 413, at the head when its length is
///   declared;
/// - after such a last answer the worker sends FIN and reads and drops what
///   still comes, for a bounded time and amount, so the answer reaches the
///   client before the close;
/// - a head that has begun must be complete within the head timeout (408);
///   a 408 never replaces an answer still owed: it follows it; a body must be
///   complete within the body timeout of its head (408), however it trickles;
/// - a partial head is scanned only where new bytes arrived
///   (`RequestHeadParser.worthParsing`), so a head sent byte by byte is not
///   parsed again from its start on every read;
/// - a connection with no request in flight and no head begun is closed after
///   the idle timeout, as is one whose body stops coming; a slow store call is
///   never cut off.
///
/// Both clocks share one timer per connection, re-armed only when it fires or
/// when a partial head needs an earlier deadline, so a request costs no timer.
final class WorkerConnection: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = Never
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum Phase {
        /// Waiting for (the rest of) a request head.
        case head
        /// Dropping a body of a declared length.
        case body(RequestHead, remaining: Int)
        /// Dropping a chunked body.
        case chunkedBody(RequestHead, ChunkedBodyReader)
        /// The request is with the store; bytes that come meanwhile wait in `pending`.
        case answering(keepAlive: Bool)
        /// A last answer is out: dropping what comes until the body ends (after a
        /// 413), the client closes, `drainBytes` or `until`.
        case draining(Drain, dropped: Int, until: NIODeadline)
        /// Closed, or closing after a last answer: nothing more is read.
        case closed
    }

    enum Drain {
        /// The rest of a refused body.
        case length(remaining: Int)
        case chunked(ChunkedBodyReader)
        /// Anything, until the client closes.
        case untilClose
    }

    /// Past this many waiting bytes, reading stops until the answer before them is out.
    private static let maxPendingBytes = 64 << 10

    private let app: CounterApp
    let limits: HTTPLimits
    var phase = Phase.head
    /// Bytes read and not yet parsed.
    private var pending: ByteBuffer?
    /// The last read or answer, for the idle timeout.
    var lastActivity = NIODeadline.now()
    /// When the first byte of a head that is not complete yet arrived.
    var headStarted: NIODeadline?
    /// How far the waiting head has been scanned for its end.
    private var headScan = RequestHeadParser.Scan()
    /// When the body being read must be complete.
    var bodyDeadline: NIODeadline?
    /// The head clock ran out while an answer was owed: the 408 follows that answer.
    var headOverdue = false
    var clock: Scheduled<Void>?
    var clockDeadline = NIODeadline.distantFuture
    /// Set while `process` runs, so an answer made at once does not re-enter it.
    private var processing = false
    private var unflushed = false
    /// A read the channel asked for, held back while too many bytes wait.
    private var readHeld = false
    /// The last increment answer's buffer, for the next one.
    private var spareBuffer: ByteBuffer?
    /// The request being answered is a HEAD: its answer has no body.
    private var answeringHead = false

    init(app: CounterApp, limits: HTTPLimits) {
        self.app = app
        self.limits = limits
    }

    // MARK: - Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { started(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        started(context: context)
        context.fireChannelActive()
    }

    private func started(context: ChannelHandlerContext) {
        guard clock == nil else { return }
        lastActivity = .now()
        arm(at: lastActivity + limits.idleTimeout, context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        phase = .closed
        stopClock()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stopClock()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .closed = phase { return }
        var bytes = unwrapInboundIn(data)
        guard bytes.readableBytes > 0 else { return }
        lastActivity = .now()
        if case .answering = phase, headStarted == nil {
            // The next head begins to arrive while the store call runs: its clock starts now.
            startHeadClock(at: lastActivity, context: context)
        }
        if pending == nil || pending!.readableBytes == 0 {
            pending = bytes
        } else {
            pending!.writeBuffer(&bytes)
        }
        process(context: context)
    }

    func read(context: ChannelHandlerContext) {
        if mustHoldReads(context: context) {
            readHeld = true
        } else {
            context.read()
        }
    }

    /// Nothing more is read while the client does not take its answers, or
    /// while too many bytes wait behind an answer still owed.
    private func mustHoldReads(context: ChannelHandlerContext) -> Bool {
        if !context.channel.isWritable { return true }
        if case .answering = phase, let pending, pending.readableBytes > Self.maxPendingBytes { return true }
        return false
    }

    private func resumeReadsIfHeld(context: ChannelHandlerContext) {
        guard readHeld, !mustHoldReads(context: context) else { return }
        readHeld = false
        context.read()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            process(context: context)  // the requests that waited for the socket
            resumeReadsIfHeld(context: context)
        }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // One bad client never takes the worker down: drop just this connection.
        closeNow(context: context)
    }

    // MARK: - Requests

    /// Works through the waiting bytes until it needs more or an answer is owed.
    private func process(context: ChannelHandlerContext) {
        guard !processing else { return }
        processing = true
        defer {
            processing = false
            if unflushed {
                unflushed = false
                context.flush()
            }
        }
        while true {
            switch phase {
            case .closed, .answering:
                return
            case .head:
                guard let buffer = pending, buffer.readableBytes > 0 else { return }
                // Backpressure: the next request waits until the client takes its answers.
                guard context.channel.isWritable else { return }
                guard buffer.withUnsafeReadableBytes({ RequestHeadParser.worthParsing($0, scan: &headScan) }) else {
                    if headStarted == nil {
                        startHeadClock(at: .now(), context: context)
                    } else if headOverdue {
                        answer408(context: context)
                    }
                    return
                }
                let outcome: RequestHeadParser.Outcome
                do {
                    outcome = try RequestHeadParser.parse(buffer)
                } catch {
                    refuse(error, context: context)
                    continue  // to the drain
                }
                switch outcome {
                case .needMore:
                    if headStarted == nil {
                        startHeadClock(at: .now(), context: context)
                    } else if headOverdue {
                        answer408(context: context)
                    }
                    return
                case .head(let head, let consumed):
                    pending!.moveReaderIndex(forwardBy: consumed)
                    headScan = RequestHeadParser.Scan()
                    headStarted = nil
                    headOverdue = false
                    begin(head, context: context)
                }
            case .body(let head, let remaining):
                let taken = min(remaining, pending?.readableBytes ?? 0)
                pending?.moveReaderIndex(forwardBy: taken)
                if taken < remaining {
                    phase = .body(head, remaining: remaining - taken)
                    return
                }
                dispatch(head, context: context)
            case .chunkedBody(let head, var reader):
                guard pending != nil else { return }
                let ended: Bool
                do {
                    ended = try reader.consume(&pending!)
                } catch {
                    refuse(error, context: context)
                    continue  // to the drain
                }
                if reader.dataBytes > limits.maxBodyBytes {
                    refuseBody(declared: nil, drain: .chunked(reader), context: context)
                } else if ended {
                    dispatch(head, context: context)
                } else {
                    phase = .chunkedBody(head, reader)
                    return
                }
            case .draining(let drain, let dropped, let until):
                guard pending != nil else { return }
                let before = pending!.readableBytes
                var ended = false
                var rest = drain
                switch drain {
                case .length(let remaining):
                    let taken = min(remaining, before)
                    pending!.moveReaderIndex(forwardBy: taken)
                    ended = taken == remaining
                    rest = .length(remaining: remaining - taken)
                case .chunked(var reader):
                    // A framing error while draining just ends the drain.
                    ended = (try? reader.consume(&pending!)) ?? true
                    rest = .chunked(reader)
                case .untilClose:
                    pending!.moveReaderIndex(forwardBy: before)
                }
                let total = dropped + before - pending!.readableBytes
                if ended || total > limits.drainBytes {
                    // All of it read (closing sends no reset), or the client would not stop.
                    closeNow(context: context)
                    return
                }
                phase = .draining(rest, dropped: total, until: until)
                pending!.clear()  // nothing after a refused body is served
                return
            }
        }
    }

    /// A complete head: take its body, or answer it now.
    private func begin(_ head: RequestHead, context: ChannelHandlerContext) {
        switch head.body {
        case .none:
            dispatch(head, context: context)
        case .length(let declared) where declared > limits.maxBodyBytes:
            refuseBody(declared: declared, drain: .length(remaining: declared), context: context)
        case .length(let declared):
            sendContinueIfAsked(head, context: context)
            phase = .body(head, remaining: declared)
            startBodyClock(context: context)
        case .chunked:
            sendContinueIfAsked(head, context: context)
            phase = .chunkedBody(head, ChunkedBodyReader())
            startBodyClock(context: context)
        }
    }

    /// A client that sent `Expect: 100-continue` waits for this before its body.
    private func sendContinueIfAsked(_ head: RequestHead, context: ChannelHandlerContext) {
        guard head.expectsContinue, pending?.readableBytes ?? 0 == 0 else { return }
        var buffer = context.channel.allocator.buffer(capacity: WorkerAnswers.continue.count)
        buffer.writeBytes(WorkerAnswers.continue)
        context.write(wrapOutboundOut(buffer), promise: nil)
        unflushed = true
    }

    /// Routes a whole request to the store and answers when it is done.
    private func dispatch(_ head: RequestHead, context: ChannelHandlerContext) {
        phase = .answering(keepAlive: head.keepAlive)
        bodyDeadline = nil
        answeringHead = head.method == .other("HEAD")
        let app = self.app
        switch (head.route, head.method) {
        case (.increment, .post) where app.traces:
            app.backend.tracedIncrement(on: context.eventLoop).assumeIsolated().whenComplete { result in
                switch result {
                case .success(let (count, trace)):
                    app.handledIncrements.wrappingIncrement(ordering: .relaxed)
                    let extra = trace.map { [(IncrementTrace.header, $0.headerValue)] } ?? []
                    self.answer(.ok, body: "{\"count\":\(count),\(app.answers.identity)}", extra: extra, context: context)
                case .failure(let error):
                    self.answerStoreFailure(error, context: context)
                }
            }
        case (.increment, .post):
            if let inline = app.backend.inline {
                do {
                    let count = try inline.increment()
                    app.handledIncrements.wrappingIncrement(ordering: .relaxed)
                    answerCount(count, context: context)
                } catch {
                    answerStoreFailure(error, context: context)
                }
                return
            }
            app.backend.increment(on: context.eventLoop).assumeIsolated().whenComplete { result in
                switch result {
                case .success(let count):
                    app.handledIncrements.wrappingIncrement(ordering: .relaxed)
                    self.answerCount(count, context: context)
                case .failure(let error):
                    self.answerStoreFailure(error, context: context)
                }
            }
        case (.report, .get), (.report, .other("HEAD")):
            if let inline = app.backend.inline {
                do {
                    answerReport(try inline.read(), context: context)
                } catch {
                    answerStoreFailure(error, context: context)
                }
                return
            }
            app.backend.read(on: context.eventLoop).assumeIsolated().whenComplete { result in
                switch result {
                case .success(let count): self.answerReport(count, context: context)
                case .failure(let error): self.answerStoreFailure(error, context: context)
                }
            }
        case (.reset, .post):
            app.backend.reset(on: context.eventLoop).assumeIsolated().whenComplete { result in
                switch result {
                case .success: self.answerCount(0, context: context)
                case .failure(let error): self.answerStoreFailure(error, context: context)
                }
            }
        case (.increment, _), (.reset, _):
            let path = head.route == .increment ? "/increment" : "/reset"
            answer(.methodNotAllowed, body: app.answers.error("use POST \(path)"), extra: [("Allow", "POST")], context: context)
        case (.report, _):
            answer(.methodNotAllowed, body: app.answers.error("use GET /report"), extra: [("Allow", "GET, HEAD")], context: context)
        case (.other(let path), _):
            answer(.notFound, body: app.answers.error("no such endpoint \(path); try POST /increment, GET /report or POST /reset"),
                   context: context)
        }
    }

    // MARK: - Answers

    private func answerCount(_ count: Int, context: ChannelHandlerContext) {
        guard case .answering(let keepAlive) = phase else { return }  // the connection closed meanwhile
        // The previous answer's buffer, once the socket has taken it (then nothing else holds it): no allocation.
        var buffer = spareBuffer ?? context.channel.allocator.buffer(capacity: 256)
        spareBuffer = nil
        buffer.clear()
        app.answers.count(count, keepAlive: keepAlive, into: &buffer)
        spareBuffer = buffer
        send(buffer, keepAlive: keepAlive, context: context)
    }

    private func answerReport(_ count: Int, context: ChannelHandlerContext) {
        let app = self.app
        let handled = app.handledIncrements.load(ordering: .relaxed)
        let body = "{\"count\":\(count),\(app.answers.identity),\"handled\":\(handled)\(app.backend.reportFields),"
            + "\"strategy\":\"\(app.spec.strategy.rawValue)\",\"mode\":\"\(app.spec.mode.rawValue)\"}"
        answer(.ok, body: body, context: context)
    }

    private func answerStoreFailure(_ error: Error, context: ChannelHandlerContext) {
        let message = (error as? StoreError)?.message ?? "\(error)"
        let notCommitted = (error as? StoreError)?.notCommitted ?? false
        var body = "{\"error\":\(JSONText.quoted("store failed: \(message)")),\(app.answers.identity)"
        body += notCommitted ? ",\"committed\":false}" : "}"
        answer(.serviceUnavailable, body: body, extra: notCommitted ? [("X-Statelab-Committed", "false")] : [], context: context)
    }

    private func answer(_ status: HTTPResponseStatus, body: String, extra: [(String, String)] = [], context: ChannelHandlerContext) {
        guard case .answering(let keepAlive) = phase else { return }
        var buffer = context.channel.allocator.buffer(capacity: 256 + body.utf8.count)
        app.answers.write(status, body: body, keepAlive: keepAlive, extra: extra, headOnly: answeringHead, into: &buffer)
        send(buffer, keepAlive: keepAlive, context: context)
    }

    /// Writes the answer owed; then the connection goes on with the next
    /// request, or closes once the answer is written.
    private func send(_ buffer: ByteBuffer, keepAlive: Bool, context: ChannelHandlerContext) {
        lastActivity = .now()
        guard keepAlive else {
            phase = .closed
            context.writeAndFlush(wrapOutboundOut(buffer)).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
            return
        }
        phase = .head
        if processing {
            context.write(wrapOutboundOut(buffer), promise: nil)
            unflushed = true  // process flushes when it stops: one flush for a pipelined batch
            return
        }
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        process(context: context)
        resumeReadsIfHeld(context: context)
    }

    /// A last answer that is not owed to a request (400, 431, 505, 408,
    /// 413), then a FIN after it, while what the client still sends is read
    /// and dropped within bounds: closing on unread bytes would send a reset,
    /// which can destroy the answer before the client reads it.
    private func sendLast(_ status: HTTPResponseStatus, body: String, drain: Drain = .untilClose,
                          context: ChannelHandlerContext) {
        let until = NIODeadline.now() + limits.drainTime
        phase = .draining(drain, dropped: 0, until: until)
        arm(at: until, context: context)
        var buffer = context.channel.allocator.buffer(capacity: 256 + body.utf8.count)
        app.answers.write(status, body: body, keepAlive: false, into: &buffer)
        unflushed = false
        context.writeAndFlush(wrapOutboundOut(buffer)).assumeIsolated().whenComplete { result in
            switch result {
            case .success: context.close(mode: .output, promise: nil)
            case .failure: self.closeNow(context: context)
            }
        }
    }

    private func refuse(_ error: RequestHeadError, context: ChannelHandlerContext) {
        sendLast(error.status, body: app.answers.error(error.reason), context: context)
    }

    func answer408(context: ChannelHandlerContext) {
        let millis = limits.requestHeadTimeout.nanoseconds / 1_000_000
        sendLast(.requestTimeout, body: app.answers.error("the request head did not arrive completely within \(millis) ms"),
                 context: context)
    }

    func answerBody408(context: ChannelHandlerContext) {
        bodyDeadline = nil
        let millis = limits.requestBodyTimeout.nanoseconds / 1_000_000
        sendLast(.requestTimeout, body: app.answers.error("the request body did not arrive completely within \(millis) ms"),
                 context: context)
    }

    /// 413 (at the head when the length is declared, for a client that waits
    /// on `Expect: 100-continue`); the drain ends with the body.
    private func refuseBody(declared: Int?, drain: Drain, context: ChannelHandlerContext) {
        let size = declared.map { "of \($0) bytes " } ?? ""
        let body = app.answers.error("request body \(size)is over the limit of \(limits.maxBodyBytes) bytes; the API takes no body")
        sendLast(.payloadTooLarge, body: body, drain: drain, context: context)
    }

    func closeNow(context: ChannelHandlerContext) {
        if case .closed = phase, clock == nil { return }
        phase = .closed
        stopClock()
        context.close(promise: nil)
    }
}
