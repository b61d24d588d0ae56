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

    private func readLog(_ path: String) -> String {
        (try? String(contentsOfFile: path, encoding: .utf8)) ?? "(no log)"
    }
}
