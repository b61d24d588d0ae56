import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A private 0700 directory for one app run: spec, sockets, logs, database.
/// It records the supervisor's pid, so a later run can remove the directory of
/// a supervisor that was killed with -9 and had no chance to clean up.
public struct RunDirectory: Sendable {
    public static let prefix = "statelab-"
    public let path: String

    /// A new run directory in the temp dir, or in `parent` (a `--hosts`
    /// control directory, swept with it) named `name-XXXXXX`.
    public static func create(in parent: String? = nil, name: String? = nil) throws -> RunDirectory {
        if parent == nil { sweepStale() }
        let base = parent.map { $0 + "/" } ?? (NSTemporaryDirectory().hasSuffix("/") ? NSTemporaryDirectory() : NSTemporaryDirectory() + "/")
        var template = Array(base.utf8CString.dropLast())
        template += Array("\(name.map { $0 + "-" } ?? prefix)XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw StoreError("cannot create a run directory in \(NSTemporaryDirectory()): \(String(cString: strerror(errno)))")
        }
        let dir = RunDirectory(path: String(cString: made))
        do {
            try markOwned(dir.path)
        } catch {
            dir.remove()
            throw error
        }
        return dir
    }

    /// Marks a directory of statelab's own under the temp dir (named
    /// `statelab-...`) as this process's, so that a later run's sweep removes
    /// it if this process dies without removing it (SIGKILL, a killed test run).
    public static func markOwned(_ path: String) throws {
        try "\(getpid())\n".write(toFile: path + "/supervisor.pid", atomically: true, encoding: .utf8)
    }

    public func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Removes run directories whose supervisor no longer exists.
    static func sweepStale() {
        let tmp = NSTemporaryDirectory()
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: tmp) else { return }
        for name in names where name.hasPrefix(prefix) {
            let dir = (tmp as NSString).appendingPathComponent(name)
            guard let text = try? String(contentsOfFile: dir + "/supervisor.pid", encoding: .utf8),
                  let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)),
                  kill(pid, 0) == -1, errno == ESRCH,
                  (try? FileManager.default.attributesOfItem(atPath: dir)[.ownerAccountID] as? Int) == Int(getuid())
            else { continue }
            try? FileManager.default.removeItem(atPath: dir)
        }
    }
}
