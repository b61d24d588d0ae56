import CSupport
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// One complete answer, with what the load generator records of it.
struct LoadResponse {
    var status: Int
    /// The connection may carry the next request after this answer.
    var keepAlive: Bool
    /// The X-Worker-Pid header, when present and a valid pid.
    var workerPid: Int32?
    var body: ByteBuffer
    /// X-Worker-Host, when the app sends it.
    var workerHost: String? = nil
    /// X-RateLimit-Remaining and -Reset, when the app sends them.
    var rateRemaining: Int32? = nil
    var rateReset: Double? = nil
    var trace: IncrementTrace? = nil
}

/// Decodes HTTP/1.0 and 1.1 responses on one connection straight from the
/// socket's bytes, one event per complete answer: the load generator's
/// sockets read into it (`read(from:)`), and `LoadResponseDecoder` feeds it
/// from a NIO channel (reads, resets, one-off exchanges).
///
/// It replaces NIO's HTTPResponseDecoder plus a collector: for a load
/// generator that sends one request at a time and reads a few fields of each
/// answer, building an `HTTPResponseHead` with all its headers and passing
/// three pipeline events per answer cost more CPU than the rest of the request.
/// This decoder reads only the status, Content-Length, Transfer-Encoding,
/// Connection and X-Worker-Pid, frames the body by Content-Length, chunks, or
/// the end of the connection, and bounds the head and the body. Anything it
/// cannot parse is a protocol error: it throws, takes no more bytes, and the
/// owner closes the connection and calls `ended()`, which reports the request
/// in flight as `.closed`.
///
/// The bytes may be split anywhere across reads. `onEvent` may close the
/// connection; one stream serves one connection.
final class ResponseStream {
    enum Event {
        case response(LoadResponse)
        /// The connection ended; `midAnswer` when part of an answer had
        /// arrived or the answer was malformed.
        case closed(midAnswer: Bool)
    }

    struct Limits: Sendable {
        /// Status line plus headers, and separately a chunked body's trailers.
        var headBytes = 16 * 1024
        var bodyBytes = 1024 * 1024
        /// A chunk-size line with its extensions.
        var chunkLineBytes = 4 * 1024
    }

    private enum State {
        case head
        case fixedBody(ResponseHead, length: Int)
        case chunkSize(ResponseHead)
        case chunkData(ResponseHead, remaining: Int)
        case chunkDataEnd(ResponseHead)
        case trailers(ResponseHead, seenBytes: Int)
        case untilClose(ResponseHead)
        /// An answer without keep-alive was delivered; later bytes are ignored.
        case finished
        case failed
        case closed
    }

    private let limits: Limits
    private let bodyless: Bool
    private let onEvent: (Event) -> Void
    private var state = State.head
    /// Received bytes not yet consumed. Usually one whole answer arrives in
    /// one read and this is nil again when the read is done.
    private var pending: ByteBuffer?
    /// `pending`'s storage while it is nil, read into again: no allocation per answer.
    private var spare: ByteBuffer?
    /// How much of `pending` has been searched for the end of the head.
    private var headScanned = 0
    /// A chunked or close-delimited body being gathered.
    private var body: ByteBuffer?

    /// `bodyless`: the requests are HEAD requests, whose answers have no body.
    init(limits: Limits = Limits(), bodyless: Bool = false, onEvent: @escaping (Event) -> Void) {
        self.limits = limits
        self.bodyless = bodyless
        self.onEvent = onEvent
    }

    /// Whether it takes more bytes: not after an answer without keep-alive,
    /// a protocol error, or the end.
    var isOpen: Bool {
        switch state {
        case .finished, .failed, .closed: return false
        default: return true
        }
    }

    /// What one read of the socket gave.
    enum ReadOutcome: Equatable {
        case bytes(Int)
        /// The peer closed its side: call `ended()`.
        case endOfStream
        /// Nothing to read yet.
        case wouldBlock
        /// A reset or another error (errno): the connection is over; call `ended()`.
        case error(Int32)
    }

