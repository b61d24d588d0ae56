import NIOCore
import NIOEmbedded

/// Entry points for fuzzing the input parsers (the `statelab-fuzz` tool and
/// the corpus-replay test call them). Each takes arbitrary bytes and must
/// never crash on them: a refused input is an expected outcome, while a
/// broken invariant stops the process with a precondition failure, which
/// libFuzzer reports as a crash and keeps as a reproducer.
///
/// Where the bytes are split into pieces (a head or a body arriving over
/// several reads), the split points come from a hash of the input, so a
/// given input is always replayed the same way.
public enum FuzzEntryPoints {
    /// The four targets, by the names `statelab-fuzz` and `Fuzz/run.sh` use.
    public enum Target: String, CaseIterable, Sendable {
        case head, chunked, response, scenario
    }

    /// Runs `bytes` through `target`.
    public static func run(_ target: Target, _ bytes: UnsafeRawBufferPointer) {
        switch target {
        case .head: requestHead(bytes)
        case .chunked: chunkedBody(bytes)
        case .response: loadResponse(bytes)
        case .scenario: scenario(bytes)
        }
    }

    public static func run(_ target: Target, _ bytes: [UInt8]) {
        bytes.withUnsafeBytes { run(target, $0) }
    }

    // MARK: - 1. The worker's request head parser

