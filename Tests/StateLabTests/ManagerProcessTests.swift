import Foundation
import Glibc
import Testing
@testable import StateLab
import StateLabTestSupport

/// The real `statelab manager` process, as the supervisor will start it.
@Suite struct ManagerProcessTests {
    @Test func managerCommandServesUntilSIGTERMThenRemovesItsSocket() throws {
        let binary = Binary.path
        try #require(access(binary, X_OK) == 0, "build the statelab binary first: \(binary)")

        var template = Array("/tmp/statelab-manager-XXXXXX".utf8CString)
        let directory = String(cString: try #require(mkdtemp(&template)))
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let socketPath = directory + "/manager.sock"
        let keyPath = directory + "/key"
        let logPath = directory + "/manager.log"
        let key = ManagerKey.generate()
        try ManagerKey.write(key, to: keyPath)

        let manager = try ChildProcess.spawn(
            executable: binary, arguments: ["manager", "--socket", socketPath, "--key-file", keyPath],
            outputFile: logPath)
        defer { manager.stop() }

        // Bounded wait for the socket to accept an authenticated session. The
        // deadlines here are far beyond what a busy machine needs (a debug
        // binary has taken 15 s to start under load): only a hang reaches them.
        var session: ManagerSession?
        let deadline = Date().addingTimeInterval(60)
        while session == nil, Date() < deadline, manager.isRunning {
            session = try? ManagerSession(socketPath: socketPath, key: key, timeout: 30)
            if session == nil { usleep(20_000) }
        }
        let connected = try #require(session, "manager did not come up; log: \(readLog(logPath))")
        #expect(try connected.increment(mode: .atomic, raceWindowMicros: 0) == 1)
        #expect(throws: StoreError.self) {
            _ = try ManagerSession(socketPath: socketPath, key: ManagerKey.generate(), timeout: 30)
        }

        manager.send(SIGTERM)
        #expect(manager.wait(timeout: 60), "manager ignored SIGTERM")
        #expect(manager.exitCode == 0)
        #expect(!FileManager.default.fileExists(atPath: socketPath), "socket file left behind")
        let log = readLog(logPath)
        #expect(log.contains("manager: listening on \(socketPath)"))
        #expect(log.contains("refused: wrong key"))
        #expect(log.contains("manager: stopped"))
        // State lives only in the process: the session sees it gone.
        #expect(throws: StoreError.self) { try connected.read() }
    }

    /// Out of descriptors, the manager pauses its accepts instead of spinning
    /// a core on failing ones (issue 18: it did under 21,000 connections), and
    /// serves again once they close. It runs under `ulimit -n 64`; 300 clients
    /// connect without a word (an unauthenticated client waits for its challenge).
    @Test func managerOutOfDescriptorsDoesNotSpin() throws {
        var template = Array("/tmp/statelab-manager-XXXXXX".utf8CString)
        let directory = String(cString: try #require(mkdtemp(&template)))
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let socketPath = directory + "/manager.sock"
        let keyPath = directory + "/key"
        let key = ManagerKey.generate()
        try ManagerKey.write(key, to: keyPath)
        let manager = try ChildProcess.spawn(
            executable: "/bin/sh",
            arguments: ["-c", "ulimit -n 64; exec \"$0\" manager --socket \"$1\" --key-file \"$2\"", Binary.path, socketPath, keyPath],
            outputFile: directory + "/manager.log")
        defer { manager.stop() }
        #expect(Poll.until(timeout: 60) { (try? ManagerSession(socketPath: socketPath, key: key, timeout: 30)) != nil },
                 "manager did not come up; log: \(readLog(directory + "/manager.log"))")

        let address = try UnixSocketAddress.make(socketPath)
        var crowd: [Int32] = []
        defer { crowd.forEach { close($0) } }
        for _ in 0..<300 {
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { break }
            // Non-blocking: once the backlog is full a connect would wait.
            _ = fcntl(fd, F_SETFL, O_NONBLOCK)
            guard UnixSocketAddress.with(address, { connect(fd, $0, $1) }) == 0 else {
                close(fd)
                break  // the backlog is full: enough are waiting
            }
            crowd.append(fd)
        }
        #expect(crowd.count > 64, "only \(crowd.count) clients connected")
        usleep(500_000)
        let before = try #require(ProcessTable.cpuSeconds(manager.pid))
        sleep(3)
        let used = try #require(ProcessTable.cpuSeconds(manager.pid)) - before
        // Spinning takes a whole core (half on a busy machine); pausing, next to nothing.
        #expect(used < 0.75, "the manager used \(used) s of CPU in 3 s while out of descriptors")

        crowd.forEach { close($0) }
        crowd.removeAll()
        #expect(Poll.until(timeout: 30) { (try? ManagerSession(socketPath: socketPath, key: key, timeout: 5)) != nil },
                 "the manager did not serve again once the clients left")
    }

    private func readLog(_ path: String) -> String {
        (try? String(contentsOfFile: path, encoding: .utf8)) ?? "(no log)"
    }
}
