import CSupport
#if canImport(Glibc)
import Glibc
#endif

/// A Unix socket whose file is 0600 from the moment it appears at its path:
/// the worker control sockets and the manager's socket.
///
/// bind() creates the file with the process umask (usually 0755), so a chmod
/// after it leaves a window in which the file is wider. Setting the umask
/// around bind() would close it, but the umask is process-wide and this runs
/// in multi-threaded processes (a worker's NIO threads, the manager in tests
/// next to other suites creating files), so it is left alone. Instead the
/// socket is bound in a fresh 0700 directory next to `path`, where no other
/// user can reach it, narrowed to 0600 there, and renamed into place. rename()
/// is atomic and keeps the inode and its mode, and RENAME_NOREPLACE makes it
/// fail, like bind() does, when something already exists at `path`.
enum PrivateUnixSocket {
    /// Room the temporary path needs beyond `path`'s directory: "/.slXXXXXX/s".
    private static let stagingSuffix = "/.slXXXXXX"

    /// A socket bound to `path` (not yet listening), its file mode 0600. The
    /// caller listens on it and owns the descriptor.
    static func bind(path: String) throws -> Int32 {
        _ = try UnixSocketAddress.make(path)
        let parent = Self.directory(of: path)
        var template = Array((parent + stagingSuffix).utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            throw StoreError("cannot create a private directory in \(parent) to bind \(path): \(String(cString: strerror(errno)))")
        }
        let staging = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        let stagedPath = staging + "/s"
        defer {
            unlink(stagedPath)
            rmdir(staging)
        }
        let address: sockaddr_un
        do {
            address = try UnixSocketAddress.make(stagedPath)
        } catch {
            let limit = MemoryLayout.size(ofValue: sockaddr_un().sun_path) - 1 - (stagedPath.utf8.count - parent.utf8.count)
            throw StoreError("socket path \(path) is too long: its directory must be at most \(limit) bytes, to bind it privately first")
        }

        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw StoreError("cannot create a socket for \(path): \(String(cString: strerror(errno)))") }
        func fail(_ what: String) -> StoreError {
            let reason = String(cString: strerror(errno))
            close(fd)
            return StoreError("cannot \(what) \(path): \(reason)")
        }
        guard UnixSocketAddress.with(address, { Glibc.bind(fd, $0, $1) }) == 0 else { throw fail("bind") }
        guard chmod(stagedPath, 0o600) == 0 else { throw fail("set mode 0600 on") }
        guard sl_rename_noreplace(stagedPath, path) == 0 else { throw fail("move the bound socket to") }
        return fd
    }

    private static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