    /// `RequestHeadParser.parse` on the whole input, then as a worker sees
    /// it over two reads (the first piece, then everything), then head after
    /// head as a pipelining client would send them, with their bodies.
    public static func requestHead(_ bytes: UnsafeRawBufferPointer) {
        let whole = parseHead(bytes)
        checkHead(whole, of: bytes)

        // Two reads: the worker parses what it has, and on needMore parses
        // again once the rest has been appended. The answer must not depend
        // on where the bytes were split.
        let cut = Int(Split.hash(bytes) % UInt64(bytes.count + 1))
        var pending = ByteBuffer(bytes: UnsafeRawBufferPointer(rebasing: bytes[..<cut]))
        let first = parseHead(pending)
        checkHead(first, of: UnsafeRawBufferPointer(rebasing: bytes[..<cut]))
        var stitched = first
        if case .success(.needMore) = first {
            pending.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[cut...]))
            stitched = parseHead(pending)
        }
        precondition(stitched == whole, "head split at \(cut) of \(bytes.count): \(brief(stitched)), whole: \(brief(whole))")

        // As the worker reads: pieces appended one after another, parsed only
        // when `worthParsing` says the bytes may now hold more than a partial
        // head. Skipping the parses in between must not change the outcome.
        let scanned = scanInPieces(bytes, cuts: Split.cuts(bytes, count: 8))
        precondition(sameAsWhole(scanned, whole, bytes), "head scanned in pieces: \(brief(scanned)), whole: \(brief(whole))")
        let byteAtATime = scanInPieces(bytes, cuts: bytes.count <= 4096 ? Array(1..<max(1, bytes.count)) : [])
        precondition(sameAsWhole(byteAtATime, whole, bytes), "head scanned a byte at a time: \(brief(byteAtATime)), whole: \(brief(whole))")

        requestStream(bytes)
    }

    /// The scanned outcome is the one-piece outcome, with one allowed
    /// difference: a bad header line in a head whose end has not arrived
    /// waits for that end (or the head timeout, or the size limit) before it
    /// is refused, since `worthParsing` parses at the request line and at the
    /// end only. Where the bytes hold an end (an empty line after the request
    /// line, found here independently of the scanner), the two must agree.
    private static func sameAsWhole(_ scanned: Result<RequestHeadParser.Outcome, RequestHeadError>,
                                    _ whole: Result<RequestHeadParser.Outcome, RequestHeadError>,
                                    _ bytes: UnsafeRawBufferPointer) -> Bool {
        if scanned == whole { return true }
        guard case .success(.needMore) = scanned, case .failure = whole else { return false }
        return !holdsHeadEnd(bytes)
    }

    /// An LF, then an optional CR, then an LF, after the first byte that is neither CR nor LF.
    private static func holdsHeadEnd(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let start = bytes.firstIndex(where: { $0 != 0x0D && $0 != 0x0A }) else { return false }
        var index = start
        while index < bytes.count {
            if bytes[index] == 0x0A {
                if index + 1 < bytes.count && bytes[index + 1] == 0x0A { return true }
                if index + 2 < bytes.count && bytes[index + 1] == 0x0D && bytes[index + 2] == 0x0A { return true }
            }
            index += 1
        }
        return false
    }

    /// What `WorkerConnection` does with a head arriving in pieces cut at `cuts`.
    private static func scanInPieces(_ bytes: UnsafeRawBufferPointer, cuts: [Int]) -> Result<RequestHeadParser.Outcome, RequestHeadError> {
        var buffer = ByteBuffer()
        var scan = RequestHeadParser.Scan()
        var start = 0
        var outcome: Result<RequestHeadParser.Outcome, RequestHeadError> = .success(.needMore)
        for end in cuts.filter({ $0 > 0 && $0 < bytes.count }) + [bytes.count] where end > start {
            buffer.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[start..<end]))
            start = end
            let before = scan.offset
            let worth = buffer.withUnsafeReadableBytes { RequestHeadParser.worthParsing($0, scan: &scan) }
            precondition(scan.offset >= before && scan.offset <= buffer.readableBytes, "the scan went back or past the bytes")
            guard worth else { continue }
            outcome = parseHead(buffer)
            if case .success(.needMore) = outcome { continue }
            return outcome
        }
        return outcome
    }

    private static func parseHead(_ bytes: UnsafeRawBufferPointer) -> Result<RequestHeadParser.Outcome, RequestHeadError> {
        parseHead(ByteBuffer(bytes: bytes))
    }

    private static func parseHead(_ buffer: ByteBuffer) -> Result<RequestHeadParser.Outcome, RequestHeadError> {
        do throws(RequestHeadError) {
            return .success(try RequestHeadParser.parse(buffer))
        } catch {
            return .failure(error)
        }
    }

    /// What must hold of any outcome of `bytes`.
    private static func checkHead(_ result: Result<RequestHeadParser.Outcome, RequestHeadError>, of bytes: UnsafeRawBufferPointer) {
        switch result {
        case .success(.needMore):
            precondition(bytes.count <= RequestHeadParser.maxHeadBytes, "needMore with \(bytes.count) bytes, over the head limit")
        case .success(.head(let head, let consumed)):
            // The shortest head is "M / HTTP/1.1\n\n".
            precondition(consumed >= 14 && consumed <= bytes.count, "consumed \(consumed) of \(bytes.count)")
            precondition(consumed <= RequestHeadParser.maxHeadBytes, "a head of \(consumed) bytes, over the limit")
            precondition(bytes[consumed - 1] == 0x0A, "a head ends in LF")
            // A head depends on its own bytes only: parsed alone it is the same head.
            let alone = parseHead(UnsafeRawBufferPointer(rebasing: bytes[..<consumed]))
            precondition(alone == result, "the head alone parses as \(brief(alone)), in its input as \(brief(result))")
            switch head.method {
            case .get, .post: break
            case .other(let name): precondition(!name.isEmpty && name != "GET" && name != "POST", "method \(name)")
            }
            switch head.route {
            case .increment, .report, .reset: break
            case .other(let path):
                // Empty when the target starts with "?".
                precondition(!["/increment", "/report", "/reset"].contains(path), "route \(path)")
            }
            if case .length(let length) = head.body { precondition(length > 0, "a body of length \(length)") }
        case .failure(let error):
            precondition(!error.reason.isEmpty, "a refusal without a reason")
            precondition(error.status.code >= 400 && error.status.code < 600, "refused with \(error.status)")
        }
    }

    /// An outcome for a precondition message, cut short (a head can hold a 32 KiB path).
    private static func brief(_ value: some Any) -> String {
        let text = String(describing: value)
        return text.count <= 300 ? text : String(text.prefix(300)) + "... (\(text.count) characters)"
    }

    /// Head after head, as one connection's bytes: each body skipped by its
    /// length or read by a `ChunkedBodyReader`, until the bytes run out or
    /// something is refused.
    private static func requestStream(_ bytes: UnsafeRawBufferPointer) {
        var pending = ByteBuffer(bytes: bytes)
        // Each round consumes at least one byte, so this ends.
        for _ in 0...bytes.count {
            guard pending.readableBytes > 0 else { return }
            let before = pending.readableBytes
            guard case .success(.head(let head, let consumed)) = parseHead(pending) else { return }
            precondition(consumed <= pending.readableBytes)
            pending.moveReaderIndex(forwardBy: consumed)
            switch head.body {
            case .none:
                break
            case .length(let length):
                pending.moveReaderIndex(forwardBy: min(length, pending.readableBytes))
            case .chunked:
                var reader = ChunkedBodyReader()
                let ended: Bool
                do throws(RequestHeadError) {
                    ended = try reader.consume(&pending)
                } catch {
                    return
                }
                if !ended { return }
            }
            precondition(pending.readableBytes < before, "a request took no bytes")
        }
        preconditionFailure("more requests than bytes")
    }

    // MARK: - 2. The worker's chunked body reader

    /// One way of feeding a body to a `ChunkedBodyReader`, and where it stopped.
    private struct ChunkedRun: Equatable {
        var ended = false
        var error: RequestHeadError?
        var dataBytes = 0
        /// Bytes taken from the input when it stopped (ended, refused, or ran out).
        var consumed = 0
    }

    /// The bytes as one read, in a few reads split at hash-derived points,
    /// and (when short) one byte per read: all three must end the same way.
    public static func chunkedBody(_ bytes: UnsafeRawBufferPointer) {
        let whole = readChunked(bytes, cuts: [])
        let pieces = readChunked(bytes, cuts: Split.cuts(bytes, count: 4))
        precondition(pieces == whole, "chunked in pieces: \(pieces), whole: \(whole)")
        if bytes.count <= 4096 {
            let byByte = readChunked(bytes, cuts: bytes.count > 1 ? Array(1..<bytes.count) : [])
            precondition(byByte == whole, "chunked byte by byte: \(byByte) whole: \(whole)")
        }
    }

    /// Feeds the bytes cut at `cuts` (ascending) the way a worker does: each
    /// read appended to what is pending, then `consume`.
    private static func readChunked(_ bytes: UnsafeRawBufferPointer, cuts: [Int]) -> ChunkedRun {
        var reader = ChunkedBodyReader()
        var pending = ByteBuffer()
        var run = ChunkedRun()
        var start = 0
        for end in cuts + [bytes.count] {
            pending.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[start..<end]))
            start = end
            let readerIndex = pending.readerIndex
            let dataBefore = reader.dataBytes
            let ended: Bool
            do throws(RequestHeadError) {
                ended = try reader.consume(&pending)
            } catch {
                run.error = error
                ended = false
            }
            precondition(pending.readerIndex >= readerIndex, "the reader index moved back")
            precondition(reader.dataBytes >= dataBefore, "dataBytes went down")
            precondition(reader.dataBytes - dataBefore <= pending.readerIndex - readerIndex, "more data than bytes read")
            run.dataBytes = reader.dataBytes
            run.consumed = start - pending.readableBytes
            if run.error != nil { return run }
            if ended {
                run.ended = true
                // Once ended it takes nothing more.
                let after = pending.readerIndex
                do throws(RequestHeadError) {
                    let again = try reader.consume(&pending)
                    precondition(again, "an ended body is not ended any more")
                } catch {
                    preconditionFailure("an ended body refused more bytes: \(error)")
                }
                precondition(pending.readerIndex == after && reader.dataBytes == run.dataBytes, "an ended body took more bytes")
                return run
            }
            precondition(pending.readableBytes == 0, "consume left \(pending.readableBytes) bytes without ending")
        }
        precondition(run.dataBytes <= run.consumed)
        return run
    }

    // MARK: - 3. The load generator's response decoder

    /// What a `LoadResponseDecoder` told its owner, and the error it raised.
    private enum ResponseEvent: Equatable {
        case response(status: Int, keepAlive: Bool, pid: Int32?, body: [UInt8])
        case closed(midAnswer: Bool)
        case error(ResponseDecoderError)
    }

    /// `LoadResponseDecoder` in an `EmbeddedChannel`, as LoadConnection sets
    /// it up, with the default limits and with small ones (so the limits are
    /// reached within a short input), fed whole and in pieces, then closed by
    /// the server. The events must not depend on how the bytes were split.
    public static func loadResponse(_ bytes: UnsafeRawBufferPointer) {
        let hash = Split.hash(bytes)
        let cuts = Split.cuts(bytes, count: 3)
        let normal = decodeResponses(bytes, cuts: [], limits: LoadResponseDecoder.Limits(), bodyless: false)
        let normalPieces = decodeResponses(bytes, cuts: cuts, limits: LoadResponseDecoder.Limits(), bodyless: false)
        precondition(normalPieces == normal, "responses in pieces \(cuts): \(brief(normalPieces)), whole: \(brief(normal))")

        let small = LoadResponseDecoder.Limits(headBytes: 200, bodyBytes: 300, chunkLineBytes: 24)
        let bodyless = hash & 1 == 1
        let tight = decodeResponses(bytes, cuts: [], limits: small, bodyless: bodyless)
        let tightPieces = decodeResponses(bytes, cuts: cuts, limits: small, bodyless: bodyless)
        precondition(tightPieces == tight, "small limits, in pieces \(cuts): \(brief(tightPieces)), whole: \(brief(tight))")
    }

    private static func decodeResponses(_ bytes: UnsafeRawBufferPointer, cuts: [Int], limits: LoadResponseDecoder.Limits,
                                        bodyless: Bool) -> [ResponseEvent] {
        final class Log {
            var events: [ResponseEvent] = []
        }
        let log = Log()
        let channel = EmbeddedChannel()
        let decoder = LoadResponseDecoder(limits: limits, bodyless: bodyless) { event in
            switch event {
            case .response(let response):
                log.events.append(.response(status: response.status, keepAlive: response.keepAlive,
                                            pid: response.workerPid, body: Array(response.body.readableBytesView)))
            case .closed(let midAnswer):
                log.events.append(.closed(midAnswer: midAnswer))
            }
        }
        do {
            try channel.pipeline.syncOperations.addHandler(decoder)
            // An EmbeddedChannel's connect only marks it active: nothing leaves the process.
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 80)).wait()
        } catch {
            preconditionFailure("cannot set up the EmbeddedChannel: \(error)")
        }

        var start = 0
        for end in cuts + [bytes.count] where channel.isActive {
            var buffer = channel.allocator.buffer(capacity: end - start)
            buffer.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[start..<end]))
            start = end
            do {
                let inbound = try channel.writeInbound(buffer)
                precondition(inbound.isEmpty, "the decoder passed bytes on")
            } catch let error as ResponseDecoderError {
                log.events.append(.error(error))
                precondition(!channel.isActive, "the decoder raised \(error) and kept the connection")
            } catch {
                preconditionFailure("the decoder raised \(error)")
            }
        }
        let wasActive = channel.isActive
        do {
            _ = try channel.finish(acceptAlreadyClosed: true)
        } catch {
            preconditionFailure("closing raised \(error)")
        }

        // One closed event, last; no answer after one that did not keep the connection.
        let events = log.events
        let closedCount = events.filter { if case .closed = $0 { true } else { false } }.count
        precondition(closedCount == 1, "\(closedCount) closed events: \(brief(events))")
        var answers = 0
        var bodyBytes = 0
        var ended = false
        for (index, event) in events.enumerated() {
            switch event {
            case .response(let status, let keepAlive, _, let body):
                precondition(!ended, "an answer after one without keep-alive: \(brief(events))")
                precondition(status >= 200 && status <= 999, "status \(status) delivered")
                precondition(body.count <= limits.bodyBytes, "a body of \(body.count) bytes over the limit")
                if bodyless || status == 204 || status == 304 { precondition(body.isEmpty, "a body where none belongs") }
                ended = !keepAlive
                answers += 1
                bodyBytes += body.count
            case .closed(let midAnswer):
                if wasActive { precondition(index == events.count - 1, "closed is not the last event: \(brief(events))") }
                if case .error = events.last { precondition(midAnswer, "an error that was not mid-answer") }
            case .error:
                precondition(index == events.count - 1, "an event after the error: \(brief(events))")
            }
        }
        // Each answer takes at least its status line and empty line.
        precondition(answers * 14 + bodyBytes <= bytes.count, "more answered than was received")
        return events
    }

    // MARK: - 4. The scenario loader

    /// The bytes as a scenario file (invalid UTF-8 becomes U+FFFD). Errors
    /// are expected; each must be a one-line `ScenarioError` for this file.
    public static func scenario(_ bytes: UnsafeRawBufferPointer) {
        let path = "fuzz.yaml"
        let text = String(decoding: bytes, as: UTF8.self)
        do {
            let scenario = try ScenarioLoader.parse(yaml: text, path: path)
            precondition(!scenario.runs.isEmpty, "a scenario without runs")
            // Whatever is accepted is within InputLimits, the ranges the flags share.
            precondition(InputLimits.scenarioRuns.contains(scenario.runs.count))
            precondition(InputLimits.concurrency.contains(scenario.load.concurrency))
            precondition(scenario.load.rate.map { InputLimits.rate.contains($0) } ?? true, "rate \(String(describing: scenario.load.rate))")
            precondition(InputLimits.timeoutSeconds.contains(scenario.load.timeout.seconds))
            precondition(InputLimits.workers.contains(scenario.app.workers))
            precondition(scenario.sourcePath == path)
        } catch let error as ScenarioError {
            precondition(error.file == path, "an error about \(error.file)")
            precondition(!error.description.contains(where: \.isNewline), "a multi-line error: \(brief(error.description))")
            if let line = error.line { precondition(line >= 1, "an error at line \(line)") }
        } catch {
            preconditionFailure("not a ScenarioError: \(brief(error))")
        }
    }

    // MARK: - Split points

    private enum Split {
        /// FNV-1a of the bytes.
        static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in bytes {
                hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
            }
            return hash
        }

        /// Up to `count` distinct cut points inside the bytes, ascending.
        static func cuts(_ bytes: UnsafeRawBufferPointer, count: Int) -> [Int] {
            guard bytes.count > 1 else { return [] }
            var state = hash(bytes) | 1
            var cuts = Set<Int>()
            for _ in 0..<count {
                // xorshift64
                state ^= state << 13
                state ^= state >> 7
                state ^= state << 17
                cuts.insert(1 + Int(state % UInt64(bytes.count - 1)))
            }
            return cuts.sorted()
        }
    }
}
