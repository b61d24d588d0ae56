import Foundation
import NIOCore
import NIOPosix
import StateLabTestSupport
import Testing
@testable import StateLab
#if canImport(Glibc)
import Glibc
#endif

/// The worker's HTTP limits against a real server: the worker's own pipeline
/// (WorkerServer.bootstrap) on 127.0.0.1 port 0 with a SQLite store in a temp
/// dir, and a raw blocking client, so every byte and every close is the
/// server's doing. Timeouts are set short; each wait is polled up to a
/// generous bound (100x the timeout: other suites share the machine), and nothing asserts speed.
@Suite
struct WorkerHTTPLimitsTests {
    static let increment = "POST /increment HTTP/1.1\r\nHost: worker\r\nContent-Length: 0\r\n\r\n"

    // MARK: - Idle keep-alive connections

    @Test("an idle keep-alive connection is closed after the idle timeout, and serves requests until then")
    func idleConnectionIsClosed() throws {
        let server = try InProcessWorker(idleTimeoutMillis: 300)
        defer { server.stop() }
        let client = try RawHTTPClient(port: server.port)
        defer { client.close() }
        try client.send(Self.increment)
        let first = try client.readAnswer(within: 10)
        #expect(first.status == 200)
        #expect(first.header("Connection") == "keep-alive")
        // Closed by the server, with nothing sent (no answer to an absent request): EOF.
        #expect(client.waitForClose(within: 30) == .closedCleanly, "not closed within 100x the 300 ms idle timeout")
    }

    @Test("a request in flight longer than the idle timeout still gets its answer")
    func requestInFlightIsNotCutOff() throws {
        // naive mode sleeps 1.5 s (5x the idle timeout) between its read and its write.
        let server = try InProcessWorker(mode: .naive, raceWindowMicros: 1_500_000, idleTimeoutMillis: 300)
        defer { server.stop() }
        let client = try RawHTTPClient(port: server.port)
        defer { client.close() }
        try client.send(Self.increment)
        let answer = try client.readAnswer(within: 30)
        #expect(answer.status == 200, "\(answer.body)")
        #expect(answer.body.contains("\"count\":1"))
        // Once answered, the connection is idle and is closed as usual.
        #expect(client.waitForClose(within: 30) == .closedCleanly)
    }

    // MARK: - Slow request heads

    @Test("a head that stops half-way gets a JSON 408, then the connection closes")
    func incompleteHeadGets408() throws {
        let server = try InProcessWorker(requestHeadTimeoutMillis: 300)
        defer { server.stop() }
        let client = try RawHTTPClient(port: server.port)
        defer { client.close() }
        try client.send("POST /increment HTTP/1.1\r\nHost: wor")
        let answer = try client.readAnswer(within: 30)
        #expect(answer.status == 408)
        #expect(answer.header("Connection") == "close")
        #expect(answer.header("X-Worker-Pid") == String(getpid()))
        #expect(answer.json?["error"] as? String == "the request head did not arrive completely within 300 ms")
        #expect(client.waitForClose(within: 30) == .closedCleanly)
    }

    @Test("a head sent a byte at a time is timed from its first byte: trickling does not extend it")
    func tricklingHeadGets408() throws {
        let server = try InProcessWorker(requestHeadTimeoutMillis: 300)
        defer { server.stop() }
        let client = try RawHTTPClient(port: server.port)
        defer { client.close() }
        let endless = Array(("POST /increment HTTP/1.1\r\n" + String(repeating: "X-Pad: y\r\n", count: 1_000)).utf8)
        let answer = try client.answerWhileTrickling(endless)
        #expect(answer?.status == 408, "no 408 while the head trickled in for 30 s (100x the timeout)")
    }

    @Test("a head that times out behind a slow request waits for that answer: the 408 follows it, never replaces it")
    func headTimeoutBehindASlowAnswer() throws {
        // The first request takes 1.5 s (5x the head timeout) in the store.
        let server = try InProcessWorker(mode: .naive, raceWindowMicros: 1_500_000, requestHeadTimeoutMillis: 300)
        defer { server.stop() }
        let client = try RawHTTPClient(port: server.port)
        defer { client.close() }
        try client.send(Self.increment)
        usleep(100_000)  // so the next bytes arrive in a read of their own, while the first is in the store
        try client.send("GET /report HTTP/1.1\r\nHo")
        let first = try client.readAnswer(within: 30)
        #expect(first.status == 200, "\(first.body)")
        #expect(first.body.contains("\"count\":1"))
        let second = try client.readAnswer(within: 10)
        #expect(second.status == 408)
        #expect(client.waitForClose(within: 10) == .closedCleanly)
    }

