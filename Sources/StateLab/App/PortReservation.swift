import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The app's port, held by the supervisor.
///
/// reuseport: a bound, never-listening SO_REUSEPORT socket held while the
/// workers start, so port 0 can pick a free port that every worker then joins.
/// It first checks the port is free: SO_REUSEPORT would otherwise let our
/// workers join another program's listeners on that port.
///
/// shared: the one listening socket of the app, held for the app's life: every
/// worker, restarted ones too, inherits it. No SO_REUSEPORT, so a port in use
/// fails the bind. Its fd is moved to 10 or above: a worker's fds are set up
/// by dup2 in order, and a source fd equal to an earlier target (3, the shm
/// segment) would be overwritten before it is copied.
struct PortReservation {
    let port: Int
    let fd: Int32

    /// Backlog of the shared listening socket (each worker's own has the same with reuseport).
    static let backlog: Int32 = 1024

    init(port requested: Int, listen: ListenMode = .reuseport) throws {
        switch listen {
        case .reuseport:
            // A bind without SO_REUSEPORT first: a port another program listens on is refused.
            // For port 0 it is strict too (no SO_REUSEADDR): the kernel then picks a port no
            // socket holds, TIME_WAIT ones included. With SO_REUSEADDR, bind(0) could pick a
            // port a closed client connection still held in TIME_WAIT, and the workers' own bind
            // then failed with "Address already in use" (seen once in a full run among many
            // short-lived test connections). A port asked for keeps SO_REUSEADDR, so a server
            // restarted on it does not wait out its old connections' TIME_WAIT.
            let probe = try Self.bound(port: requested, reusePort: false, reuseAddress: requested != 0)
            close(probe.fd)
            (fd, port) = try Self.bound(port: probe.port, reusePort: true)
        case .shared:
            let (bound, port) = try Self.bound(port: requested, reusePort: false)
            let moved = fcntl(bound, F_DUPFD_CLOEXEC, 10)
            let reason = String(cString: strerror(errno))
            close(bound)
            guard moved >= 0 else { throw StoreError("cannot move the listening socket to fd 10 or above: \(reason)") }
            // Non-blocking, for every worker at once (the flag is on the shared
            // file description): a worker that loses the race for a connection
            // gets EAGAIN instead of waiting in accept (SharedSocketAcceptor).
            let flags = fcntl(moved, F_GETFL)
            guard flags >= 0, fcntl(moved, F_SETFL, flags | O_NONBLOCK) == 0,
                  Glibc.listen(moved, Self.backlog) == 0 else {
                let reason = String(cString: strerror(errno))
                close(moved)
                throw StoreError("cannot listen on 127.0.0.1:\(port): \(reason)")
            }
            (fd, self.port) = (moved, port)
        }
    }

    func release() { close(fd) }

    private static func bound(port: Int, reusePort: Bool, reuseAddress: Bool = true) throws -> (fd: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw StoreError("socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        if reuseAddress { setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size)) }
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
