import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Talks to one exact worker through its private Unix socket: a blocking,
/// one-request-per-connection HTTP/1.1 client with timeouts.
public enum ControlClient {
    public struct Answer: Sendable {
        public var status: Int
        public var count: Int?
        public var pid: Int32?
        public var error: String?
        /// Transactions the worker retried ("retries" in /report: postgres serializable, redis locked).
        public var retries: Int? = nil
    }

    public static func request(_ method: String, _ path: String, socketPath: String, timeout: Double = 5) throws -> Answer {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw StoreError("socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - timeout.rounded(.down)) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        try connectUnix(fd: fd, path: socketPath)

        let request = "\(method) \(path) HTTP/1.1\r\nHost: worker\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        let sent = request.withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        guard sent == request.utf8.count else { throw StoreError("send to \(socketPath): \(String(cString: strerror(errno)))") }

        var response = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 4096)
        while response.count < 1 << 20 {
            let n = recv(fd, &chunk, chunk.count, 0)
            if n > 0 { response += chunk[0..<n]; continue }
            if n == 0 { break }
            if errno == EINTR { continue }
            throw StoreError("no answer from \(socketPath) within \(timeout)s: \(String(cString: strerror(errno)))")
        }
        return try parse(response, from: socketPath)
    }

    static func parse(_ response: [UInt8], from socketPath: String) throws -> Answer {
        let text = String(decoding: response, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n"),
              let statusText = text.split(separator: " ", maxSplits: 2).dropFirst().first,
              let status = Int(statusText)
        else { throw StoreError("malformed answer from \(socketPath)") }
        let bodyText = text[split.upperBound...]
        let object = (try? JSONSerialization.jsonObject(with: Data(bodyText.utf8))) as? [String: Any] ?? [:]
        return Answer(status: status, count: object["count"] as? Int,
                      pid: (object["pid"] as? Int).map(Int32.init), error: object["error"] as? String,
                      retries: object["retries"] as? Int)
    }

    static func connectUnix(fd: Int32, path: String) throws {
        let address = try UnixSocketAddress.make(path)
        guard UnixSocketAddress.with(address, { connect(fd, $0, $1) }) == 0 else {
            throw StoreError("connect \(path): \(String(cString: strerror(errno)))")
        }
    }
}
