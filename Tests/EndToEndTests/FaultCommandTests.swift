import Foundation
import StateLab
import StateLabTestSupport
import Testing

/// `--fault` as a person types it: refused with one line when it cannot
/// work, and when it can, a run whose result carries the faults, the
/// restarts and the proof of each claim.
@Suite(.serialized)
struct FaultCommandTests {
    @Test("a fault the app cannot take: exit 2, one line naming the problem and the fix",
          arguments: [
            (["--strategy", "sqlite", "--mode", "atomic", "--fault", "kill_store", "--fault", "restart_store"], "sqlite has no store process"),
            (["--strategy", "shm", "--mode", "atomic", "--fault", "kill_worker:holder"], "shm or manager in locked mode"),
            (["--strategy", "manager", "--mode", "atomic", "--fault", "kill_store@after=10"], "no restart_store after it"),
            (["--strategy", "shm", "--mode", "atomic", "--fault", "kill_worker:9"], "workers 0 to 3"),
            (["--strategy", "shm", "--mode", "atomic", "--fault", "kill_storm"], "unknown fault 'kill_storm'"),
            (["--strategy", "shm", "--mode", "atomic", "--increments", "100", "--fault", "restart_app@after=100"], "use a number below 100"),
            (["--url", "http://127.0.0.1:9", "--fault", "restart_app"], "statelab's own app only"),
            (["--strategy", "redis", "--mode", "atomic", "--increments", "5000", "--fault", "kill_store@after=10",
              "--fault", "restart_store@delay=100ms"], "use duration"),
            (["--strategy", "shm", "--mode", "atomic", "--rate", "1000", "--duration", "2s", "--fault", "restart_app"], "closed model"),
            (["--strategy", "shm", "--mode", "atomic", "--duration", "2s", "--fault", "restart_app@at=3s"], "runs 2s"),
            (["--strategy", "redis", "--mode", "atomic", "--duration", "2s", "--fault", "kill_store",
              "--fault", "restart_store@after=10"], "can never fire"),
            (["--strategy", "shm", "--mode", "atomic", "--duration", "2s", "--fault", "pause_worker:1",
              "--fault", "restart_app", "--fault", "resume_worker:1"], "resume_worker 1 first"),
          ])
    func refused(_ arguments: [String], _ expected: String) async throws {
        let result = try await StatelabCLI.run(["load"] + arguments)
        #expect(result.status == 2, "\(result.stderr)")
        #expect(result.stderr.contains(expected), "\(result.stderr)")
        #expect(result.stdout.isEmpty)
    }

    @Test("compare --fault is checked against every run before anything starts")
    func compareRefusesAFaultARunCannotTake() async throws {
        // durability has sqlite and shm runs: a store kill cannot apply to them.
        let result = try await StatelabCLI.run(["compare", "--scenario", "durability", "--fault", "kill_store@after=10",
                                          "--fault", "restart_store"])
        #expect(result.status == 2, "\(result.stderr)")
        #expect(result.stderr.contains("has no store process to kill or restart"), "\(result.stderr)")
        #expect(result.stdout.isEmpty)
    }

    @Test("manager kill_store and restart_store mid-load: the outage fails increments, the count comes back at 0, nothing is blamed on races")
    func managerForgets() async throws {
        let result = try await StatelabCLI.run(["load", "--strategy", "manager", "--mode", "atomic", "--duration", "6s",
                                          "--concurrency", "16", "--fault", "kill_store@after=200",
                                          "--fault", "restart_store@delay=300ms", "--format", "json"], timeout: 120)
        #expect(result.status == 0, "\(result.stderr)\n\(result.stdout)")
        let json = try #require(result.json, "not JSON: \(result.stdout)")
        let faults = try #require(json["faults"] as? [[String: Any]])
        #expect(faults.map { $0["step"] as? String } == ["kill_store@after=200", "restart_store@delay=300ms"])
        #expect(faults.allSatisfy { $0["failed"] as? Bool == false && $0["store_pid"] is Int }, "\(faults)")
        let restart = try #require((json["restarts"] as? [[String: Any]])?.first)
        let before = try #require(restart["count_before"] as? Int)
        #expect(before >= 200)
        #expect(restart["count_after"] as? Int == 0)
        #expect(restart["exact"] as? Bool == true && restart["durable"] as? Bool == false)
        #expect(restart["lost_to_restart"] as? Int == before)
        #expect(json["durable"] as? Bool == false && json["lost_to_restart"] as? Int == before)
        #expect(json["lost"] as? Int == 0 && json["verdict"] as? String == "ok")
        // The increments sent while the manager was down did not count as acknowledged.
        let outage = (json["failed"] as? Int ?? 0) + (json["indeterminate"] as? Int ?? 0)
        #expect(outage > 0, "\(json)")
        // And after the restart the store took increments again before the run ended.
        #expect((json["final_max"] as? Int ?? 0) > 0, "\(json)")
        #expect((json["missed_steps"] as? [Any])?.isEmpty == true)
    }

