import Foundation
import StateLab
import StateLabTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// The `statelab` binary run as a person runs it, with an environment of the
/// test's choosing (RunCommand always inherits ours).
enum StatelabCLI {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
        var seconds: Double

        /// Non-empty stderr lines.
        var stderrLines: [String] { stderr.split(separator: "\n").map(String.init) }
        var json: [String: Any]? {
            (try? JSONSerialization.jsonObject(with: Data(stdout.utf8))) as? [String: Any]
        }
    }

    /// Our environment with `changes` applied (a nil value removes the variable).
    static func environment(_ changes: [String: String?]) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        for (key, value) in changes { environment[key] = value }
        return environment
    }

    /// The same, waited for on a Dispatch thread: a test that runs minutes of
    /// statelab must not hold one of Swift's few cooperative threads (two on
    /// this machine), or every async test starves meanwhile.
    static func run(_ arguments: [String], environment: [String: String]? = nil,
                    timeout: Double = 120) async throws -> Result {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Swift.Result { try runBlocking(arguments, environment: environment, timeout: timeout) })
            }
        }
    }

    static func run(_ arguments: [String], environment: [String: String]? = nil,
                    timeout: Double = 120) throws -> Result {
        try runBlocking(arguments, environment: environment, timeout: timeout)
    }

    private static func runBlocking(_ arguments: [String], environment: [String: String]?,
                                    timeout: Double) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Binary.path)
        process.arguments = arguments
        if let environment { process.environment = environment }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let start = Date()
        try process.run()
        // Drain both pipes while it runs so a chatty command cannot block on a full pipe.
        nonisolated(unsafe) var outData = Data(), errData = Data()
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) { outData = out.fileHandleForReading.readDataToEndOfFile() }
        DispatchQueue.global().async(group: group) { errData = err.fileHandleForReading.readDataToEndOfFile() }
        if group.wait(timeout: .now() + timeout) == .timedOut {
            // The app's children die with it (PR_SET_PDEATHSIG), so killing this pid is enough.
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            throw StoreError("statelab \(arguments.joined(separator: " ")) did not finish within \(timeout)s")
        }
        process.waitUntilExit()
        return Result(status: process.terminationStatus,
                      stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData, as: UTF8.self),
                      seconds: Date().timeIntervalSince(start))
    }
}


/// The repository this test file lives in, for Scenarios/ and Tests/Fixtures/.
enum Repository {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    static func yamlFiles(in folder: String) -> [String] {
        let directory = root.appendingPathComponent(folder)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasSuffix(".yaml") }.sorted().map { directory.appendingPathComponent($0).path }
    }
}

/// A small RFC 4180 reader: quoted fields may hold commas, doubled quotes and line breaks.
enum CSV {
    static func parse(_ text: String) -> [[String]] {
        var rows: [[String]] = [], row: [String] = [], field = ""
        var quoted = false, afterQuote = false
        var scalars = text.unicodeScalars.makeIterator()
        while let scalar = scalars.next() {
            if quoted {
                if scalar == "\"" { quoted = false; afterQuote = true } else { field.unicodeScalars.append(scalar) }
                continue
            }
            switch scalar {
            case "\"":
                if afterQuote { field += "\"" }  // a doubled quote inside a quoted field
                quoted = true; afterQuote = false
            case ",":
                row.append(field); field = ""; afterQuote = false
            case "\r":
                afterQuote = false
            case "\n":
                row.append(field); rows.append(row); row = []; field = ""; afterQuote = false
            default:
                field.unicodeScalars.append(scalar); afterQuote = false
            }
        }
        if !field.isEmpty || !row.isEmpty { row.append(field); rows.append(row) }
        return rows
    }
}
