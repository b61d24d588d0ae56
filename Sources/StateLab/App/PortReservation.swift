import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Holds the app's port while workers start: a bound, never-listening
/// SO_REUSEPORT socket, so port 0 can pick a free port that every worker then
/// joins. It first checks the port is free: SO_REUSEPORT would otherwise let
/// our workers join another program's listeners on that port.
struct PortReservation {
    let port: Int
    private let fd: Int32

    init(port requested: Int) throws {
        if requested != 0 {
            let probe = try Self.bound(port: requested, reusePort: false)
            close(probe.fd)
        }
        (fd, port) = try Self.bound(port: requested, reusePort: true)
    }

    func release() { close(fd) }

    private static func bound(port: Int, reusePort: Bool) throws -> (fd: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw StoreError("socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        if reusePort { setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, socklen_t(MemoryLayout<Int32>.size)) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw StoreError("port \(port) on 127.0.0.1 is not available (\(reason)); choose another with --port, or --port 0 for a free one")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = getsockname(fd, $0, &length) }
        }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }
}
