import Foundation
import Testing
@testable import StateLab

extension RedisTests.RealServer {
    @Test("pipeline: one write, the replies in order, an error reply in its place, the connection usable after")
    func pipelineAnswersInOrder() throws {
        let server = try RedisTestGate.launch()
        defer { server.stop() }
        let connection = try RedisConnection(host: server.host, port: server.port, timeout: 5)
        defer { connection.close() }
        let replies = try connection.pipeline([
            ["SET", "statelab:test:p", "a"], ["GET", "statelab:test:p"], ["INCR", "statelab:test:n"],
            ["NOSUCHCOMMAND"], ["INCR", "statelab:test:n"], ["GET", "statelab:test:missing"],
        ])
        #expect(replies.count == 6)
        #expect(replies[0] == .simpleString("OK"))
        #expect(replies[1] == .bulk("a"))
        #expect(replies[2] == .integer(1))
        if case .error(let message) = replies[3] {
            #expect(message.contains("unknown command"), "\(message)")
        } else {
            Issue.record("the unknown command's reply should be an error in its place, got \(replies[3])")
        }
        #expect(replies[4] == .integer(2), "the command after the error still ran")
        #expect(replies[5] == .bulkString(nil))
        #expect(try connection.command("PING") == .simpleString("PONG"), "no reply left over on the connection")

        // More replies than one read returns: 2,000 INCRs, answered 1...2000 in order.
        let many = try connection.pipeline(Array(repeating: ["INCR", "statelab:test:many"], count: 2_000))
        #expect(many == (1...2_000).map { RESPValue.integer($0) })
        let big = String(repeating: "x", count: 100_000)
        let large = try connection.pipeline([["SET", "statelab:test:big", big], ["GET", "statelab:test:big"], ["STRLEN", "statelab:test:big"]])
        #expect(large == [.simpleString("OK"), .bulk(big), .integer(100_000)])
        #expect(try connection.command("GET", "statelab:test:n") == .bulk("2"))
    }
}