    @Test("kill_worker:holder: the result names the holder's pid and its lock's recovery, nothing is lost, nothing hangs",
          arguments: ["shm", "manager"])
    func holderKilled(_ strategy: String) async throws {
        let result = try await StatelabCLI.run(["load", "--strategy", strategy, "--mode", "locked", "--race-window-us", "200",
                                          "--duration", "3s", "--concurrency", "16", "--fault", "kill_worker:holder@after=100",
                                          "--format", "json"], timeout: 120)
        #expect(result.status == 0, "\(result.stderr)\n\(result.stdout)")
        let json = try #require(result.json, "not JSON: \(result.stdout)")
        let fault = try #require((json["faults"] as? [[String: Any]])?.first)
        #expect(fault["failed"] as? Bool == false, "\(fault)")
        let pid = try #require(fault["pid"] as? Int, "\(fault)")
        let events = fault["events"] as? [String] ?? []
        #expect(events.contains { $0.contains("pid \(pid) held the lock") }, "\(events)")
        #expect(events.contains { $0.hasPrefix(FaultRecord.recoveryPrefix) && $0.contains("\(pid)") }, "\(events)")
        #expect(json["lock_recoveries"] as? Int == 1)
        #expect(json["lost"] as? Int == 0 && json["verdict"] as? String == "ok", "\(json)")
        // The killed holder is gone and a fresh worker took its place.
        let pids = (json["per_worker"] as? [[String: Any]] ?? []).compactMap { $0["pid"] as? Int }
        #expect(pids.count == 4 && !pids.contains(pid), "\(pids)")
    }

    @Test("restart_worker on a shared store and restart_app on global: the one keeps the count, the other takes each worker's count with it")
    func restarts() async throws {
        let shared = try await StatelabCLI.run(["load", "--strategy", "sqlite", "--mode", "atomic", "--duration", "2s", "--concurrency", "8",
                                          "--fault", "restart_worker:2@after=100", "--format", "json"], timeout: 120)
        #expect(shared.status == 0, "\(shared.stderr)\n\(shared.stdout)")
        let sharedJSON = try #require(shared.json, "not JSON: \(shared.stdout)")
        let fault = try #require((sharedJSON["faults"] as? [[String: Any]])?.first)
        #expect(fault["worker"] as? Int == 2 && fault["failed"] as? Bool == false, "\(fault)")
        let old = try #require(fault["pid"] as? Int)
        let pids = (sharedJSON["per_worker"] as? [[String: Any]] ?? []).compactMap { $0["pid"] as? Int }
        #expect(pids.count == 4 && !pids.contains(old), "\(pids)")
        #expect(sharedJSON["lost"] as? Int == 0 && sharedJSON["verdict"] as? String == "ok", "\(sharedJSON)")
        // The store was left alone: no restart of the count to report.
        #expect((sharedJSON["restarts"] as? [Any])?.isEmpty == true)

        let global = try await StatelabCLI.run(["load", "--strategy", "global", "--duration", "2s", "--concurrency", "8",
                                          "--fault", "restart_app@after=200", "--format", "json"], timeout: 120)
        // Global diverges by design (exit 1); the restart is what this looks at.
        let json = try #require(global.json, "not JSON: \(global.stdout)\n\(global.stderr)")
        let restart = try #require((json["restarts"] as? [[String: Any]])?.first, "\(json)")
        #expect(restart["scope"] as? String == "app" && restart["exact"] as? Bool == true, "\(restart)")
        #expect((restart["count_before"] as? Int ?? 0) >= 200 && restart["count_after"] as? Int == 0, "\(restart)")
        #expect(json["durable"] as? Bool == false && json["lost"] as? Int == 0, "\(json)")
        // Every old worker left the check with the reason; the new ones were read.
        let unread = json["unread"] as? [[String: Any]] ?? []
        #expect(!unread.isEmpty && unread.allSatisfy { "\($0["reason"] ?? "")".contains("restart_app") }, "\(unread)")
        #expect((json["per_worker"] as? [Any])?.count == 4)
    }
}

