import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One blocking `GET path` to 127.0.0.1:port, for waiting on an app that is
/// starting: `LaunchedApp.start` blocks (its callers move it off the
/// cooperative pool), so it needs no event loop and no bridge to one.
enum ReadyProbe {
    /// The answer's status code, or why there was none.
    /// `host`: 127.0.0.1, or a host of statelab's own --hosts network (checked as every connect is).
    static func status(host: String = "127.0.0.1", port: Int, path: String, timeout: Double) -> Result<Int, StoreError> {
        guard let literal = LoopbackHost.literal(host) else { return .failure(StoreError("\(LoopbackHost.Refusal(host: host))")) }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .failure(StoreError("socket: \(String(cString: strerror(errno)))")) }
        defer { close(fd) }
        // SO_SNDTIMEO also bounds connect() on Linux.
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - timeout.rounded(.down)) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr(literal)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return .failure(StoreError("connect: \(String(cString: strerror(errno)))")) }
        let request = "GET \(path) HTTP/1.1\r\nHost: \(literal):\(port)\r\nConnection: close\r\n\r\n"
        let sent = request.withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        guard sent == request.utf8.count else { return .failure(StoreError("send: \(String(cString: strerror(errno)))")) }
        // Only the status line matters: "HTTP/1.1 200 OK".
        var received = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 512)
        let deadline = MonotonicClock.now() + UInt64(timeout * 1e9)
        while received.count < 4096, !received.contains(UInt8(ascii: "\n")), MonotonicClock.now() < deadline {
            let n = recv(fd, &chunk, chunk.count, 0)
            if n > 0 { received += chunk[0..<n]; continue }
            if n < 0 && errno == EINTR { continue }
            break
        }
        let line = String(decoding: received.prefix { $0 != UInt8(ascii: "\n") }, as: UTF8.self)
        let parts = line.split(separator: " ")
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/"), let code = Int(parts[1]) else {
            return .failure(StoreError(received.isEmpty ? "no answer" : "not an HTTP answer"))
        }
        return .success(code)
    }
}
