import Foundation
import StateLab
import Testing

/// The real curses path, in a real (headless tmux) terminal: this test binary
/// runs `terminalDemo` inside tmux, presses keys, and checks how it ended and
/// that the terminal was put back in its normal mode.
@Suite(.serialized, .enabled(if: Tmux.available && ProcessInfo.processInfo.environment["STATELAB_DASHBOARD_DEMO"] == nil))
struct DashboardTerminalTests {
    @Test func quitKeyStopsTheLoopAndRestoresTheTerminal() throws {
        let run = try DemoRun()
        defer { run.stop() }
        try run.waitForScreen(containing: "verdict")
        run.tmux("send-keys", "-t", run.session, " ")
        try run.waitForScreen(containing: "lost-updates: ")
        run.tmux("send-keys", "-t", run.session, "q")
        let report = try run.waitForFile(run.reportPath)
        #expect(report.contains("ending: quit"))
        #expect(report.contains("fireBurst"))
        #expect(report.contains("shutdown: true"))
        let stty = try run.waitForFile(run.sttyPath)
        #expect(stty.contains(" icanon") && stty.contains(" echo"), "terminal left in raw mode: \(stty)")
    }

    @Test func sigtermRestoresTheTerminal() throws {
        let run = try DemoRun()
        defer { run.stop() }
        try run.waitForScreen(containing: "verdict")
        let shell = try #require(Int32(run.tmux("display", "-p", "-t", run.session, "#{pane_pid}").trimmingCharacters(in: .whitespacesAndNewlines)))
        let child = try #require(Int32(Tmux.run("/usr/bin/pgrep", ["-P", String(shell)], in: run.directory).split(separator: "\n").first ?? ""))
        kill(child, SIGTERM)
        let report = try run.waitForFile(run.reportPath)
        #expect(report.contains("ending: signal(15)"))
        let stty = try run.waitForFile(run.sttyPath)
        #expect(stty.contains(" icanon") && stty.contains(" echo"), "terminal left in raw mode: \(stty)")
    }

    @Test func tooSmallTerminalSaysSo() throws {
        let run = try DemoRun(width: 70, height: 20)
        defer { run.stop() }
        try run.waitForScreen(containing: "terminal too small: need 80x24, have 70x20")
        run.tmux("resize-window", "-t", run.session, "-x", "100", "-y", "30")
        try run.waitForScreen(containing: "verdict")
    }
}

enum Tmux {
    static var available: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/tmux") }

    /// Runs a short command and returns its output. ChildProcess rather than
    /// Foundation's Process: the tmux server forks off the first client and would
    /// inherit Process's private descriptors, so Process would wait for the server too.
    @discardableResult
    static func run(_ path: String, _ arguments: [String], in directory: URL) -> String {
        let output = directory.appendingPathComponent("out-\(UInt32.random(in: 0...UInt32.max)).txt").path
        defer { try? FileManager.default.removeItem(atPath: output) }
        guard let child = try? ChildProcess.spawn(executable: path, arguments: arguments, outputFile: output) else { return "" }
        if !child.wait(timeout: 10) { child.stop(grace: 1) }
        return (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
    }
}

/// One tmux server on a private socket running the demo; `stop` kills that server only.
struct DemoRun {
    struct Timeout: Error, CustomStringConvertible {
        var description: String
    }

    let socket = "statelab-dash-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    let session = "demo"
    let directory: URL
    var reportPath: String { directory.appendingPathComponent("report.txt").path }
    var sttyPath: String { directory.appendingPathComponent("stty.txt").path }

    init(width: Int = 100, height: Int = 30) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(socket)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let binary = CommandLine.arguments[0]
        let command = "STATELAB_DASHBOARD_DEMO=1 STATELAB_DASHBOARD_DEMO_REPORT='\(reportPath)' '\(binary)' --testing-library swift-testing --filter terminalDemo; "
            + "stty -a > '\(sttyPath).tmp'; mv '\(sttyPath).tmp' '\(sttyPath)'; sleep 30"
        tmux("new-session", "-d", "-s", session, "-x", String(width), "-y", String(height), command)
    }

    @discardableResult
    func tmux(_ arguments: String...) -> String {
        Tmux.run("/usr/bin/tmux", ["-L", socket] + arguments, in: directory)
    }

    func waitForScreen(containing text: String, seconds: Double = 20) throws {
        let deadline = Date().addingTimeInterval(seconds)
        var screen = ""
        while Date() < deadline {
            screen = tmux("capture-pane", "-p", "-t", session)
            if screen.contains(text) { return }
            usleep(100_000)
        }
        throw Timeout(description: "no \"\(text)\" on screen after \(seconds) s:\n\(screen)")
    }

    func waitForFile(_ path: String, seconds: Double = 20) throws -> String {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let text = try? String(contentsOfFile: path, encoding: .utf8), !text.isEmpty { return text }
            usleep(100_000)
        }
        throw Timeout(description: "\(path) not written after \(seconds) s")
    }

    func stop() {
        tmux("kill-server")
        try? FileManager.default.removeItem(at: directory)
    }
}
