import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Whether a report can be written to a path, asked before any run starts,
/// so a typo in `--output` costs one line instead of a finished benchmark.
public enum OutputPath {
    /// nil when `path` can be written (an existing writable file, or a new
    /// name in a writable directory); else one line with the fix.
    public static func problem(_ path: String, flag: String = "--output") -> String? {
        guard !path.isEmpty else { return "\(flag) is empty; name a file to write to" }
        let url = URL(fileURLWithPath: path)
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) {
            if isDirectory.boolValue { return "\(flag) \(path) is a directory; name a file in it, e.g. \(url.appendingPathComponent("report.json").path)" }
            return access(url.path, W_OK) == 0 ? nil : "\(flag) \(path) is not writable; choose a writable path"
        }
        let parent = url.deletingLastPathComponent().path
        guard FileManager.default.fileExists(atPath: parent, isDirectory: &isDirectory), isDirectory.boolValue else {
            return "\(flag) \(path): the directory \(parent) does not exist; create it or choose another path"
        }
        return access(parent, W_OK) == 0 ? nil : "\(flag) \(path): the directory \(parent) is not writable; choose a writable path"
    }
}
