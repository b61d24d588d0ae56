import Foundation
import StateLab
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A real headless browser (Debian's chromium) for the HTML report's tests.
/// They skip on a developer machine without it and fail in CI, where .ci/run
/// installs it and sets STATELAB_REQUIRE_CHROMIUM=1.
///
/// Chromium is always run inside a fresh network namespace (`unshare -n`):
/// besides the page, the browser itself reaches for Google's update and time
/// servers, and nothing may leave this machine. Its net log tells the page's
/// own requests (initiated by the file) from the browser's.
public enum Chromium {
    public static var path: String? {
        ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { access($0, X_OK) == 0 }
    }

    public static var required: Bool { ProcessInfo.processInfo.environment["STATELAB_REQUIRE_CHROMIUM"] == "1" }
    public static var runs: Bool { (path != nil && unshare != nil) || required }
    public static let skipReason: Comment = "chromium is not installed (apt-get install -y chromium)"
    static var unshare: String? { ["/usr/bin/unshare", "/bin/unshare"].first { access($0, X_OK) == 0 } }

    /// What the browser made of one file.
    public struct Page: Sendable {
        /// The DOM after every script ran (`--dump-dom`).
        public var dom: String
        /// Console messages that are errors: uncaught exceptions and console.error.
        public var consoleErrors: [String]
        /// URLs the page itself asked for (images, scripts, styles, fetches), from the net log.
        public var pageRequests: [String]
        /// Everything the browser logged, for a failure's message.
        public var log: String
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    /// Loads `file` in headless Chromium with no network and returns the DOM,
    /// console errors and the page's own requests. Bounded by `timeout`; the
    /// browser's whole process group is killed by its pid at the end.
    public static func render(_ file: String, timeout: Double = 120, screenshot: String? = nil) throws -> Page {
        guard let chromium = path else { throw Failure(description: "chromium is not installed (apt-get install -y chromium)") }
        guard let unshare else { throw Failure(description: "unshare (util-linux) is missing") }
        let work = try ScratchDirectory()
        defer { work.remove() }
        let out = work.path + "/dom.html", err = work.path + "/stderr.txt", net = work.path + "/net.json"
        let outFD = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        let errFD = open(err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        defer { close(outFD); close(errFD) }
        var arguments = ["-n", chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                         "--disable-background-networking", "--disable-component-update",
                         "--user-data-dir=\(work.path)/profile", "--log-net-log=\(net)",
                         "--enable-logging=stderr", "--v=0", "--window-size=1280,2000"]
        arguments.append(screenshot.map { "--screenshot=\($0)" } ?? "--dump-dom")
        arguments.append(URL(fileURLWithPath: file).absoluteString)
        let browser = try ChildProcess.spawn(executable: unshare, arguments: arguments,
                                             inherit: [(from: outFD, to: 1), (from: errFD, to: 2)])
        let finished = browser.wait(timeout: timeout)
        // The browser's helpers (zygote, renderer, GPU) are in its process group.
        kill(-browser.pid, SIGKILL)
        _ = browser.wait(timeout: 10)
        let log = (try? String(contentsOfFile: err, encoding: .utf8)) ?? ""
        guard finished else { throw Failure(description: "chromium did not finish within \(timeout) s: \(log.suffix(2_000))") }
        let dom = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        let consoleErrors = log.split(separator: "\n").map(String.init).filter { line in
            line.contains(":CONSOLE") && (line.contains("Uncaught") || line.contains("Error") || line.contains("error"))
        }
        return Page(dom: dom, consoleErrors: consoleErrors, pageRequests: pageRequests(netLog: net), log: log)
    }

    /// Requests the page started: URL_REQUEST_START_JOB events whose isolation key is the file's
    /// (the browser's own requests have none).
    static func pageRequests(netLog path: String) -> [String] {
        guard let data = FileManager.default.contents(atPath: path),
              let log = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let constants = log["constants"] as? [String: Any],
              let types = constants["logEventTypes"] as? [String: Int],
              let startJob = types["URL_REQUEST_START_JOB"],
              let events = log["events"] as? [[String: Any]] else { return ["(no readable net log at \(path))"] }
        return events.compactMap { event in
            guard event["type"] as? Int == startJob, let params = event["params"] as? [String: Any],
                  let url = params["url"] as? String else { return nil }
            let key = params["network_isolation_key"] as? String ?? ""
            let initiator = params["initiator"] as? String ?? ""
            return key.contains("file://") || initiator == "null" ? url : nil
        }
    }
}

/// A fresh directory under the real temp dir, removed with `remove()`.
public struct ScratchDirectory: Sendable {
    public let path: String

    public init() throws {
        path = FileManager.default.temporaryDirectory
            .appendingPathComponent("statelab-cli-test-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// Writes `text` to `name` in this directory and returns its path.
    @discardableResult
    public func write(_ name: String, _ text: String) throws -> String {
        let file = path + "/" + name
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    public var contents: [String] { (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] }

    public func remove() { try? FileManager.default.removeItem(atPath: path) }
}
