import NIOCore
import PropertyBased
import Testing
@testable import StateLab

/// `RequestHeadParser.worthParsing`: a head that arrives in pieces is parsed
/// once it may be whole, never again from its start on every byte, and the
/// outcome is the one a parse of all of it at once gives.
@Suite struct HeadScanTests {
    /// What the worker does: append each piece, parse only when worth it.
    static func feed(_ pieces: [[UInt8]]) -> (outcome: Result<RequestHeadParser.Outcome, RequestHeadError>, parses: Int, looked: Int) {
        var buffer = ByteBuffer()
        var scan = RequestHeadParser.Scan()
        var parses = 0
        var looked = 0
        var last: Result<RequestHeadParser.Outcome, RequestHeadError> = .success(.needMore)
        for piece in pieces {
            buffer.writeBytes(piece)
            let before = scan.offset
            let worth = buffer.withUnsafeReadableBytes { RequestHeadParser.worthParsing($0, scan: &scan) }
            looked += scan.offset - before
            guard worth else { continue }
            parses += 1
            last = buffer.withUnsafeReadableBytes { RequestHeadParser.parse($0) }
            switch last {
            case .success(.needMore): continue
            default: return (last, parses, looked)
            }
        }
        return (last, parses, looked)
    }

    static func whole(_ bytes: [UInt8]) -> Result<RequestHeadParser.Outcome, RequestHeadError> {
        ByteBuffer(bytes: bytes).withUnsafeReadableBytes { RequestHeadParser.parse($0) }
    }

    @Test("a 30 KB head of many short lines, a byte at a time: each byte looked at once, two parses")
    func byteAtATime() {
        let text = "POST /increment HTTP/1.1\r\n" + String(repeating: "a: b\r\n", count: 5_000) + "\r\n"
        let bytes = Array(text.utf8)
        #expect(bytes.count < RequestHeadParser.maxHeadBytes)
        let (outcome, parses, looked) = Self.feed(bytes.map { [$0] })
        guard case .success(.head(let head, let consumed)) = outcome else {
            Issue.record("no head: \(outcome)")
            return
        }
        #expect(head.route == .increment && consumed == bytes.count)
        // The request line once (to refuse a bad one early), then the end: not one parse per byte or per line.
        #expect(parses == 2, "\(parses) parses")
        #expect(looked == bytes.count, "\(looked) bytes looked at for \(bytes.count)")
    }

    @Test("a bad request line is refused as soon as it is whole, before the head ends")
    func badRequestLineEarly() {
        let (outcome, parses, _) = Self.feed(Array("GARBAGE\r\nHost: x\r\n".utf8).map { [$0] })
        guard case .failure(let error) = outcome else {
            Issue.record("not refused: \(outcome)")
            return
        }
        #expect(error.status == .badRequest)
        #expect(parses == 1)
    }

    @Test("over the size limit with no end in sight: 431")
    func overTheLimit() {
        let piece = Array(String(repeating: "x", count: 1024).utf8)
        let pieces = [Array("GET /report HTTP/1.1\r\nX: ".utf8)] + Array(repeating: piece, count: 40)
        guard case .failure(let error) = Self.feed(pieces).outcome else {
            Issue.record("not refused")
            return
        }
        #expect(error.status == .requestHeaderFieldsTooLarge)
    }

    static let samples = [
        "POST /increment HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
        "\r\n\n\rGET /report HTTP/1.0\nConnection: keep-alive\n\n",
        "GET /report HTTP/1.1\r\nX: \r\r\n\r\n",
        "POST /reset HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "POST /increment HTTP/1.1\r\n Folded: x\r\n\r\n",
        "BAD LINE\r\n\r\n",
        "POST /increment HTTP/1.1\r\nHost: a\r\n",
        "GET / HTTP/2.0\r\n\r\n",
    ]

    @Test("split anywhere, the outcome is the one-piece outcome")
    func anySplit() async {
        await propertyCheck(count: 3000, input: Gen.int(in: 0...(Self.samples.count - 1)), Gen.int(in: 1...64), Gen.int(in: 0...1_000_000)) { which, size, seed in
            let bytes = Array(Self.samples[which].utf8)
            var pieces: [[UInt8]] = []
            var index = 0
            var step = seed
            while index < bytes.count {
                step = (step &* 1_103_515_245 &+ 12_345) & 0x7FFF_FFFF
                let length = min(bytes.count - index, 1 + step % size)
                pieces.append(Array(bytes[index..<index + length]))
                index += length
            }
            let fed = Self.feed(pieces).outcome
            let whole = Self.whole(bytes)
            switch (fed, whole) {
            case (.success(let a), .success(let b)): #expect(a == b, "\(Self.samples[which].debugDescription) in \(pieces.count) pieces")
            case (.failure(let a), .failure(let b)): #expect(a.status == b.status, "\(Self.samples[which].debugDescription)")
            default: Issue.record("\(Self.samples[which].debugDescription) in \(pieces.count) pieces: \(fed) vs \(whole)")
            }
        }
    }
}
