import Glibc

/// A blocking, framed Unix-socket connection to the manager, for worker threads
/// (never an event loop). Every send and receive is bounded by a timeout.
final class ManagerSocket {
    private var fd: Int32
    let path: String

    /// Connects to `path` with send/receive timeouts of `timeout` seconds.
    init(path: String, timeout: Double) throws {
        self.path = path
        let address = try UnixSocketAddress.make(path)
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw StoreError("manager: cannot create a socket: \(ManagerPOSIX.errorText())") }
        do {
            try setTimeout(SO_RCVTIMEO, seconds: timeout)
            try setTimeout(SO_SNDTIMEO, seconds: timeout)
            var result: Int32
            repeat {
                result = UnixSocketAddress.with(address) { connect(fd, $0, $1) }
            } while result != 0 && errno == EINTR
            guard result == 0 else {
                throw StoreError("manager: cannot connect to \(path): \(ManagerPOSIX.errorText())")
            }
        } catch {
            close()
            throw error
        }
    }

    deinit { close() }

    var isOpen: Bool { fd >= 0 }

    func close() {
        if fd >= 0 {
            Glibc.close(fd)
            fd = -1
        }
    }

    func sendFrame(_ payload: [UInt8]) throws {
        let length = UInt32(payload.count)
        let header: [UInt8] = [UInt8(length >> 24), UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff)]
        try sendAll(header + payload)
    }

    func receiveFrame() throws -> [UInt8] {
        let header = try receiveExactly(4)
        let length = header.reduce(0) { $0 << 8 | Int($1) }
        guard length <= ManagerProtocol.maxFrameLength else {
            throw StoreError("manager: reply of \(length) bytes is over the limit of \(ManagerProtocol.maxFrameLength)")
        }
        return try receiveExactly(length)
    }

    // MARK: - Raw I/O

    private func setTimeout(_ option: Int32, seconds: Double) throws {
        let whole = max(0, seconds.rounded(.down))
        var value = timeval(tv_sec: Int(whole), tv_usec: Int((max(0, seconds) - whole) * 1_000_000))
        guard setsockopt(fd, SOL_SOCKET, option, &value, socklen_t(MemoryLayout<timeval>.size)) == 0 else {
            throw StoreError("manager: cannot set a socket timeout: \(ManagerPOSIX.errorText())")
        }
    }

    /// Sends raw bytes; the framing above uses it, and tests use it to send bad input.
    func sendAll(_ bytes: [UInt8]) throws {
        guard fd >= 0 else { throw StoreError("manager: the connection is closed") }
        var sent = 0
        while sent < bytes.count {
            // MSG_NOSIGNAL: a server that went away is an error to report, not a SIGPIPE.
            let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw ioError("sending to") }
            sent += n
        }
    }

    func receiveExactly(_ count: Int) throws -> [UInt8] {
        guard fd >= 0 else { throw StoreError("manager: the connection is closed") }
        var bytes = [UInt8](repeating: 0, count: count)
        var received = 0
        while received < count {
            let n = bytes[received...].withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            if n == 0 { throw StoreError("manager: \(path) closed the connection") }
            guard n > 0 else { throw ioError("receiving from") }
            received += n
        }
        return bytes
    }

    private func ioError(_ doing: String) -> StoreError {
        let code = errno
        if code == EAGAIN || code == EWOULDBLOCK {
            return StoreError("manager: timed out \(doing) \(path)")
        }
        return StoreError("manager: error \(doing) \(path): \(ManagerPOSIX.errorText(code))")
    }
}
