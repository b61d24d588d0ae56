#if canImport(Glibc)
import Glibc
#endif

/// Reads a /proc file whole. Foundation's `String(contentsOfFile:)` stops
/// after the first read of a file whose size says 0, which for /proc/net/tcp
/// is one page: 26 sockets. On a machine with more sockets than that, a
/// listener further down was simply not there (measured: 27 of 298 lines).
/// This reads until end of file, bounded at 64 MiB.
public enum ProcFile {
    public static func read(_ path: String, limit: Int = 64 << 20) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while bytes.count < limit {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
