import Foundation
import StateLab
#if canImport(Glibc)
import Glibc
#endif

/// The built `statelab` executable: next to the test bundle, or $STATELAB_BIN.
enum Binary {
    static let path: String = {
        if let explicit = ProcessInfo.processInfo.environment["STATELAB_BIN"] { return explicit }
        let here = URL(fileURLWithPath: ChildProcess.currentExecutable).deletingLastPathComponent()
        for candidate in [here, here.deletingLastPathComponent()] {
            let path = candidate.appendingPathComponent("statelab").path
            if access(path, X_OK) == 0 { return path }
        }
        return here.appendingPathComponent("statelab").path
    }()
}

/// Redis tests skip on a developer machine without redis-server, but fail in CI,
/// where .ci/run sets STATELAB_REQUIRE_REDIS=1.
enum RedisRequirement {
    static var required: Bool { ProcessInfo.processInfo.environment["STATELAB_REQUIRE_REDIS"] == "1" }
    static var available: Bool { RedisServerProcess.availability() == nil }
    /// Whether to run a redis test; prints why it is skipped.
    static func shouldRun() -> Bool {
        if available || required { return true }
        print("skipping a redis test: redis-server is not installed (apt-get install -y redis-server)")
        return false
    }
}

/// Processes whose command line contains `needle` and whose parent chain includes us, by /proc.
enum ProcessTable {
    static func exists(_ pid: Int32) -> Bool {
        // A zombie still answers kill(pid, 0); look at its state.
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return false }
        guard let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(close, offsetBy: 2)]
        return state != "Z" && state != "X"
    }

    /// Waits (bounded) until none of `pids` exists.
    static func waitGone(_ pids: [Int32], timeout: Double = 10) -> [Int32] {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if !pids.contains(where: exists) { return [] }
            usleep(20_000)
        }
        return pids.filter(exists)
    }
}