    /// Reads what the socket has (one read(2), non-blocking) straight into the
    /// stream's buffer and decodes it. Throws a protocol error (the owner
    /// closes the connection, then calls `ended()`).
    func read(from fd: Int32) throws(ResponseDecoderError) -> ReadOutcome {
        var buffer = pending ?? takeSpare()
        pending = nil  // one owner while the kernel writes into it: no copy
        if buffer.readerIndex >= 4096 { buffer.discardReadBytes() }  // keeps leftovers from growing
        var result = 0
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 4096) { space in
            result = sl_read(fd, space.baseAddress, UInt(space.count))
            return max(result, 0)
        }
        pending = buffer
        guard result > 0 else {
            settle()
            if result == 0 { return .endOfStream }
            return result == -Int(EAGAIN) ? .wouldBlock : .error(Int32(-result))
        }
        if isOpen { try decodeOrFail() } else { pending = nil }
        settle()
        return .bytes(result)
    }

    /// Bytes that arrived some other way (a NIO channel).
    func received(_ incoming: inout ByteBuffer) throws(ResponseDecoderError) {
        guard isOpen else { return }
        if pending == nil {
            pending = incoming
        } else {
            // Keep leftovers from growing with every partial read.
            if pending!.readerIndex >= 4096 { pending!.discardReadBytes() }
            pending!.writeBuffer(&incoming)
        }
        try decodeOrFail()
        if let left = pending, left.readableBytes == 0 {
            pending = nil  // lets NIO reuse its receive buffer
            headScanned = 0
        }
    }

    /// The connection ended (the peer closed it, it broke, or its owner closed
    /// it after a protocol error): an answer delimited by the close is
    /// complete now, and a request in flight is reported `.closed`.
    /// `cleanly`: the peer closed its side (end of stream). After a reset or
    /// another error a body delimited by the close may be cut short, so it is
    /// no answer: the request is reported `.closed(midAnswer: true)`.
    func ended(cleanly: Bool = true) {
        let midAnswer: Bool
        switch state {
        case .closed:
            return
        case .untilClose where !cleanly:
            midAnswer = true
        case .untilClose(let head):
            // The end of the connection is the end of this body.
            let finished = body ?? ByteBuffer()
            body = nil
            state = .finished
            onEvent(.response(LoadResponse(status: head.status, keepAlive: false, workerPid: head.workerPid, body: finished,
                                           workerHost: head.workerHost, rateRemaining: head.rateRemaining, rateReset: head.rateReset, trace: head.trace)))
            midAnswer = false
        case .head:
            midAnswer = (pending?.readableBytes ?? 0) > 0
        case .finished:
            midAnswer = false
        case .failed, .fixedBody, .chunkSize, .chunkData, .chunkDataEnd, .trailers:
            midAnswer = true
        }
        state = .closed
        pending = nil
        body = nil
        onEvent(.closed(midAnswer: midAnswer))
    }

    private func decodeOrFail() throws(ResponseDecoderError) {
        do {
            try decode()
        } catch {
            state = .failed
            pending = nil
            body = nil
            throw error
        }
    }

    /// Once everything read is consumed, keeps the storage for the next read.
    private func settle() {
        guard let left = pending, left.readableBytes == 0 else { return }
        pending = nil
        headScanned = 0
        spare = left
    }

    private func takeSpare() -> ByteBuffer {
        guard var buffer = spare else { return ResponseStream.allocator.buffer(capacity: 8192) }
        spare = nil
        buffer.clear()
        return buffer
    }

    private static let allocator = ByteBufferAllocator()

    // MARK: Decoding

    /// Consumes as much of `pending` as makes progress; returns when it needs
    /// more bytes or stopped taking them.
    private func decode() throws(ResponseDecoderError) {
        while pending != nil {
            switch state {
            case .head:
                guard let head = try takeHead() else { return }
                switch head.framing {
                case _ where head.isInterim:
                    continue  // 100 Continue and the like: the real answer follows
                case .none:
                    deliver(head, body: pending!.getSlice(at: pending!.readerIndex, length: 0)!)
                case .length(let length):
                    state = .fixedBody(head, length: length)
                case .chunked:
                    body = ResponseStream.allocator.buffer(capacity: 256)
                    state = .chunkSize(head)
                case .untilClose:
                    body = ResponseStream.allocator.buffer(capacity: 256)
                    state = .untilClose(head)
                }
            case .fixedBody(let head, let length):
                guard let slice = pending!.readSlice(length: length) else { return }
                deliver(head, body: slice)
            case .chunkSize(let head):
                guard let size = try takeChunkSize() else { return }
                state = size == 0 ? .trailers(head, seenBytes: 0) : .chunkData(head, remaining: size)
            case .chunkData(let head, let remaining):
                let count = min(remaining, pending!.readableBytes)
                guard count > 0 else { return }
                var part = pending!.readSlice(length: count)!
                body!.writeBuffer(&part)
                state = count == remaining ? .chunkDataEnd(head) : .chunkData(head, remaining: remaining - count)
            case .chunkDataEnd(let head):
                guard try takeLineEnd() else { return }
                state = .chunkSize(head)
            case .trailers(let head, let seenBytes):
                guard let line = try takeTrailerLine(seenBytes: seenBytes) else { return }
                if line.isLast {
                    let finished = body!
                    body = nil
                    deliver(head, body: finished)
                } else {
                    state = .trailers(head, seenBytes: seenBytes + line.bytes)
                }
            case .untilClose:
                var rest = pending!
                pending = nil
                guard body!.readableBytes + rest.readableBytes <= limits.bodyBytes else { throw .bodyTooLarge }
                body!.writeBuffer(&rest)
            case .finished, .failed, .closed:
                return
            }
        }
    }

    /// Sets the next state before telling the owner, who may close the
    /// channel from `onEvent` (and so re-enter channelInactive).
    private func deliver(_ head: ResponseHead, body: ByteBuffer) {
        if head.keepAlive {
            state = .head
        } else {
            state = .finished
            pending = nil
        }
        onEvent(.response(LoadResponse(status: head.status, keepAlive: head.keepAlive, workerPid: head.workerPid, body: body,
                                       workerHost: head.workerHost, rateRemaining: head.rateRemaining, rateReset: head.rateReset, trace: head.trace)))
    }

    /// The head, consumed from `pending`, once its empty line has arrived.
    private func takeHead() throws(ResponseDecoderError) -> ResponseHead? {
        let searchFrom = headScanned
        let end: Int? = pending!.withUnsafeReadableBytes { bytes in
            // Newline to newline (memchr): the head ends at one that closes an empty line.
            var from = searchFrom
            while let i = HTTPBytes.index(of: UInt8(ascii: "\n"), in: bytes, from: from) {
                if (i >= 1 && bytes[i - 1] == UInt8(ascii: "\n"))
                    || (i >= 2 && bytes[i - 1] == UInt8(ascii: "\r") && bytes[i - 2] == UInt8(ascii: "\n")) {
                    return i + 1
                }
                from = i + 1
            }
            return nil
        }
        guard let end else {
            headScanned = pending!.readableBytes
            if headScanned > limits.headBytes { throw .headTooLarge }
            return nil
        }
        guard end <= limits.headBytes else { throw .headTooLarge }
        let bodyless = self.bodyless
        let maxBody = limits.bodyBytes
        let head = try pending!.withUnsafeReadableBytes { (bytes) throws(ResponseDecoderError) in
            try ResponseHead.parse(UnsafeRawBufferPointer(rebasing: bytes[..<end]), bodyless: bodyless, maxBody: maxBody)
        }
        pending!.moveReaderIndex(forwardBy: end)
        headScanned = 0
        return head
    }

    /// The next line's length (without CR LF) and its full length, once it is complete.
    private func nextLine(limit: Int, tooLong: ResponseDecoderError) throws(ResponseDecoderError) -> (content: Int, total: Int)? {
        let found: (Int, Int)? = pending!.withUnsafeReadableBytes { bytes in
            guard let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) else { return nil }
            let content = newline > 0 && bytes[newline - 1] == UInt8(ascii: "\r") ? newline - 1 : newline
            return (content, newline + 1)
        }
        guard let found else {
            if pending!.readableBytes > limit { throw tooLong }
            return nil
        }
        guard found.1 <= limit else { throw tooLong }
        return found
    }

    /// "1*HEXDIG [BWS] [; extensions]": the size, with its line consumed.
    private func takeChunkSize() throws(ResponseDecoderError) -> Int? {
        guard let line = try nextLine(limit: limits.chunkLineBytes, tooLong: .badChunk) else { return nil }
        let room = limits.bodyBytes - body!.readableBytes
        let size = try pending!.withUnsafeReadableBytes { (bytes) throws(ResponseDecoderError) -> Int in
            var size = 0
            var i = 0
            while i < line.content, let digit = HTTPBytes.hexValue(bytes[i]) {
                size = size * 16 + digit
                if size > room { throw .bodyTooLarge }  // also keeps it from overflowing
                i += 1
            }
            guard i > 0 else { throw .badChunk }
            while i < line.content, HTTPBytes.isBlank(bytes[i]) { i += 1 }
            guard i == line.content || bytes[i] == UInt8(ascii: ";") else { throw .badChunk }
            return size
        }
        pending!.moveReaderIndex(forwardBy: line.total)
        return size
    }

    /// The CR LF after a chunk's data: true once consumed, false until it has arrived.
    private func takeLineEnd() throws(ResponseDecoderError) -> Bool {
        let bytes = pending!.readableBytesView
        guard let first = bytes.first else { return false }
        if first == UInt8(ascii: "\n") {
            pending!.moveReaderIndex(forwardBy: 1)
            return true
        }
        guard first == UInt8(ascii: "\r") else { throw .badChunk }
        guard bytes.count >= 2 else { return false }
        guard bytes[bytes.startIndex + 1] == UInt8(ascii: "\n") else { throw .badChunk }
        pending!.moveReaderIndex(forwardBy: 2)
        return true
    }

    /// One trailer line, consumed and otherwise ignored; the empty line is the last.
    private func takeTrailerLine(seenBytes: Int) throws(ResponseDecoderError) -> (isLast: Bool, bytes: Int)? {
        guard let line = try nextLine(limit: limits.headBytes - seenBytes, tooLong: .headTooLarge) else { return nil }
        if line.content > 0 {
            let hasName = pending!.withUnsafeReadableBytes { bytes in
                guard let colon = bytes[..<line.content].firstIndex(of: UInt8(ascii: ":")), colon > 0 else { return false }
                return bytes[..<colon].allSatisfy(HTTPBytes.isTokenByte)
            }
            guard hasName else { throw .malformedHeader }
        }
        pending!.moveReaderIndex(forwardBy: line.total)
        return (line.content == 0, line.total)
    }
}

/// `ResponseStream` as a NIO channel handler, for the exchanges that run on
/// NIO channels (a worker's read, a reset, a one-off request): one event per
/// complete answer; a protocol error goes down the pipeline and closes the
/// channel, and the request in flight ends as `.closed`.
final class LoadResponseDecoder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias Event = ResponseStream.Event
    typealias Limits = ResponseStream.Limits

    private let stream: ResponseStream

    /// `bodyless`: the requests are HEAD requests, whose answers have no body.
    init(limits: Limits = Limits(), bodyless: Bool = false, onEvent: @escaping (Event) -> Void) {
        stream = ResponseStream(limits: limits, bodyless: bodyless, onEvent: onEvent)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        do {
            try stream.received(&incoming)
        } catch {
            context.fireErrorCaught(error)
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        stream.ended(cleanly: !broken)
        context.fireChannelInactive()
    }

    /// A reset or a read error came before the end: a close-delimited body is cut short.
    private var broken = false

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // A reset or a read error: the connection is no longer usable, and
        // channelInactive reports the request that was in flight.
        broken = true
        context.close(promise: nil)
        context.fireErrorCaught(error)
    }
}
