import Glibc

/// Small blocking POSIX helpers the manager's files and client socket share.
enum ManagerPOSIX {
    static func errorText(_ code: Int32 = errno) -> String {
        String(cString: strerror(code))
    }

    /// Writes every byte to a file, retrying after EINTR and short writes.
    static func writeAll(_ fd: Int32, _ bytes: [UInt8], what: String) throws {
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw StoreError("manager: cannot write \(what): \(errorText())") }
            written += n
        }
    }

    /// Reads to end of file, refusing files larger than `limit` bytes.
    static func readAll(_ fd: Int32, limit: Int, what: String) throws -> [UInt8] {
        var contents: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 512)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw StoreError("manager: cannot read \(what): \(errorText())") }
            if n == 0 { return contents }
            contents += chunk[0..<n]
            guard contents.count <= limit else { throw StoreError("manager: \(what) is larger than \(limit) bytes") }
        }
    }

    /// A Unix socket address for `path`, or an error if the path is too long for `sun_path`.
    static func unixAddress(_ path: String) throws -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard !bytes.isEmpty, bytes.count < capacity else {
            throw StoreError("manager: socket path \(path) must be 1 to \(capacity - 1) bytes long")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return address
    }

    /// Calls a socket function taking a `sockaddr` with `address`.
    static func withSocketAddress<T>(_ address: sockaddr_un, _ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
        var address = address
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }

    /// True when a Unix socket file exists at `path` (lstat: a symlink is not a socket).
    static func isSocketFile(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFSOCK
    }

    static func fileExists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }
}