    @Test("a process started while a connection is open does not keep it open after the worker closes it")
    func spawnedProcessDoesNotHoldConnections() throws {
        // NIO accepts without SOCK_CLOEXEC: a child forked then (a supervisor's worker, redis-server)
        // inherited the socket and held it past exec, so the worker's close sent no FIN.
        let server = try InProcessWorker(requestHeadTimeoutMillis: 300)
        defer { server.stop() }
        let client = try RawHTTPClient(port: server.port)
        defer { client.close() }
        try client.send(Self.increment)
        #expect(try client.readAnswer(within: 10).status == 200)  // the server has accepted the connection
        let child = try ChildProcess.spawn(executable: "/bin/sleep", arguments: ["60"])
        defer { child.stop(grace: 0) }
        try client.send("GET /report HTTP/1.1\r\nHo")
        #expect(try client.readAnswer(within: 30).status == 408)
        #expect(client.waitForClose(within: 10) == .closedCleanly, "the close was held by the child process")
    }

    @Test("a keep-alive connection idle between requests longer than the head timeout gets no 408")
    func idleBetweenRequestsIsNotAHeadTimeout() throws {
        let server = try InProcessWorker(requestHeadTimeoutMillis: 200)
        defer { server.stop() }
        let client = try RawHTTPClient(port: server.port)
        defer { client.close() }
        try client.send(Self.increment)
        #expect(try client.readAnswer(within: 10).status == 200)
        // No byte of a next request: the head clock is not running. (This wait is
        // the scenario itself, 5x the head timeout, not a bound on anything.)
        usleep(1_000_000)
        try client.send(Self.increment)
        let second = try client.readAnswer(within: 10)
        #expect(second.status == 200)
        #expect(second.body.contains("\"count\":2"))
    }

    // MARK: - Request bodies

