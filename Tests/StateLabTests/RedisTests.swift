import Foundation
import Testing
@testable import StateLab

/// RESP2 parsing and encoding, URLs, and the client's failure paths. The tests
/// that need a real redis-server are in RedisServerTests.swift (RedisTests.RealServer).
@Suite struct RedisTests {
    private let parser = RESPParser()

    private func parse(_ text: String) -> RESPParseResult { parser.parse(Array(text.utf8)) }

    private func complete(_ text: String) -> RESPValue? {
        if case .complete(let value, let consumed) = parse(text), consumed == text.utf8.count { return value }
        return nil
    }

    private func isInvalid(_ text: String) -> Bool {
        if case .invalid = parse(text) { return true }
        return false
    }

    // MARK: - Each type

    @Test func parsesEveryType() {
        #expect(complete("+OK\r\n") == .simpleString("OK"))
        #expect(complete("+\r\n") == .simpleString(""))
        #expect(complete("-ERR unknown command 'FOO'\r\n") == .error("ERR unknown command 'FOO'"))
        #expect(complete(":42\r\n") == .integer(42))
        #expect(complete(":-7\r\n") == .integer(-7))
        #expect(complete(":0\r\n") == .integer(0))
        #expect(complete(":9223372036854775807\r\n") == .integer(Int.max))
        #expect(complete(":-9223372036854775808\r\n") == .integer(Int.min))
        #expect(complete("$5\r\nhello\r\n") == .bulk("hello"))
        #expect(complete("$0\r\n\r\n") == .bulkString([]))
        #expect(complete("$4\r\na\r\nb\r\n") == .bulk("a\r\nb"))  // binary-safe: CRLF inside a bulk
        #expect(complete("*2\r\n$3\r\nfoo\r\n:1\r\n") == .array([.bulk("foo"), .integer(1)]))
        #expect(complete("*0\r\n") == .array([]))
    }

    @Test func parsesNullBulkAndNullArray() {
        #expect(complete("$-1\r\n") == .bulkString(nil))
        #expect(complete("*-1\r\n") == .array(nil))
        #expect(complete("*3\r\n$-1\r\n*-1\r\n+x\r\n") == .array([.bulkString(nil), .array(nil), .simpleString("x")]))
    }

