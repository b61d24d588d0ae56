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
