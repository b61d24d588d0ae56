import Foundation
import StateLabTestSupport
import Testing

/// Tools/history-check.py, the independent checker of an exported history
/// (`--history`): it recomputes lost, unexpected and duplicates from the
/// operations alone, in Python, and compares them with statelab's own check.
enum HistoryCheck {
    static let script = Repository.root.appendingPathComponent("Tools/history-check.py").path

    struct Run: Sendable {
        var name: String
        var agrees: Bool
        var line: String
    }

    /// Runs the checker on `file`; one entry per run that had a counter to check.
    static func check(_ file: String) throws -> (runs: [Run], status: Int32, output: String) {
        let result = try RunCommand.run("/usr/bin/env", ["python3", script, file, "--json"], timeout: 300)
        let text = result.stdout
        let runs = (try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]]) ?? []
        return (runs.compactMap { run in
            // A rate limit with nothing read has no counter to check.
            guard run["counter_checked"] as? Bool != false else { return nil }
            return Run(name: "\(run["name"] ?? "?")", agrees: run["status"] as? String == "agree", line: "\(run)")
        }, result.status, text + result.stderr)
    }

    /// Expects the checker to agree with statelab on every run of `file` (at least `runs` of them checked).
    static func expectAgreement(_ file: String, runs: Int, label: String,
                                sourceLocation: SourceLocation = #_sourceLocation) throws {
        let (checked, status, output) = try check(file)
        #expect(status == 0, "\(label): the independent check disagrees or failed:\n\(output)", sourceLocation: sourceLocation)
        #expect(checked.count >= runs, "\(label): \(checked.count) runs checked, \(runs) ran:\n\(output)", sourceLocation: sourceLocation)
        for run in checked where !run.agrees {
            Issue.record("\(label) \(run.name): \(run.line)", sourceLocation: sourceLocation)
        }
    }
}