    @Test("a body under 1 MiB is read and ignored; the connection stays usable")
    func smallBodyIsAccepted() throws {
        let server = try InProcessWorker()
        defer { server.stop() }
        let client = try RawHTTPClient(port: server.port)
        defer { client.close() }
        let body = String(repeating: "x", count: 1_000)
        try client.send("POST /increment HTTP/1.1\r\nHost: w\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
        #expect(try client.readAnswer(within: 10).status == 200)
        try client.send(Self.increment)
        #expect(try client.readAnswer(within: 10).status == 200)
    }

    @Test("a declared Content-Length over 1 MiB gets a JSON 413 even after the client sends all of it, then a clean close")
    func declaredLargeBodyGets413() throws {
        let server = try InProcessWorker()
        defer { server.stop() }
        let client = try RawHTTPClient(port: server.port)
        defer { client.close() }
        let size = 2 << 20
        try client.send("POST /increment HTTP/1.1\r\nHost: w\r\nContent-Length: \(size)\r\n\r\n")
        // Send every byte before reading: the answer must survive the server's close (no reset).
        try client.send([UInt8](repeating: 0x61, count: size))
        let answer = try client.readAnswer(within: 10)
        #expect(answer.status == 413)
        #expect(answer.header("Connection") == "close")
        #expect(answer.json?["error"] as? String == "request body of \(size) bytes is over the limit of 1048576 bytes; the API takes no body")
        #expect(client.waitForClose(within: 10) == .closedCleanly)
        #expect(try server.count() == 0, "the refused request did not increment")
    }

    @Test("a chunked body that passes 1 MiB gets a JSON 413")
    func chunkedLargeBodyGets413() throws {
        let server = try InProcessWorker()
        defer { server.stop() }
        let client = try RawHTTPClient(port: server.port)
        defer { client.close() }
        try client.send("POST /increment HTTP/1.1\r\nHost: w\r\nTransfer-Encoding: chunked\r\n\r\n")
        let chunk = Array("10000\r\n".utf8) + [UInt8](repeating: 0x62, count: 0x10000) + Array("\r\n".utf8)
        for _ in 0..<24 { try client.send(chunk) }  // 1.5 MiB
        try client.send("0\r\n\r\n")
        let answer = try client.readAnswer(within: 10)
        #expect(answer.status == 413)
        #expect((answer.json?["error"] as? String)?.hasPrefix("request body is over the limit of 1048576 bytes") == true)
        #expect(client.waitForClose(within: 10) == .closedCleanly)
        #expect(try server.count() == 0)
    }

    @Test("Expect: 100-continue with a huge Content-Length: 413 at once, and the drain ends with the connection")
    func hugeDeclaredBodyIsRefusedBeforeItIsSent() throws {
        let server = try InProcessWorker()
        defer { server.stop() }
        let client = try RawHTTPClient(port: server.port)
        defer { client.close() }
        try client.send("POST /increment HTTP/1.1\r\nHost: w\r\nContent-Length: 104857600\r\nExpect: 100-continue\r\n\r\n")
        let answer = try client.readAnswer(within: 10)
        #expect(answer.status == 413)
        // The answer is followed by the server's FIN (it closes its side at once)...
        #expect(client.waitForClose(within: 10) == .closedCleanly)
        // ...and, since no body comes, by the full close after the bounded drain (2 s): a send then fails.
        #expect(client.waitUntilSendFails(within: 20), "the server still reads after 20 s")
    }

    @Test("a client that never stops sending is cut off after a bounded drain")
    func endlessBodyIsCutOff() throws {
        let server = try InProcessWorker()
        defer { server.stop() }
        let client = try RawHTTPClient(port: server.port)
        defer { client.close() }
        try client.send("POST /increment HTTP/1.1\r\nHost: w\r\nContent-Length: 1073741824\r\n\r\n")
        let block = [UInt8](repeating: 0x63, count: 64 << 10)
        let deadline = MonotonicClock.now() + 60_000_000_000
        var sent = 0
        var cutOff = false
        while MonotonicClock.now() < deadline {
            do { try client.send(block) } catch { cutOff = true; break }
            sent += block.count
        }
        #expect(cutOff, "still accepting after \(sent) bytes and 60 s")
        // Cut off by a close (reset or broken pipe), not a server that stopped reading (send timeout).
        #expect(client.sendErrno == EPIPE || client.sendErrno == ECONNRESET, "send failed with \(String(cString: strerror(client.sendErrno)))")
        #expect(sent < 1 << 30, "the whole declared gigabyte was read")
    }

    // MARK: - Through real worker processes

    // MARK: - Slow bodies

    @Test("a body trickled a byte at a time is timed from its head: a JSON 408 and a close, however slowly it comes")
    func tricklingBodyGets408() throws {
        let server = try InProcessWorker(idleTimeoutMillis: 60_000, requestHeadTimeoutMillis: 300)
        defer { server.stop() }
        let client = try RawHTTPClient(port: server.port)
        defer { client.close() }
        try client.send("POST /increment HTTP/1.1\r\nContent-Length: 100000\r\n\r\n")
        // Each byte restarts the idle clock, so only a body clock can end this.
        let answer = try client.answerWhileTrickling(Array(repeating: UInt8(ascii: "x"), count: 100_000))
        #expect(answer?.status == 408, "no 408 while the body trickled in for 30 s (100x the timeout)")
        #expect(answer?.json?["error"] as? String == "the request body did not arrive completely within 300 ms")
        #expect(try server.count() == 0, "a request whose body never ended did not count")
    }

    @Test("a body that arrives in time is not cut off by the body clock, and the next request starts a fresh one")
    func bodyInTimeIsServed() throws {
        let server = try InProcessWorker(requestHeadTimeoutMillis: 2_000)
        defer { server.stop() }
        let client = try RawHTTPClient(port: server.port)
        defer { client.close() }
        for round in 1...3 {
            try client.send("POST /increment HTTP/1.1\r\nContent-Length: 5\r\n\r\nhel")
            try client.send("lo")
            let answer = try client.readAnswer(within: 30)
            #expect(answer.status == 200)
            #expect(answer.json?["count"] as? Int == round)
        }
    }

    // MARK: - HEAD

    @Test("HEAD /report: the head of GET /report's answer, with its length and no body")
    func headReport() throws {
        let server = try InProcessWorker()
        defer { server.stop() }
        let client = try RawHTTPClient(port: server.port)
        defer { client.close() }
        try client.send("HEAD /report HTTP/1.1\r\nConnection: close\r\n\r\n")
        let text = String(decoding: client.readUntilClose(within: 30), as: UTF8.self)
        #expect(text.hasPrefix("HTTP/1.1 200 OK\r\n"), "\(text)")
        #expect(text.contains("Content-Length: "), "\(text)")
        #expect(text.hasSuffix("\r\n\r\n"), "a body came after the head: \(text)")
        let head = try RawHTTPClient(port: server.port)
        defer { head.close() }
        try head.send("HEAD /increment HTTP/1.1\r\nConnection: close\r\n\r\n")
        let refused = String(decoding: head.readUntilClose(within: 30), as: UTF8.self)
        #expect(refused.hasPrefix("HTTP/1.1 405"), "\(refused)")
        #expect(try server.count() == 0)
    }

    @Test("the idle and head timeouts set in AppConfig reach the worker processes")
    func timeoutsReachWorkerProcesses() throws {
        let supervisor = try Supervisor.start(AppConfig(strategy: .global, workers: 1, executable: Binary.path,
                                                        idleTimeoutMillis: 300, requestHeadTimeoutMillis: 300))
        defer { supervisor.stop() }
        let idle = try RawHTTPClient(port: supervisor.port)
        defer { idle.close() }
        try idle.send(Self.increment)
        #expect(try idle.readAnswer(within: 10).status == 200)
        #expect(idle.waitForClose(within: 30) == .closedCleanly, "not closed within 100x the idle timeout")

        let slow = try RawHTTPClient(port: supervisor.port)
        defer { slow.close() }
        try slow.send("GET /report HTTP/1.1\r\n")
        let answer = try slow.readAnswer(within: 30)
        #expect(answer.status == 408)
        #expect(answer.header("X-Worker-Pid") == String(supervisor.workers[0].pid))
    }
}

// MARK: - A worker's HTTP server in this process

/// The worker's real connection pipeline, bound to 127.0.0.1:0, with a SQLite
/// store in a fresh temp dir (so no state is shared with other suites).
final class InProcessWorker: @unchecked Sendable {
    let port: Int
    let directory: String
    let databasePath: String
    private let group: MultiThreadedEventLoopGroup
    private let storeThreads: NIOThreadPool
    private let channel: Channel

