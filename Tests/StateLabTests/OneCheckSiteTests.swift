import Foundation
import Testing

/// Outside tests, a history becomes a check in one place: `RunSession.check()`,
/// which `compare`, `load` and the dashboard all reach. This holds it so: a
/// second front end that assembles its own check fails here.
@Suite struct OneCheckSiteTests {
    static let sources = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Sources")

    /// Every line of code (comments left out) under Sources/ that matches `pattern`, as "path: line".
    static func calls(matching pattern: String) throws -> [String] {
        let regex = try NSRegularExpression(pattern: pattern)
        var found: [String] = []
        let files = FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil)
        while let url = files?.nextObject() as? URL {
            guard url.pathExtension == "swift" else { continue }
            let text = try String(contentsOf: url, encoding: .utf8)
            for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
                let code = line.trimmingCharacters(in: .whitespaces)
                if code.hasPrefix("//") { continue }
                let range = NSRange(code.startIndex..., in: code)
                if regex.firstMatch(in: code, range: range) != nil {
                    found.append("\(url.path.replacingOccurrences(of: sources.path + "/", with: "")): \(code)")
                }
            }
        }
        return found.sorted()
    }

    @Test func theSourcesAreWhereTheTestLooks() {
        #expect(FileManager.default.fileExists(atPath: Self.sources.appendingPathComponent("StateLab/Run/RunSession.swift").path))
    }

    @Test func onlyTheRunSessionChecksAHistory() throws {
        let calls = try Self.calls(matching: #"\.check\(shared:"#)
        #expect(calls.count == 1 && calls.first?.hasPrefix("StateLab/Run/RunSession.swift:") == true,
                "a history is checked outside RunSession.check(): \(calls)")
    }

    @Test func onlyTheRecorderCallsTheChecker() throws {
        let calls = try Self.calls(matching: #"Checker\.check\("#)
        #expect(calls.count == 1 && calls.first?.hasPrefix("StateLab/Check/HistoryRecorder.swift:") == true,
                "the checker is called outside HistoryRecorder.check(shared:): \(calls)")
    }
}
