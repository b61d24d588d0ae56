import NIOCore
import Foundation
import StateLab
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// /proc tables are read whole: with more sockets than one page holds (26),
/// every listener is still found. `String(contentsOfFile:)` read 27 lines of 298.
@Suite struct ProcFileTests {
    /// A loopback listener on a port the kernel picks; its fd and port.
    static func listener() throws -> (fd: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(bound == 0 && listen(fd, 4) == 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }

    @Test func everyListenerIsFoundAmongHundredsOfSockets() throws {
        var listeners: [(fd: Int32, port: Int)] = []
        defer { listeners.forEach { close($0.fd) } }
        for _ in 0..<200 { listeners.append(try Self.listener()) }
        let table = try #require(ProcFile.read("/proc/net/tcp"))
        #expect(table.split(separator: "\n").count > 200, "the table was cut short")
        let missing = listeners.filter { ProcessTree.listeningInodes(port: $0.port).isEmpty }.map(\.port)
        #expect(missing.isEmpty, "\(missing.count) of 200 listeners not found: \(missing.prefix(10))")
    }

    @Test func aMissingFileIsNil() {
        #expect(ProcFile.read("/proc/no-such-file-\(getpid())") == nil)
    }

    /// A connection that does not exist is not in the kernel's table: unknown, with the reason.
    @Test func aConnectionNotInTheSocketTableIsUnknown() throws {
        let owners = SocketOwners(scope: .anyProcess)
        let server = try SocketAddress(ipAddress: "127.0.0.1", port: 9)
        let client = try SocketAddress(ipAddress: "127.0.0.1", port: 1)
        guard case .unknown(let reason) = owners.poll(server: server, client: client) else {
            Issue.record("a connection that does not exist was placed")
            return
        }
        #expect(reason.contains("not in this machine's socket table"), "\(reason)")
    }
}
