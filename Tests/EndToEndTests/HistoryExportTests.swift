import Foundation
import StateLab
import StateLabTestSupport
import Testing

/// `--history FILE.jsonl`: every operation as it happens, in Jepsen's shape,
/// and an independent checker (Tools/history-check.py) that gets statelab's
/// figures back from the file alone. The shipped scenarios are all checked
/// this way too (ShippedScenarioTests).
@Suite(.serialized)
struct HistoryExportTests {
    static func lines(_ path: String) throws -> [[String: Any]] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return try text.split(separator: "\n").map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not an object: \(line)")
        }
    }

    @Test("a naive load's history: one invoke and one completion per increment, each connection one at a time, the worker's read and write inside, and the independent check agrees")
    func naiveLoadHistory() throws {
        let work = try ScratchDirectory()
        defer { work.remove() }
        let path = work.path + "/h.jsonl"
        let result = try StatelabCLI.run(["load", "--strategy", "shm", "--mode", "naive", "--race-window-us", "200",
                                          "--increments", "1000", "--concurrency", "8", "--format", "json", "--timeout", "60",
                                          "--history", path])
        #expect(result.status == 1, "\(result.stderr)")
        let json = try #require(result.json, "not JSON: \(result.stdout)")
        let lines = try Self.lines(path)
        #expect(lines.first?["type"] as? String == "run")
        #expect(lines.first?["strategy"] as? String == "shm" && lines.first?["mode"] as? String == "naive")
        let adds = lines.filter { $0["f"] as? String == "add" }
        let invokes = adds.filter { $0["type"] as? String == "invoke" }
        let completions = adds.filter { $0["type"] as? String != "invoke" }
        #expect(invokes.count == 1_000 && completions.count == 1_000)
        #expect(completions.filter { $0["type"] as? String == "ok" }.count == json["acknowledged"] as? Int)
        // Jepsen's process: one operation in flight at a time, so a process's operations never overlap.
        var byProcess: [Int: [(Int, Int)]] = [:]
        for op in completions {
            let process = try #require(op["process"] as? Int)
            byProcess[process, default: []].append((op["start"] as? Int ?? -1, op["time"] as? Int ?? -1))
        }
        #expect(byProcess.keys.sorted() == Array(0..<8))
        for (process, ops) in byProcess {
            let sorted = ops.sorted { $0.0 < $1.0 }
            for (earlier, later) in zip(sorted, sorted.dropFirst()) {
                #expect(earlier.1 <= later.0, "process \(process): \(earlier) overlaps \(later)")
            }
        }
        // Indexes number each run's operations from 0.
        let indexes = lines.compactMap { $0["index"] as? Int }
        #expect(indexes.sorted() == Array(0..<indexes.count))
        // Inside view: what the worker read, then wrote, between the send and the answer.
        for op in completions where op["type"] as? String == "ok" {
            let read = try #require(op["read"] as? [String: Any], "no read in \(op)")
            let count = try #require(op["count"] as? Int)
            #expect(read["value"] as? Int == count - 1, "\(op)")
            let (start, end) = (op["start"] as? Int ?? 0, op["time"] as? Int ?? 0)
            let (readAt, wrote) = (read["time"] as? Int ?? -1, op["wrote"] as? Int ?? -1)
            #expect(start <= readAt && readAt <= wrote && wrote <= end, "\(op)")
        }
        let check = try #require(lines.last)
        #expect(check["type"] as? String == "check")
        #expect(check["lost"] as? Int == json["lost"] as? Int)
        #expect(lines.contains { $0["type"] as? String == "final" })
        try HistoryCheck.expectAgreement(path, runs: 1, label: "shm/naive")
    }

    @Test("the independent checker's own tests pass")
    func checkerTests() throws {
        let result = try RunCommand.run("/usr/bin/env", ["python3", "-m", "unittest", "discover", "-s",
                                                         Repository.root.appendingPathComponent("Tools").path, "-p", "test_*.py"])
        #expect(result.status == 0, "\(result.stderr)")
    }

    @Test("a history file that cannot be written, or one file named twice: one line, exit 2, nothing started")
    func badPaths() throws {
        let missing = try StatelabCLI.run(["load", "--strategy", "shm", "--increments", "10",
                                           "--history", "/nonexistent-statelab-dir/h.jsonl"])
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("--history /nonexistent-statelab-dir/h.jsonl: the directory /nonexistent-statelab-dir does not exist"),
                "\(missing.stderr)")
        #expect(missing.stderr.split(separator: "\n").count <= 2, "\(missing.stderr)")
        let work = try ScratchDirectory()
        defer { work.remove() }
        let twice = try StatelabCLI.run(["compare", "--output", work.path + "/x", "--history", work.path + "/./x"])
        #expect(twice.status == 2)
        #expect(twice.stderr.contains("--output and --history both name \(work.path)/x; give each its own file"), "\(twice.stderr)")
        #expect(!FileManager.default.fileExists(atPath: work.path + "/x"))
    }
}