    @Test func parsesNestedArrays() {
        let text = "*3\r\n*2\r\n:1\r\n*1\r\n$1\r\na\r\n*0\r\n-ERR x\r\n"
        #expect(complete(text) == .array([
            .array([.integer(1), .array([.bulk("a")])]),
            .array([]),
            .error("ERR x"),
        ]))
    }

    // MARK: - Partial input

    @Test func everyProperPrefixIsIncomplete() {
        let value = RESPValue.array([
            .bulk("hello"), .integer(-12), .simpleString("OK"), .bulkString(nil),
            .array([.bulk(""), .array(nil), .error("ERR e")]),
        ])
        let bytes = value.encoded()
        for length in 0..<bytes.count {
            let result = parser.parse(Array(bytes[0..<length]))
            #expect(result == .incomplete, "prefix of \(length) bytes gave \(result)")
        }
        #expect(parser.parse(bytes) == .complete(value, consumed: bytes.count))
    }

    @Test func reportsConsumedBytesWhenMoreFollow() {
        #expect(parse("+OK\r\n:1\r\n") == .complete(.simpleString("OK"), consumed: 5))
        // A slice that does not start at index 0 (the reader hands these over).
        let bytes = Array("xx:5\r\n".utf8)
        #expect(parser.parse(bytes[2...]) == .complete(.integer(5), consumed: 4))
    }

    @Test func readerAssemblesPipelinedValuesFedOneByteAtATime() throws {
        let values: [RESPValue] = [.simpleString("OK"), .bulk("x"), .array([.integer(1), .bulkString(nil)]), .array(nil), .error("ERR y")]
        let stream = values.flatMap { $0.encoded() }
        var reader = RESPReader()
        var seen: [RESPValue] = []
        for byte in stream {
            reader.append([byte])
            while let value = try reader.next() { seen.append(value) }
        }
        #expect(seen == values)
        #expect(reader.bufferedCount == 0)
    }

    // MARK: - Malformed input

    @Test(arguments: [
        "?what\r\n",                  // unknown type byte
        "_\r\n",                      // RESP3 null: we speak RESP2 only
        ":12a\r\n",                   // not a number
        ":\r\n",                      // empty number
        ":-\r\n",
        ":99999999999999999999\r\n",  // overflows Int
        "$3\r\nfooX\r\n",             // bulk not followed by CRLF
        "$-2\r\n",                    // negative length other than -1
        "*-5\r\n",
        "$ 3\r\nfoo\r\n",
        "+OK\rX",                     // CR without LF
        "+OK\n",                      // LF without CR
        "*2\r\n:1\r\n!\r\n",          // bad element inside an array
    ])
    func rejectsMalformedInput(_ text: String) {
        #expect(isInvalid(text), "\(text.debugDescription) gave \(parse(text))")
    }

    @Test func rejectsHugeDeclaredLengthsWithoutWaitingOrAllocating() {
        // Each must be an error from the header alone: "incomplete" would mean
        // the client waits for (and buffers) gigabytes.
        #expect(isInvalid("$9999999999\r\n"))
        #expect(isInvalid("$99999999999999999999999999\r\n"))
        #expect(isInvalid("*2147483647\r\n"))
        #expect(isInvalid("*9223372036854775807\r\n"))
        let small = RESPParser(limits: .init(maxBulkLength: 10, maxArrayCount: 3))
        #expect(small.parse(Array("$11\r\n".utf8)) == .invalid("bulk length 11 exceeds the limit of 10 bytes"))
        #expect(small.parse(Array("$10\r\n".utf8)) == .incomplete)
        #expect(small.parse(Array("*4\r\n".utf8)) == .invalid("array length 4 exceeds the limit of 3 elements"))
    }

    @Test func rejectsEndlessLinesAndDeepNesting() {
        let limits = RESPParser.Limits(maxDepth: 8, maxLineLength: 100)
        let bounded = RESPParser(limits: limits)
        let longLine = Array(("+" + String(repeating: "a", count: 101)).utf8)
        if case .invalid = bounded.parse(longLine) {} else { Issue.record("a line longer than the limit must be invalid") }
        #expect(bounded.parse(Array(("+" + String(repeating: "a", count: 100)).utf8)) == .incomplete)
        let deep = Array((String(repeating: "*1\r\n", count: 9) + ":1\r\n").utf8)
        if case .invalid = bounded.parse(deep) {} else { Issue.record("nesting deeper than the limit must be invalid") }
        let allowed = Array((String(repeating: "*1\r\n", count: 8) + ":1\r\n").utf8)
        if case .complete = bounded.parse(allowed) {} else { Issue.record("nesting at the limit must parse") }
    }

    @Test func readerThrowsStoreErrorOnGarbage() throws {
        var reader = RESPReader()
        reader.append(Array("+OK\r\n%oops\r\n".utf8))
        #expect(try reader.next() == .simpleString("OK"))
        #expect(throws: StoreError.self) { try reader.next() }
    }

    // MARK: - Encoding

    @Test func encodesCommandsAsArraysOfBulkStrings() {
        #expect(RESPEncoder.command(["SET", "k", "10"]) == Array("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n10\r\n".utf8))
        // Lengths are in bytes, not characters.
        #expect(RESPEncoder.command(["GET", "é"]) == Array("*2\r\n$3\r\nGET\r\n$2\r\né\r\n".utf8))
        #expect(RESPEncoder.command(["SET", "k", ""]) == Array("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n".utf8))
    }

    // MARK: - URLs

    @Test func parsesRedisURLs() throws {
        let plain = try RedisURL(parsing: "redis://127.0.0.1:6380")
        #expect(plain.host == "127.0.0.1" && plain.port == 6380 && plain.database == 0)
        let withDatabase = try RedisURL(parsing: "redis://localhost:7000/3")
        #expect(withDatabase.host == "localhost" && withDatabase.port == 7000 && withDatabase.database == 3)
        #expect(try RedisURL(parsing: "redis://localhost").port == 6379)
        #expect(try RedisURL(parsing: "redis://127.0.0.1:6379/").database == 0)
        let v6 = try RedisURL(parsing: "redis://[::1]:6390")
        #expect(v6.host == "::1" && v6.port == 6390)
        #expect(v6.description == "redis://[::1]:6390")
    }

    @Test(arguments: [
        "127.0.0.1:6379", "http://127.0.0.1:6379", "rediss://127.0.0.1:6379", "redis://",
        "redis://:6379", "redis://host:", "redis://host:0", "redis://host:65536", "redis://host:+80",
        "redis://host:abc", "redis://host:6379/x", "redis://user@host:6379", "redis://user:@host:6379",
        "redis://:p%zzw@host:6379", "redis://host:6379?db=1",
        "redis://::1:6379", "redis://[::1", "redis://ho st:6379",
    ])
    func rejectsBadRedisURLs(_ text: String) {
        #expect(throws: StoreError.self) { try RedisURL(parsing: text) }
    }

    @Test func parsesCredentialsAndNeverShowsThePassword() throws {
        let bare = try RedisURL(parsing: "redis://:s3cret@127.0.0.1:6380/3")
        #expect(bare.username == nil && bare.password == "s3cret" && bare.port == 6380 && bare.database == 3)
        #expect(bare.description == "redis://:***@127.0.0.1:6380/3")
        let user = try RedisURL(parsing: "redis://alice:p%40ss:w/rd@localhost")
        #expect(user.username == "alice" && user.password == "p@ss:w/rd" && user.host == "localhost" && user.port == 6379)
        #expect(user.description == "redis://alice:***@localhost:6379")
        // A raw '@' or '/' in the password works too: credentials end at the last '@'.
        let raw = try RedisURL(parsing: "redis://:a@b/c@127.0.0.1:7000/2")
        #expect(raw.password == "a@b/c" && raw.port == 7000 && raw.database == 2)
        // A URL that does not parse is quoted back with its credentials masked.
        let bad = #expect(throws: StoreError.self) { try RedisURL(parsing: "redis://bob:hunter2@h:99999") }
        #expect(bad?.message.contains("hunter2") == false, "\(bad?.message ?? "")")
        #expect(bad?.message.contains("redis://***@h:99999") == true, "\(bad?.message ?? "")")
        let noColon = #expect(throws: StoreError.self) { try RedisURL(parsing: "redis://hunter2@h") }
        #expect(noColon?.message.contains("redis://:PASSWORD@host") == true, "\(noColon?.message ?? "")")
    }

    @Test func badURLErrorsSayWhatIsWrong() {
        let tls = #expect(throws: StoreError.self) { try RedisURL(parsing: "rediss://h:1") }
        #expect(tls?.message.contains("TLS") == true)
        let port = #expect(throws: StoreError.self) { try RedisURL(parsing: "redis://h:99999") }
        #expect(port?.message.contains("port must be a number from 1 to 65535") == true)
    }

    // MARK: - Client failures against real sockets (no redis-server needed)

    @Test func refusedConnectionIsAClearStoreError() throws {
        let port = try RedisServerProcess.freeLoopbackPort()  // free a moment ago: nobody listens
        let error = #expect(throws: StoreError.self) { try RedisConnection(host: "127.0.0.1", port: port, timeout: 2) }
        #expect(error?.message == "redis 127.0.0.1:\(port): cannot connect: Connection refused")
    }

    @Test(.timeLimit(.minutes(1))) func silentServerTimesOutAfterItsTimeout() throws {
        let listener = try SilentListener()
        defer { listener.close() }
        // The kernel completes the handshake from the backlog; nobody ever answers.
        let connection = try RedisConnection(host: "127.0.0.1", port: listener.port, timeout: 0.3)
        let start = MonotonicClock.now()
        let error = #expect(throws: StoreError.self) { try connection.command("PING") }
        #expect(error?.message.contains("timed out") == true, "\(String(describing: error))")
        let elapsed = Double(MonotonicClock.now() - start) / 1e9
        // Not before its timeout; how late it ends is the machine's business (the test's
        // own time limit catches a command that never gives up).
        #expect(elapsed >= 0.25, "gave up after \(elapsed) s, before its 0.3 s timeout")
        #expect(!connection.isConnected)  // dropped: its state is unknown after a timeout
    }

    @Test func availabilityMessageIsOneLineWithTheFix() {
        if let message = RedisServerProcess.availability() {
            #expect(!message.contains("\n"))
            #expect(message.contains("apt-get install -y redis-server"))
        } else {
            #expect(ChildProcess.which("redis-server") != nil)
        }
    }
}

/// A loopback TCP listener that never accepts: a server that never answers.
final class SilentListener {
    let fd: Int32
    let port: Int

    init() throws {
        let socketFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard socketFD >= 0 else { throw StoreError("socket failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socketFD, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socketFD, $0, &length) }
        }
        guard bound == 0, named == 0, listen(socketFD, 8) == 0 else {
            Glibc.close(socketFD)
            throw StoreError("cannot listen on loopback")
        }
        fd = socketFD
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    func close() { Glibc.close(fd) }
}
