import Foundation
import Testing
@testable import StateLab

/// The worker's own HTTP/1.1 connection handling against a real server (the
/// worker's pipeline on loopback, SQLite store) and a raw client: pipelining,
/// HTTP/1.0, 100-continue, refusals. Every wait is polled with a generous bound.
@Suite
struct WorkerConnectionTests {
    static let increment = "POST /increment HTTP/1.1\r\nHost: worker\r\nContent-Length: 0\r\n\r\n"

    @Test("pipelined requests in one write are answered in order, on the same connection")
    func pipelinedRequests() throws {
        let server = try InProcessWorker()
        defer { server.stop() }
        let client = try RawHTTPClient(port: server.port)
        defer { client.close() }
        try client.send(Self.increment + Self.increment + "GET /report HTTP/1.1\r\n\r\n" + Self.increment)
        let counts = try (0..<4).map { _ in try client.readAnswer(within: 10) }
        #expect(counts.map(\.status) == [200, 200, 200, 200])
        #expect(counts[0].json?["count"] as? Int == 1)
        #expect(counts[1].json?["count"] as? Int == 2)
        #expect(counts[2].json?["strategy"] as? String == "sqlite")
        #expect(counts[2].json?["handled"] as? Int == 2)
        #expect(counts[3].json?["count"] as? Int == 3)
    }

    @Test("a request split across writes at every byte still gets its answer")
    func requestSplitAcrossWrites() throws {
        let server = try InProcessWorker()
        defer { server.stop() }
        let client = try RawHTTPClient(port: server.port)
        defer { client.close() }
        for byte in Array(Self.increment.utf8) { try client.send([byte]) }
        let answer = try client.readAnswer(within: 10)
        #expect(answer.status == 200)
        #expect(answer.header("Connection") == "keep-alive")
        #expect(answer.header("Content-Type") == "application/json")
        #expect(answer.json?["count"] as? Int == 1)
    }

    @Test("HTTP/1.0 without keep-alive: the answer says close, and the connection closes after it")
    func http10Closes() throws {
        let server = try InProcessWorker()
        defer { server.stop() }
        let client = try RawHTTPClient(port: server.port)
        defer { client.close() }
        try client.send("POST /increment HTTP/1.0\r\n\r\n")
        let answer = try client.readAnswer(within: 10)
        #expect(answer.status == 200)
        #expect(answer.header("Connection") == "close")
        #expect(client.waitForClose(within: 10) == .closedCleanly)
    }

    @Test("Expect: 100-continue with a small body: a 100, then the answer once the body is in")
    func continueThenAnswer() throws {
        let server = try InProcessWorker()
        defer { server.stop() }
        let client = try RawHTTPClient(port: server.port)
        defer { client.close() }
        try client.send("POST /increment HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        #expect(try client.readAnswer(within: 10).status == 100)
        try client.send("hello")
        let answer = try client.readAnswer(within: 10)
        #expect(answer.status == 200)
        #expect(answer.json?["count"] as? Int == 1)
    }

    @Test("a chunked body under the limit is read and dropped, and the request counts")
    func smallChunkedBody() throws {
        let server = try InProcessWorker()
        defer { server.stop() }
        let client = try RawHTTPClient(port: server.port)
        defer { client.close() }
        try client.send("POST /increment HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" + Self.increment)
        #expect(try client.readAnswer(within: 10).json?["count"] as? Int == 1)
        #expect(try client.readAnswer(within: 10).json?["count"] as? Int == 2)
    }

    @Test("a wrong method gets 405 with Allow, an unknown path 404, and the connection stays usable")
    func wrongMethodAndPath() throws {
        let server = try InProcessWorker()
        defer { server.stop() }
        let client = try RawHTTPClient(port: server.port)
        defer { client.close() }
        try client.send("GET /increment HTTP/1.1\r\n\r\nPOST /nowhere?x=1 HTTP/1.1\r\n\r\n")
        let wrongMethod = try client.readAnswer(within: 10)
        #expect(wrongMethod.status == 405)
        #expect(wrongMethod.header("Allow") == "POST")
        let unknown = try client.readAnswer(within: 10)
        #expect(unknown.status == 404)
        #expect((unknown.json?["error"] as? String)?.hasPrefix("no such endpoint /nowhere;") == true)
        try client.send(Self.increment)
        #expect(try client.readAnswer(within: 10).status == 200)
    }

    @Test(arguments: [
        ("GET /report HTTP/2.0\r\n\r\n", 505),
        ("GET /report HTTP/1.1\r\nX-Big: " + String(repeating: "b", count: 40_000) + "\r\n\r\n", 431),
        ("POST /increment HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    ])
    func refusedHeadsGetJSONAndAClose(request: String, status: Int) throws {
        let server = try InProcessWorker()
        defer { server.stop() }
        let client = try RawHTTPClient(port: server.port)
        defer { client.close() }
        try client.send(request)
        let answer = try client.readAnswer(within: 10)
        #expect(answer.status == status)
        #expect(answer.header("Connection") == "close")
        #expect(answer.json?["error"] is String)
        #expect(client.waitForClose(within: 10) == .closedCleanly)
        #expect(try server.count() == 0)
    }

    @Test("a body that stops coming is closed after the idle timeout, and does not count")
    func stalledBodyIsClosed() throws {
        let server = try InProcessWorker(idleTimeoutMillis: 300)
        defer { server.stop() }
        let client = try RawHTTPClient(port: server.port)
        defer { client.close() }
        try client.send("POST /increment HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc")
        #expect(client.waitForClose(within: 30) == .closedCleanly, "not closed within 100x the 300 ms idle timeout")
        #expect(try server.count() == 0)
    }
}