    init(mode: Mode = .atomic, raceWindowMicros: Int = 0,
         idleTimeoutMillis: Int = WorkerSpec.defaultIdleTimeoutMillis,
         requestHeadTimeoutMillis: Int = WorkerSpec.defaultRequestHeadTimeoutMillis,
         busyTimeoutMillis: Int32 = 10_000) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("statelab-http-test-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        databasePath = directory + "/counter.db"
        try SQLiteSession.createDatabase(at: databasePath)
        let spec = WorkerSpec(strategy: .sqlite, mode: mode, port: 0, raceWindowMicros: raceWindowMicros, storeThreads: 2,
                              runDirectory: directory, idleTimeoutMillis: idleTimeoutMillis,
                              requestHeadTimeoutMillis: requestHeadTimeoutMillis)
        let path = databasePath
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        storeThreads = NIOThreadPool(numberOfThreads: 2)
        storeThreads.start()
        let sessions = SessionPool { try SQLiteSession(path: path, busyTimeoutMillis: busyTimeoutMillis) }
        let app = CounterApp(spec: spec, worker: 0,
                             backend: ThreadPoolBackend(sessions: sessions, threads: storeThreads, mode: mode,
                                                        raceWindowMicros: raceWindowMicros))
        channel = try WorkerServer.bootstrap(group: group, app: app).bind(host: "127.0.0.1", port: 0).wait()
        port = channel.localAddress?.port ?? 0
    }

    /// The counter as a separate connection reads it.
    func count() throws -> Int {
        let session = try SQLiteSession(path: databasePath)
        defer { session.close() }
        return try session.read()
    }

    func stop() {
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
        try? storeThreads.syncShutdownGracefully()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

// MARK: - A raw HTTP/1.1 client

/// One blocking loopback TCP connection that sends exactly the bytes it is
/// given and reads answers by Content-Length, so a test controls every byte
/// and sees exactly when the server closes.
final class RawHTTPClient {
    struct Answer {
        var status: Int
        var headers: [(String, String)]
        var body: String
        func header(_ name: String) -> String? {
            headers.first { $0.0.caseInsensitiveCompare(name) == .orderedSame }?.1
        }
        var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] }
    }

    enum CloseState: Equatable { case closedCleanly, reset, stillOpen }

    private var fd: Int32
    private var buffer: [UInt8] = []

    init(port: Int) throws {
        fd = try LoopbackSocket.connect(port: port, sendTimeout: 10)
    }

    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    /// errno of the last failed send.
    private(set) var sendErrno: Int32 = 0

