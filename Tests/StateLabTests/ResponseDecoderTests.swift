import NIOCore
import NIOEmbedded
import Testing
@testable import StateLab

/// LoadResponseDecoder fed through an EmbeddedChannel: framing, keep-alive,
/// headers, every way the bytes can be split, and every way an answer can be
/// malformed or cut off.
@Suite struct ResponseDecoderTests {
    // MARK: Framing

    @Test func contentLengthBody() throws {
        let decoder = try Harness()
        try decoder.feed("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 27\r\nX-Worker-Pid: 4242\r\n\r\n{\"count\": 5, \"worker\": 1}\r\n")
        #expect(decoder.events == [.response(status: 200, keepAlive: true, pid: 4242, body: "{\"count\": 5, \"worker\": 1}\r\n")])
        #expect(decoder.channel.isActive)
    }

    @Test func zeroLengthAndNoContentAnswersHaveEmptyBodies() throws {
        let decoder = try Harness()
        try decoder.feed("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\nHTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n")
        #expect(decoder.events == [
            .response(status: 201, keepAlive: true, pid: nil, body: ""),
            .response(status: 204, keepAlive: true, pid: nil, body: ""),
            .response(status: 304, keepAlive: true, pid: nil, body: ""),
        ])
    }

    @Test func answersToHeadRequestsHaveNoBody() throws {
        let decoder = try Harness(bodyless: true)
        try decoder.feed("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nHTTP/1.1 200 OK\r\n\r\n")
        #expect(decoder.events == [
            .response(status: 200, keepAlive: true, pid: nil, body: ""),
            .response(status: 200, keepAlive: true, pid: nil, body: ""),
        ])
    }

    @Test func interimAnswersAreSkipped() throws {
        let decoder = try Harness()
        try decoder.feed("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        #expect(decoder.events == [.response(status: 200, keepAlive: true, pid: nil, body: "ok")])
    }

    @Test func chunkedBodyWithExtensionsAndTrailers() throws {
        let decoder = try Harness()
        try decoder.feed(Samples.chunked)
        #expect(decoder.events == [.response(status: 200, keepAlive: true, pid: 31, body: "hello, world0123456789")])
        // The connection stays usable after the trailers.
        try decoder.feed(Samples.contentLength)
        #expect(decoder.events.count == 2)
    }

    @Test func chunkedWithBareLineFeeds() throws {
        let decoder = try Harness()
        try decoder.feed("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n3\nabc\n0\n\n")
        #expect(decoder.events == [.response(status: 200, keepAlive: true, pid: nil, body: "abc")])
    }

    @Test func transferEncodingWinsOverContentLength() throws {
        let decoder = try Harness()
        try decoder.feed("HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n")
        #expect(decoder.events == [.response(status: 200, keepAlive: true, pid: nil, body: "hi")])
    }

    @Test func closeDelimitedBodyEndsWithTheConnection() throws {
        let decoder = try Harness()
        try decoder.feed("HTTP/1.1 200 OK\r\nX-Worker-Pid: 7\r\n\r\n{\"count\": ")
        try decoder.feed("12}")
        #expect(decoder.events.isEmpty)
        try decoder.serverCloses()
        #expect(decoder.events == [
            .response(status: 200, keepAlive: false, pid: 7, body: "{\"count\": 12}"),
            .closed(midAnswer: false),
        ])
    }

    @Test func aTransferCodingOtherThanChunkedIsReadUntilClose() throws {
        let decoder = try Harness()
        try decoder.feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\nContent-Length: 1\r\n\r\nabc")
        try decoder.serverCloses()
        #expect(decoder.events == [.response(status: 200, keepAlive: false, pid: nil, body: "abc"), .closed(midAnswer: false)])
    }

    @Test func twoAnswersInOneRead() throws {
        let decoder = try Harness()
        try decoder.feed(Samples.contentLength + Samples.chunked)
        #expect(decoder.events == [Samples.contentLengthEvent, Samples.chunkedEvent])
    }

    // MARK: Keep-alive and headers

    @Test func http10ClosesUnlessAskedToKeepAlive() throws {
        let plain = try Harness()
        try plain.feed("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
        #expect(plain.events == [.response(status: 200, keepAlive: false, pid: nil, body: "ok")])
        // Bytes after an answer that ends the connection are ignored.
        try plain.feed("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
        #expect(plain.events.count == 1)

        let keepAlive = try Harness()
        try keepAlive.feed("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nok")
        #expect(keepAlive.events == [.response(status: 200, keepAlive: true, pid: nil, body: "ok")])
    }

    @Test func connectionCloseEndsKeepAlive() throws {
        let decoder = try Harness()
        try decoder.feed("HTTP/1.1 200 OK\r\nConnection: upgrade , CLOSE\r\nContent-Length: 2\r\n\r\nok")
        #expect(decoder.events == [.response(status: 200, keepAlive: false, pid: nil, body: "ok")])
    }

    @Test func headerNamesAreCaseInsensitive() throws {
        let decoder = try Harness()
        try decoder.feed("HTTP/1.1 200 OK\r\ncontent-LENGTH: 2\r\nx-worker-PID:99\r\nCONNECTION:\tclose\r\n\r\nok")
        try decoder.feed("")
        #expect(decoder.events == [.response(status: 200, keepAlive: false, pid: 99, body: "ok")])

        let chunked = try Harness()
        try chunked.feed("HTTP/1.1 500 Oops\r\nTRANSFER-ENCODING: Chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n")
        #expect(chunked.events == [.response(status: 500, keepAlive: true, pid: nil, body: "x")])
    }

    @Test func anInvalidWorkerPidIsIgnored() throws {
        let decoder = try Harness()
        try decoder.feed("HTTP/1.1 200 OK\r\nX-Worker-Pid: 12a\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nX-Worker-Pid: 99999999999\r\nContent-Length: 0\r\n\r\n")
        #expect(decoder.events == [
            .response(status: 200, keepAlive: true, pid: nil, body: ""),
            .response(status: 200, keepAlive: true, pid: nil, body: ""),
        ])
    }

    @Test func aStatusLineWithoutReasonIsAccepted() throws {
        let decoder = try Harness()
        try decoder.feed("HTTP/1.1 503\r\nContent-Length: 0\r\n\r\n")
        #expect(decoder.events == [.response(status: 503, keepAlive: true, pid: nil, body: "")])
    }

    // MARK: Any split of the bytes

    @Test(arguments: Samples.all)
    func everySplitIntoTwoReadsGivesTheSameAnswers(sample: Samples.Case) throws {
        let bytes = Array(sample.bytes.utf8)
        for offset in 0...bytes.count {
            let decoder = try Harness()
            try decoder.feed(bytes[..<offset])
            try decoder.feed(bytes[offset...])
            #expect(decoder.events == sample.events, "split at \(offset)")
        }
    }

    @Test(arguments: Samples.all)
    func oneByteAtATimeGivesTheSameAnswers(sample: Samples.Case) throws {
        let decoder = try Harness()
        for byte in sample.bytes.utf8 {
            try decoder.feed([byte])
        }
        #expect(decoder.events == sample.events)
    }

    // MARK: Malformed answers close the connection

    @Test func anOversizedHeadIsAnError() throws {
        let limits = LoadResponseDecoder.Limits(headBytes: 64, bodyBytes: 1024)
        let long = try Harness(limits: limits)
        try expectFailure(.headTooLarge, on: long, after: "HTTP/1.1 200 OK\r\nX-Padding: \(String(repeating: "a", count: 60))\r\n\r\n")

        // Also when the head never ends, in small reads.
        let endless = try Harness(limits: limits)
        try endless.feed("HTTP/1.1 200 OK\r\n")
        #expect(throws: ResponseDecoderError.headTooLarge) {
            for _ in 0..<20 { try endless.feed("X-A: b\r\n") }
        }
        #expect(!endless.channel.isActive)
        #expect(endless.events == [.closed(midAnswer: true)])

        let trailers = try Harness(limits: limits)
        let manyTrailers = String(repeating: "X-T: v\r\n", count: 10)
        try expectFailure(.headTooLarge, on: trailers, after: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\(manyTrailers)\r\n")
    }

    @Test func anOversizedBodyIsAnError() throws {
        let limits = LoadResponseDecoder.Limits(headBytes: 1024, bodyBytes: 16)
        try expectFailure(.bodyTooLarge, on: Harness(limits: limits), after: "HTTP/1.1 200 OK\r\nContent-Length: 17\r\n\r\n")
        try expectFailure(.bodyTooLarge, on: Harness(limits: limits), after: "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n")
        try expectFailure(.bodyTooLarge, on: Harness(limits: limits), after: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\n1\r\n")
        try expectFailure(.bodyTooLarge, on: Harness(limits: limits), after: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffffffff\r\n")
        try expectFailure(.bodyTooLarge, on: Harness(limits: limits), after: "HTTP/1.1 200 OK\r\n\r\n0123456789abcdefg")

        // Exactly at the limit is fine.
        let atLimit = try Harness(limits: limits)
        try atLimit.feed("HTTP/1.1 200 OK\r\nContent-Length: 16\r\n\r\n0123456789abcdef")
        #expect(atLimit.events == [.response(status: 200, keepAlive: true, pid: nil, body: "0123456789abcdef")])
    }

    @Test(arguments: [
        "HTTP/2 200 OK\r\n\r\n",
        "HTTP/1.2 200 OK\r\n\r\n",
        "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 099 Low\r\n\r\n",
        "http/1.1 200 OK\r\n\r\n",
        "ICY 200 OK\r\n\r\n",
        "\r\nHTTP/1.1 200 OK\r\n\r\n",
    ])
    func aMalformedStatusLineIsAnError(head: String) throws {
        try expectFailure(.malformedStatusLine, on: Harness(), after: head)
    }

    @Test(arguments: [
        "HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n",
        "HTTP/1.1 200 OK\r\n: no name\r\n\r\n",
        "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-A: b\r\n folded\r\n\r\n",
    ])
    func aMalformedHeaderIsAnError(head: String) throws {
        try expectFailure(.malformedHeader, on: Harness(), after: head)
    }

    @Test(arguments: ["abc", "-1", "1 2", "", "+5"])
    func aBadContentLengthIsAnError(value: String) throws {
        try expectFailure(.badContentLength, on: Harness(), after: "HTTP/1.1 200 OK\r\nContent-Length: \(value)\r\n\r\n")
    }

    @Test func conflictingContentLengthsAreAnError() throws {
        try expectFailure(.badContentLength, on: Harness(), after: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok")
        let same = try Harness()
        try same.feed("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok")
        #expect(same.events == [.response(status: 200, keepAlive: true, pid: nil, body: "ok")])
    }

    @Test(arguments: [
        "zz\r\n",
        "\r\n",
        " 5\r\n",
        "5 x\r\n",
        "5\r\nhelloXX",
        "5\r\nhello\rX",
        "2\r\nok\r\n0\r\nno colon\r\n\r\n",
    ])
    func aBadChunkIsAnError(chunks: String) throws {
        let expected: ResponseDecoderError = chunks.contains("no colon") ? .malformedHeader : .badChunk
        try expectFailure(expected, on: Harness(), after: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\(chunks)")
    }

    @Test func anEndlessChunkSizeLineIsAnError() throws {
        let decoder = try Harness()
        try decoder.feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;")
        #expect(throws: ResponseDecoderError.badChunk) {
            try decoder.feed(String(repeating: "x", count: 5000))
        }
    }

    @Test func anUpgradeIsAnError() throws {
        try expectFailure(.unexpectedUpgrade, on: Harness(), after: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n")
    }

    // MARK: The connection ends

    @Test func endOfFileBetweenAnswersIsNotMidAnswer() throws {
        let decoder = try Harness()
        try decoder.feed(Samples.contentLength)
        try decoder.serverCloses()
        #expect(decoder.events == [Samples.contentLengthEvent, .closed(midAnswer: false)])
    }

    @Test(arguments: [
        "HTTP/1.1 2",
        "HTTP/1.1 200 OK\r\nContent-Len",
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhell",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-Trailer: 1\r\n",
    ])
    func endOfFileMidAnswerIsClosedMidAnswer(partial: String) throws {
        let decoder = try Harness()
        try decoder.feed(partial)
        try decoder.serverCloses()
        #expect(decoder.events == [.closed(midAnswer: true)])
    }

    // MARK: Helpers

    private func expectFailure(_ error: ResponseDecoderError, on decoder: Harness, after bytes: String) throws {
        #expect(throws: error, "for \(bytes.debugDescription)") { try decoder.feed(bytes) }
        #expect(!decoder.channel.isActive)
        #expect(decoder.events == [.closed(midAnswer: true)])
    }
}

/// What the decoder told its owner, in a comparable form.
enum RecordedEvent: Equatable, CustomStringConvertible {
    case response(status: Int, keepAlive: Bool, pid: Int32?, body: String)
    case closed(midAnswer: Bool)

    init(_ event: LoadResponseDecoder.Event) {
        switch event {
        case .response(let response):
            self = .response(status: response.status, keepAlive: response.keepAlive, pid: response.workerPid,
                             body: String(buffer: response.body))
        case .closed(let midAnswer):
            self = .closed(midAnswer: midAnswer)
        }
    }

    var description: String {
        switch self {
        case .response(let status, let keepAlive, let pid, let body):
            return "response(\(status), keepAlive: \(keepAlive), pid: \(pid.map(String.init) ?? "nil"), body: \(body.debugDescription))"
        case .closed(let midAnswer):
            return "closed(midAnswer: \(midAnswer))"
        }
    }
}

/// A connected EmbeddedChannel with only the decoder in its pipeline.
final class Harness {
    let channel = EmbeddedChannel()
    private(set) var events: [RecordedEvent] = []

    init(limits: LoadResponseDecoder.Limits = LoadResponseDecoder.Limits(), bodyless: Bool = false) throws {
        let decoder = LoadResponseDecoder(limits: limits, bodyless: bodyless) { [weak self] event in
            self?.events.append(RecordedEvent(event))
        }
        try channel.pipeline.syncOperations.addHandler(decoder)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 80)).wait()
    }

    deinit {
        _ = try? channel.finish(acceptAlreadyClosed: true)
    }

    func feed(_ text: String) throws {
        try feed(Array(text.utf8)[...])
    }

    func feed(_ bytes: [UInt8]) throws {
        try feed(bytes[...])
    }

    func feed(_ bytes: ArraySlice<UInt8>) throws {
        var buffer = channel.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        try channel.writeInbound(buffer)
    }

    /// The server ends the connection (EOF): the channel goes inactive.
    func serverCloses() throws {
        _ = try channel.finish(acceptAlreadyClosed: false)
    }
}

/// Sample answers used by several tests.
enum Samples {
    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let bytes: String
        let events: [RecordedEvent]
        var testDescription: String { name }
    }

    static let contentLength = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nX-Worker-Pid: 1234\r\nContent-Length: 34\r\n\r\n{\"count\": 17, \"pid\": 1234, \"w\": 0}"
    static let contentLengthEvent = RecordedEvent.response(status: 200, keepAlive: true, pid: 1234, body: "{\"count\": 17, \"pid\": 1234, \"w\": 0}")

    static let chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Worker-Pid: 31\r\n\r\n5;name=value\r\nhello\r\n7 ; a=\"b\"\r\n, world\r\nA\r\n0123456789\r\n0\r\nX-Trailer: yes\r\nAnother-One: 1\r\n\r\n"
    static let chunkedEvent = RecordedEvent.response(status: 200, keepAlive: true, pid: 31, body: "hello, world0123456789")

    static let all: [Case] = [
        Case(name: "content-length", bytes: contentLength, events: [contentLengthEvent]),
        Case(name: "chunked", bytes: chunked, events: [chunkedEvent]),
        Case(name: "two back to back", bytes: chunked + contentLength, events: [chunkedEvent, contentLengthEvent]),
        Case(name: "interim then answer", bytes: "HTTP/1.1 100 Continue\r\n\r\n" + contentLength, events: [contentLengthEvent]),
        Case(name: "connection close", bytes: "HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1 200 OK\r\n\r\n",
             events: [.response(status: 200, keepAlive: false, pid: nil, body: "abc")]),
    ]
}
