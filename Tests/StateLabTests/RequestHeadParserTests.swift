import NIOCore
import NIOHTTP1
import Testing
@testable import StateLab

/// The worker's own request-head parser and chunked-body reader, byte by byte.
@Suite
struct RequestHeadParserTests {
    private func parse(_ text: String) throws(RequestHeadError) -> RequestHeadParser.Outcome {
        try RequestHeadParser.parse(ByteBuffer(string: text))
    }

    private func head(_ text: String) throws -> RequestHead {
        guard case .head(let head, let consumed) = try parse(text) else {
            Issue.record("no complete head in \(text.debugDescription)")
            throw RequestHeadError.malformed("test")
        }
        #expect(consumed == text.utf8.count, "a head alone is consumed whole")
        return head
    }

    private func refusal(_ text: String) -> RequestHeadError? {
        do {
            _ = try parse(text)
            return nil
        } catch {
            return error
        }
    }

    @Test func incrementAsTheLoadSendsIt() throws {
        let parsed = try head("POST /increment HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n")
        #expect(parsed == RequestHead(method: .post, route: .increment, keepAlive: true, body: .none, expectsContinue: false))
    }

    @Test func routesIgnoreTheQueryAndKeepOtherPaths() throws {
        #expect(try head("GET /report?verbose=1 HTTP/1.1\r\n\r\n").route == .report)
        #expect(try head("POST /reset HTTP/1.1\r\n\r\n").route == .reset)
        #expect(try head("GET /increments HTTP/1.1\r\n\r\n").route == .other("/increments"))
        #expect(try head("DELETE /report HTTP/1.1\r\n\r\n").method == .other("DELETE"))
    }

    @Test func keepAliveFollowsTheVersionAndConnectionTokens() throws {
        #expect(try head("GET /report HTTP/1.1\r\n\r\n").keepAlive)
        #expect(try !head("GET /report HTTP/1.1\r\nConnection: Keep-Alive, CLOSE\r\n\r\n").keepAlive)
        #expect(try !head("GET /report HTTP/1.0\r\n\r\n").keepAlive)
        #expect(try head("GET /report HTTP/1.0\r\nconnection: keep-alive\r\n\r\n").keepAlive)
    }

    @Test func bareLineFeedsAndLeadingEmptyLinesAreAccepted() throws {
        #expect(try head("\r\n\nPOST /increment HTTP/1.1\nHost: x\n\n").route == .increment)
    }

    @Test func bodyFraming() throws {
        #expect(try head("POST /increment HTTP/1.1\r\nContent-Length: 12\r\n\r\n").body == .length(12))
        #expect(try head("POST /increment HTTP/1.1\r\nContent-Length: 12\r\nContent-Length: 12\r\n\r\n").body == .length(12))
        #expect(try head("POST /increment HTTP/1.1\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n").body == .chunked)
        #expect(try head("POST /increment HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n").body == .length(Int.max))
        #expect(try head("POST /increment HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n").expectsContinue)
    }

    @Test func anIncompleteHeadNeedsMore() throws {
        #expect(try parse("") == .needMore)
        #expect(try parse("POST /incr") == .needMore)
        #expect(try parse("POST /increment HTTP/1.1\r\nHost: x\r\n") == .needMore)
    }

    @Test func pipelinedHeadsAreTakenOneAtATime() throws {
        let one = "POST /increment HTTP/1.1\r\nContent-Length: 0\r\n\r\n"
        guard case .head(_, let consumed) = try parse(one + "GET /report HTTP/1.1\r\n\r\n") else {
            Issue.record("no head")
            return
        }
        #expect(consumed == one.utf8.count)
    }