    /// Sends every byte (bounded by SO_SNDTIMEO); throws when the server closed or stopped reading.
    func send(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                sendErrno = errno
                throw StoreError("test client: send: \(String(cString: strerror(sendErrno)))")
            }
            sent += n
        }
    }

    /// Sends a byte every 50 ms until a send fails (the server closed its end
    /// fully and answered with a reset), up to `seconds`.
    func waitUntilSendFails(within seconds: Double) -> Bool {
        let deadline = MonotonicClock.now() + UInt64(seconds * 1e9)
        while MonotonicClock.now() < deadline {
            if (try? send([0x7a])) == nil { return true }
            usleep(50_000)
        }
        return false
    }

    /// Reads one answer (head, then Content-Length bytes of body), polling up to `seconds`.
    func readAnswer(within seconds: Double) throws -> Answer {
        guard let answer = try readAnswer(within: seconds, orNilOnTimeout: true) else {
            throw StoreError("test client: no complete answer within \(seconds) s (have \(buffer.count) bytes)")
        }
        return answer
    }

    func readAnswer(within seconds: Double, orNilOnTimeout: Bool) throws -> Answer? {
        let deadline = MonotonicClock.now() + UInt64(seconds * 1e9)
        while true {
            if let answer = try parseAnswer() { return answer }
            switch receive(until: deadline) {
            case .data: continue
            case .eof, .reset: throw StoreError("test client: connection closed before a complete answer (have \(buffer.count) bytes)")
            case .timeout: return nil
            }
        }
    }

    /// Sends `bytes` one every 50 ms, never pausing (a clock restarted by
    /// each byte would never run out), until an answer comes, the server
    /// closes, or 30 s pass; the answer, if any.
    func answerWhileTrickling(_ bytes: [UInt8]) throws -> Answer? {
        var answer: Answer?
        var serverClosed = false
        let deadline = MonotonicClock.now() + 30_000_000_000
        for byte in bytes where answer == nil && MonotonicClock.now() < deadline {
            guard (try? send([byte])) != nil else { serverClosed = true; break }
            answer = try readAnswer(within: 0.05, orNilOnTimeout: true)
        }
        if answer == nil && serverClosed { answer = try readAnswer(within: 30, orNilOnTimeout: true) }
        return answer
    }

    /// Everything the server sends until it closes (at most `seconds`).
    func readUntilClose(within seconds: Double) -> [UInt8] {
        let deadline = MonotonicClock.now() + UInt64(seconds * 1e9)
        while case .data = receive(until: deadline) {}
        defer { buffer.removeAll() }
        return buffer
    }

    /// Polls up to `seconds` for the server to close, discarding anything it still sends.
    func waitForClose(within seconds: Double) -> CloseState {
        let deadline = MonotonicClock.now() + UInt64(seconds * 1e9)
        while true {
            switch receive(until: deadline) {
            case .data: buffer.removeAll(); continue
            case .eof: return .closedCleanly
            case .reset: return .reset
            case .timeout: return .stillOpen
            }
        }
    }

    private enum Received { case data, eof, reset, timeout }

    private func receive(until deadline: UInt64) -> Received {
        while true {
            let now = MonotonicClock.now()
            guard now < deadline else { return .timeout }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, Int32(min(1_000, (deadline - now) / 1_000_000 + 1)))
            if ready < 0 && errno == EINTR { continue }
            if ready <= 0 { continue }
            var chunk = [UInt8](repeating: 0, count: 64 << 10)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n > 0 { buffer += chunk[0..<n]; return .data }
            if n == 0 { return .eof }
            if errno == EINTR || errno == EAGAIN { continue }
            return .reset
        }
    }

    private func parseAnswer() throws -> Answer? {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let end = buffer.indices.dropLast(3).first(where: { buffer[$0..<$0 + 4].elementsEqual(separator) }) else { return nil }
        let headText = String(decoding: buffer[..<end], as: UTF8.self)
        var lines = headText.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst()
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, let status = Int(parts[1]) else { throw StoreError("test client: bad status line \(statusLine)") }
        let headers = lines.compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        let length = headers.first { $0.0.lowercased() == "content-length" }.flatMap { Int($0.1) } ?? 0
        let bodyStart = end + 4
        guard buffer.count >= bodyStart + length else { return nil }
        let body = String(decoding: buffer[bodyStart..<bodyStart + length], as: UTF8.self)
        buffer.removeFirst(bodyStart + length)
        return Answer(status: status, headers: headers, body: body)
    }
}
