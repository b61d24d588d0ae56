import Foundation
import StateLab
import StateLabTestSupport
import Testing

/// Every scenario shipped in Scenarios/ runs end to end with the built binary,
/// and every one of its expectations holds. A new file there joins this test
/// by itself. (quickstart.yaml has its own test in CompareCommandTests.)
/// One scenario at a time: each runs several apps and loads, and two at once
/// on two cores would be measuring each other.
@Suite(.serialized) struct ShippedScenarioTests {
    static let directory = Repository.root.appendingPathComponent("Scenarios")

    static var scenarios: [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasSuffix(".yaml") && $0 != "quickstart.yaml" && !pythonScenarios.contains($0) }.sorted()
    }

    @Test func everyScenarioIsHere() {
        // A typo in the path would make the parameterised test below run nothing.
        #expect(Self.scenarios.contains("lost-updates.yaml"))
        #expect(FileManager.default.fileExists(atPath: Self.directory.appendingPathComponent("python-apps.yaml").path))
        #expect(Self.scenarios.count >= 4)
    }

    /// The scenarios that launch the example Python apps from their venv.
    static let pythonScenarios = ["python-apps.yaml", "real-apps.yaml"]

    @Test("the example FastAPI apps' scenario passes", .enabled(if: PythonApps.runs, PythonApps.skipReason))
    func pythonAppsScenario() async throws { try await shippedScenario("python-apps.yaml") }

    @Test("the real apps' scenario passes: their own requests, limits and stock", .enabled(if: PythonApps.runs, PythonApps.skipReason))
    func realAppsScenario() async throws { try await shippedScenario("real-apps.yaml") }

    @Test("a shipped scenario passes with every expectation held", arguments: scenarios)
    func shippedScenario(_ name: String) async throws {
        let path = Self.directory.appendingPathComponent(name).path
        let redisRuns = RedisRequirement.shouldRun()
        // The example FastAPI apps run from their venv, as a user runs them.
        let launchesPython = Self.pythonScenarios.contains(name)
        if launchesPython {
            _ = try #require(PythonApps.bin, "no venv with uvicorn at \(PythonApps.venv): run examples/python/setup-venv.sh")
        }
        // Every operation exported as it happens, then checked by an independent checker (Tools/history-check.py).
        let work = try ScratchDirectory()
        defer { work.remove() }
        let history = work.path + "/history.jsonl"
        let result = try await StatelabCLI.run(["compare", "--scenario", path, "--format", "json", "--quiet", "--history", history],
                                         environment: launchesPython ? PythonApps.environment : nil, timeout: 900)
        print("\(name) took \(String(format: "%.1f", result.seconds))s")
        #expect(result.status == 0, "\(name): \(result.stderr)\n\(result.stdout)")
        let json = try #require(result.json, "not JSON: \(result.stdout)")
        #expect(json["all_expectations_held"] as? Bool == true)
        #expect((json["failures"] as? [Any])?.isEmpty == true, "\(json["failures"] ?? "")")
        let runs = try #require(json["runs"] as? [[String: Any]])
        #expect(!runs.isEmpty)
        for run in runs {
            let label = "\(name) \(run["label"] ?? "?")"
            let needsRedis = run["strategy"] as? String == "redis" || (launchesPython && "\(run["label"] ?? "")".hasPrefix("redis"))
            if needsRedis && !redisRuns {
                #expect(run["skipped"] is String, "\(label)")
                continue
            }
            #expect(run["skipped"] is NSNull, "\(label) was skipped: \(run["skipped"] ?? "")")
            #expect((run["missed_steps"] as? [Any])?.isEmpty == true, "\(label): \(run["missed_steps"] ?? "")")
            for expectation in run["expectations"] as? [[String: Any]] ?? [] {
                #expect(expectation["held"] as? Bool == true, "\(label): \(expectation)")
            }
            // A scenario that resets mid-run really reset, and the report says where.
            for reset in run["resets"] as? [[String: Any]] ?? [] {
                #expect(reset["outcome"] as? String == "ok", "\(label): \(reset)")
            }
        }
        if launchesPython {
            // Every app's workers are named with their share and their read, and each got a verdict.
            for run in runs where run["skipped"] is NSNull {
                // A limit alone reads nothing: its per-pid figures are what each worker accepted.
                let workers = run["counter_checked"] as? Bool == false
                    ? (run["limit"] as? [String: Any])?["per_pid"] as? [[String: Any]] ?? []
                    : run["per_worker"] as? [[String: Any]] ?? []
                #expect(!workers.isEmpty, "\(run["label"] ?? "?"): no per-pid counts: \(run)")
                #expect(run["verdict"] is String, "\(run["label"] ?? "?")")
            }
        }
        // Every run that checked a counter (a rate limit alone reads none) is checked again, and agrees.
        let counters = runs.filter { $0["skipped"] is NSNull && $0["counter_checked"] as? Bool != false }.count
        try HistoryCheck.expectAgreement(history, runs: counters, label: name)
        if name == "durability.yaml" {
            // Each row's claim, from exact counts: a durable store kept exactly what it had, the others came back at 0.
            for run in runs where run["skipped"] is NSNull {
                let label = "\(run["label"] ?? "?")"
                let restarts = run["restarts"] as? [[String: Any]] ?? []
                #expect(restarts.count == 1, "\(label): \(restarts)")
                guard let restart = restarts.first else { continue }
                #expect(restart["exact"] as? Bool == true, "\(label): \(restart)")
                let before = restart["count_before"] as? Int ?? -1
                #expect(before >= 300, "\(label): \(restart)")
                let expected = run["durable"] as? Bool == true ? before : 0
                #expect(restart["count_after"] as? Int == expected, "\(label): \(restart)")
            }
        }
        if name == "worker-crash.yaml" {
            // The killed holder is named, and so is the recovery of its lock.
            for run in runs where "\(run["label"] ?? "")".contains("holder") {
                let fault = (run["faults"] as? [[String: Any]])?.first ?? [:]
                let pid = fault["pid"] as? Int ?? -1
                let events = fault["events"] as? [String] ?? []
                #expect(events.contains { $0.contains("pid \(pid) held the lock") }, "\(events)")
                #expect(events.contains { $0.hasPrefix(FaultRecord.recoveryPrefix) && $0.contains("pid \(pid)") }, "\(events)")
            }
        }
        if name == "reset.yaml" {
            for run in runs where run["skipped"] is NSNull {
                let resets = run["resets"] as? [[String: Any]] ?? []
                #expect(resets.count == 1, "\(run["label"] ?? "?")")
                #expect(resets.first?["acknowledged_before"] as? Int == 1_000, "\(resets)")
            }
        }
    }
}