    @Test(arguments: [
        ("THIS IS NOT HTTP\r\n\r\n", "the request line"),
        ("GET /report HTTP/1.1 extra\r\n\r\n", "does not end in HTTP/1.1"),
        ("G(T /report HTTP/1.1\r\n\r\n", "method"),
        ("GET /report HTTP/1.1\r\nNo colon here\r\n\r\n", "no colon"),
        ("GET /report HTTP/1.1\r\nHost : x\r\n\r\n", "header name"),
        ("GET /report HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", "folding"),
        ("GET /report HTTP/1.1\r\nHost: a\u{1}b\r\n\r\n", "control characters"),
        ("POST /increment HTTP/1.1\r\nContent-Length: -1\r\n\r\n", "not a number"),
        ("POST /increment HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "two different"),
        ("POST /increment HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", "both"),
        ("POST /increment HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", "end in chunked"),
    ])
    func malformedHeadsGet400(text: String, reason: String) {
        let error = refusal(text)
        #expect(error?.status == .badRequest)
        #expect(error?.reason.hasPrefix("malformed HTTP request: ") == true)
        #expect(error?.reason.contains(reason) == true, "\(String(describing: error?.reason))")
    }

    @Test func otherVersionsGet505() {
        #expect(refusal("GET /report HTTP/2.0\r\n\r\n")?.status == .httpVersionNotSupported)
    }

    @Test func anOversizedHeadGets431EvenBeforeItEnds() {
        let long = "GET /report HTTP/1.1\r\nX-Filler: " + String(repeating: "f", count: RequestHeadParser.maxHeadBytes)
        #expect(refusal(long)?.status == .requestHeaderFieldsTooLarge)
        #expect(refusal(long + "\r\n\r\n")?.status == .requestHeaderFieldsTooLarge)
        let manyLines = "GET /report HTTP/1.1\r\n" + String(repeating: "X-A: b\r\n", count: RequestHeadParser.maxHeadBytes / 8 + 1)
        #expect(refusal(manyLines)?.status == .requestHeaderFieldsTooLarge)
    }

    /// Found by the fuzzer's split check: a request line longer than the
    /// limit was accepted when it arrived in one read with its end, and
    /// refused with a 431 when the worker saw the first part alone; so was
    /// a head whose last empty line crossed the limit.
    @Test func theLimitHoldsHoweverTheHeadArrives() throws {
        let max = RequestHeadParser.maxHeadBytes
        let longLine = "GET /" + String(repeating: "a", count: max) + " HTTP/1.1\r\n\r\n"
        #expect(refusal(longLine)?.status == .requestHeaderFieldsTooLarge)
        #expect(refusal(String(longLine.prefix(max + 1)))?.status == .requestHeaderFieldsTooLarge)

        // The last header ends exactly at the limit: the empty line after it is over.
        let start = "GET / HTTP/1.1\r\nX: "
        let atLimit = start + String(repeating: "b", count: max - start.utf8.count - 2) + "\r\n"
        #expect(atLimit.utf8.count == max)
        #expect(refusal(atLimit + "\r\n")?.status == .requestHeaderFieldsTooLarge)
        #expect(refusal(atLimit + "\r")?.status == .requestHeaderFieldsTooLarge)

        // A head of exactly the limit is served.
        let exact = start + String(repeating: "b", count: max - start.utf8.count - 4) + "\r\n\r\n"
        #expect(exact.utf8.count == max)
        #expect(try head(exact).route == .other("/"))
    }
}

@Suite
struct ChunkedBodyReaderTests {
    static let body = "5;name=value\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: 1\r\n\r\n"

    @Test func readsAWholeBodyAndLeavesWhatFollows() throws {
        var buffer = ByteBuffer(string: Self.body + "GET /report")
        var reader = ChunkedBodyReader()
        #expect(try reader.consume(&buffer))
        #expect(reader.dataBytes == 31)
        #expect(buffer.readableBytes == "GET /report".utf8.count)
    }

    @Test func aByteAtATimeEndsAtTheSamePlace() throws {
        var reader = ChunkedBodyReader()
        var ended = false
        for (index, byte) in Self.body.utf8.enumerated() {
            var one = ByteBuffer(bytes: [byte])
            ended = try reader.consume(&one)
            #expect(one.readableBytes == 0)
            #expect(ended == (index == Self.body.utf8.count - 1))
        }
        #expect(ended)
        #expect(reader.dataBytes == 31)
    }

    @Test(arguments: ["zz\r\n", "5\r\nhello!\r\n", "5\r\nhelloXY", "\r\n"])
    func badFramingIsRefused(text: String) {
        var buffer = ByteBuffer(string: text)
        var reader = ChunkedBodyReader()
        #expect(throws: RequestHeadError.self) { _ = try reader.consume(&buffer) }
    }

    @Test func anEndlessExtensionIsRefused() {
        var buffer = ByteBuffer(string: "5;" + String(repeating: "e", count: ChunkedBodyReader.maxLineBytes + 1))
        var reader = ChunkedBodyReader()
        #expect(throws: RequestHeadError.self) { _ = try reader.consume(&buffer) }
    }
}

@Suite
struct InlineBackendTests {
    @Test func onlyCallsThatNeitherBlockNorSleepRunOnTheLoop() {
        #expect(InlineBackend.serves(.global, .naive, raceWindowMicros: 0))
        #expect(InlineBackend.serves(.shm, .atomic, raceWindowMicros: 0))
        #expect(InlineBackend.serves(.shm, .naive, raceWindowMicros: 0))
        #expect(!InlineBackend.serves(.shm, .naive, raceWindowMicros: 200))
        #expect(!InlineBackend.serves(.global, .naive, raceWindowMicros: 1))
        #expect(!InlineBackend.serves(.shm, .locked, raceWindowMicros: 0))
        for strategy in [Strategy.manager, .sqlite, .redis, .postgres] {
            #expect(!InlineBackend.serves(strategy, .atomic, raceWindowMicros: 0))
        }
    }

    /// An increment's answer writes its count and its Content-Length digit by digit in place;
    /// they must read as the numbers, with the length of the body that follows.
    @Test func countAnswersCarryTheirNumbersAndTheirLength() {
        let answers = WorkerAnswers(pid: 4242, worker: 3)
        for count in [0, 7, 9, 10, 99, 100, 12_345, -1, -10, -987, Int.max, Int.min + 1, Int.min] {
            for keepAlive in [true, false] {
                var buffer = ByteBuffer()
                answers.count(count, keepAlive: keepAlive, into: &buffer)
                let text = String(buffer: buffer)
                let parts = text.components(separatedBy: "\r\n\r\n")
                #expect(parts.count == 2, "\(text.debugDescription)")
                let body = parts.last ?? ""
                #expect(body == "{\"count\":\(count),\"pid\":4242,\"worker\":3}")
                #expect(parts.first?.contains("\r\nContent-Length: \(body.utf8.count)") == true, "\(text.debugDescription)")
                #expect(parts.first?.contains(keepAlive ? "keep-alive" : "close") == true)
            }
        }
    }
}
