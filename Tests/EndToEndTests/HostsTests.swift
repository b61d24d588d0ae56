import Foundation
import StateLab
import StateLabTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `--hosts`: statelab's own app on namespaced hosts behind a real nginx, as a
/// person runs it (the binary), with real namespaces, veths, nginx, redis and
/// PostgreSQL. Serialized: each run makes links and namespaces of its own, and
/// the sweep test looks at every link of the machine.
@Suite(.serialized, .enabled(if: HostsRequirement.runs, HostsRequirement.skipReason))
struct HostsTests {
    /// statelab's links on this machine: its bridges and veths' outer ends.
    static func statelabLinks() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/sys/class/net")) ?? [])
            .filter { HostNetwork.ownerPID(ofLink: $0) != nil }.sorted()
    }

    static func links(of pid: Int32) -> [String] { statelabLinks().filter { HostNetwork.ownerPID(ofLink: $0) == pid } }

    /// `statelab serve --hosts 2` (sqlite atomic, 2 workers each) and its ready line (`--json`).
    static func serveTwoHosts(in directory: ScratchDirectory) throws -> (ChildProcess, [String: Any]) {
        let output = directory.path + "/serve.json"
        let serve = try ChildProcess.spawn(executable: Binary.path,
                                           arguments: ["serve", "--hosts", "2", "--workers", "2", "--strategy", "sqlite",
                                                       "--mode", "atomic", "--port", "0", "--json"],
                                           outputFile: output)
        guard let ready = Poll.value(timeout: 120, { () -> [String: Any]? in
            guard let text = try? String(contentsOfFile: output, encoding: .utf8), let line = text.split(separator: "\n").first,
                  let json = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
            return json
        }) else {
            serve.stop(signal: SIGKILL, grace: 0)
            throw StoreError("serve --hosts never said it was ready: \((try? String(contentsOfFile: output, encoding: .utf8)) ?? "")")
        }
        return (serve, ready)
    }

    static func runs(_ result: StatelabCLI.Result) throws -> [[String: Any]] {
        try #require(result.json?["runs"] as? [[String: Any]], "no JSON runs: \(result.stdout.prefix(400)) \(result.stderr.prefix(600))")
    }

    /// The shipped scenario, through the binary: the stores each host has its
    /// own of diverge across the 3 hosts with 0 lost, redis and postgres hold.
    @Test(.enabled(if: RedisRequirement.runs && PostgresRequirement.runs, "needs redis-server and PostgreSQL"))
    func theHostsScenarioDivergesOnLocalStoresAndHoldsOnNetworkOnes() async throws {
        let result = try await StatelabCLI.run(["compare", "--scenario", "hosts", "--format", "json"], timeout: 600)
        #expect(result.status == 0, "\(result.stderr)")
        let runs = try Self.runs(result)
        #expect(runs.count == 6)
        for run in runs {
            let strategy = run["strategy"] as? String ?? "?"
            #expect(run["skipped"] is NSNull, "\(strategy) skipped: \(run["skipped"] ?? "")")
            #expect(run["lost"] as? Int == 0, "\(strategy): \(run["explanation"] ?? "")")
            #expect(run["acknowledged"] as? Int == 3_000, "\(strategy)")
            let workers = try #require(run["per_worker"] as? [[String: Any]])
            #expect(workers.count == 6 && Set(workers.compactMap { $0["host"] as? Int }) == [1, 2, 3], "\(strategy): \(workers)")
            let hosts = try #require(run["hosts"] as? [[String: Any]], "\(strategy)")
            #expect(hosts.count == 3)
            switch strategy {
            case "redis", "postgres":
                #expect(run["verdict"] as? String == "ok", "\(strategy): \(run["explanation"] ?? "")")
                #expect(hosts.allSatisfy { $0["count_high"] as? Int == 3_000 }, "\(strategy): \(hosts)")
            case "global":
                #expect(run["verdict"] as? String == "divergent")
            default:
                // Each host's workers agree on their host's count; the hosts' counts add up to every increment.
                #expect(run["verdict"] as? String == "divergent", "\(strategy): \(run["explanation"] ?? "")")
                #expect(hosts.allSatisfy { $0["workers_agree"] as? Bool == true }, "\(strategy): \(hosts)")
                #expect(hosts.compactMap { $0["count_high"] as? Int }.reduce(0, +) == 3_000, "\(strategy): \(hosts)")
                #expect((run["explanation"] as? String)?.contains("3 hosts hold 3 separate counts") == true)
            }
        }
    }

    /// kill_host mid-load on redis atomic: the host's workers die with requests
    /// in flight, nginx marks it down and sends the load to the others, the host
    /// comes back, and the check weighs every uncertain increment both ways: ok, 0 lost.
    @Test(.enabled(if: RedisRequirement.runs, RedisRequirement.skipReason))
    func killHostMidLoadIsCountedAndRecovers() async throws {
        let result = try await StatelabCLI.run([
            "load", "--hosts", "3", "--workers", "2", "--strategy", "redis", "--mode", "atomic",
            "--duration", "4s", "--concurrency", "32",
            "--fault", "kill_host:2@at=1s", "--fault", "restart_host:2@delay=1s", "--format", "json",
        ], timeout: 300)
        #expect(result.status == 0, "\(result.stdout.prefix(2000)) \(result.stderr)")
        let run = try #require(result.json, "not JSON: \(result.stdout)")
        #expect(run["verdict"] as? String == "ok", "\(run["explanation"] ?? "")")
        #expect(run["lost"] as? Int == 0)
        let acknowledged = try #require(run["acknowledged"] as? Int)
        let uncertain = (run["indeterminate"] as? Int ?? 0)
        let finalCount = try #require(run["final_max"] as? Int)
        // Every acknowledged increment is in the count; uncertain ones may be, or not.
        #expect(finalCount >= acknowledged && finalCount <= acknowledged + uncertain, "\(finalCount) vs \(acknowledged) + \(uncertain)")
        let faults = try #require(run["faults"] as? [[String: Any]])
        let outcomes = faults.compactMap { $0["outcome"] as? String }
        #expect(outcomes.contains { $0.hasPrefix("killed every worker of host 2") }, "\(outcomes)")
        #expect(outcomes.contains { $0.hasPrefix("started every worker of host 2") }, "\(outcomes)")
        // The host's workers after the restart answered again: every worker of every host was read at the end.
        let workers = try #require(run["per_worker"] as? [[String: Any]])
        #expect(workers.count == 6 && workers.allSatisfy { $0["count"] as? Int == finalCount }, "\(workers)")
        // nginx saw the host go: connects or answers to it failed while it was down.
        let notes = run["notes"] as? [String] ?? []
        #expect(notes.contains { $0.hasPrefix("nginx: host 2") }, "\(notes)")
    }

    /// kill -9 of `statelab serve --hosts 2` leaves no holder, worker, nginx or
    /// veth running (they die with it); its bridge stays until the next run,
    /// which removes it and only links of statelab's naming whose pid is gone.
    @Test func killNineLeavesNothingRunningAndTheNextRunSweeps() throws {
        let directory = try ScratchDirectory()
        defer { directory.remove() }
        let (serve, ready) = try Self.serveTwoHosts(in: directory)
        defer { serve.stop(signal: SIGKILL, grace: 0) }
        let hosts = try #require(ready["hosts"] as? [[String: Any]])
        let workers = hosts.flatMap { ($0["pids"] as? [Int]) ?? [] }.map(Int32.init)
        let nginx = try #require((ready["nginx_pid"] as? Int).map(Int32.init))
        let control = try #require(ready["control_dir"] as? String)
        #expect(workers.count == 4)
        #expect(Self.links(of: serve.pid).count == 3, "\(Self.statelabLinks())")  // the bridge and two veths
        // Each host's namespaces are held by a child that ends as `sleep infinity`.
        let holders = ProcessTable.children(of: serve.pid).filter { ProcessTable.arguments($0) == ["sleep", "infinity"] }
        #expect(holders.count == 2)

        #expect(kill(serve.pid, SIGKILL) == 0)
        _ = serve.wait(timeout: 10)
        let everything = workers + holders + [nginx]
        let alive = { everything.filter { ProcessTable.exists($0) && ProcessTable.state($0) != "Z" } }
        #expect(Poll.until(timeout: 30) { alive().isEmpty }, "still running after kill -9: \(alive())")
        // The namespaces went with their last process, and their veths with them; the bridge is left.
        #expect(Poll.until(timeout: 30) { Self.links(of: serve.pid).count == 1 }, "\(Self.statelabLinks())")

        // Decoys the sweep must leave: a name of statelab's with a live pid (1), and another name.
        let decoys = ["slb1n77", "slbkeep0"]
        for name in decoys { _ = try StatelabIP.run(["link", "add", name, "type", "bridge"]) }
        defer { for name in decoys { _ = try? StatelabIP.run(["link", "del", name]) } }
        HostNetwork.sweepStale()
        #expect(Self.links(of: serve.pid).isEmpty, "the dead run's bridge is still there: \(Self.statelabLinks())")
        for name in decoys {
            #expect(FileManager.default.fileExists(atPath: "/sys/class/net/\(name)"), "the sweep removed \(name)")
        }
        // Its control directory goes with the next run directory's sweep.
        try RunDirectory.create().remove()
        #expect(!FileManager.default.fileExists(atPath: control), "\(control) is still there")
    }
}

extension HostsTests {
    /// Another statelab's hosts are other machines to this one: a URL at one
    /// is refused until --allow-remote names it; then the workers come from
    /// the answers (X-Worker-Pid, X-Worker-Host), since /proc cannot see them.
    @Test func anotherStatelabsHostIsRemoteUntilAllowed() async throws {
        let directory = try ScratchDirectory()
        defer { directory.remove() }
        let (serve, ready) = try Self.serveTwoHosts(in: directory)
        defer { serve.stop(grace: 10) }
        let first = try #require((ready["hosts"] as? [[String: Any]])?.first)
        let address = try #require(first["address"] as? String)
        let pids = Set(((first["pids"] as? [Int]) ?? []).map(Int32.init))
        let url = "http://\(address):8000"

        let refused = try await StatelabCLI.run(["load", "--url", url, "--increments", "100"])
        #expect(refused.status == 2, "\(refused.stdout) \(refused.stderr)")
        #expect(refused.stderr.contains("--allow-remote \(address)"), "\(refused.stderr)")
        let badName = try await StatelabCLI.run(["load", "--url", url, "--allow-remote", "staging.example", "--increments", "100"])
        #expect(badName.status == 2 && badName.stderr.contains("names are not resolved"), "\(badName.stderr)")

        let allowed = try await StatelabCLI.run(["load", "--url", url, "--allow-remote", address, "--increments", "300",
                                                  "--format", "json"], timeout: 120)
        #expect(allowed.status == 0, "\(allowed.stdout.prefix(1500)) \(allowed.stderr)")
        let run = try #require(allowed.json, "not JSON: \(allowed.stdout)")
        #expect(run["verdict"] as? String == "ok", "\(run["explanation"] ?? "")")
        #expect(run["acknowledged"] as? Int == 300)
        let workers = try #require(run["per_worker"] as? [[String: Any]])
        #expect(!workers.isEmpty && workers.allSatisfy { $0["host_name"] as? String == address }, "\(workers)")
        #expect(workers.allSatisfy { ($0["pid"] as? Int).map { pids.contains(Int32($0)) } == true }, "\(workers) vs \(pids)")
        let notes = run["notes"] as? [String] ?? []
        #expect(!notes.contains { $0.contains("/proc") }, "/proc was asked about a remote host: \(notes)")
    }
}

/// `ip` for the tests' own decoy links.
enum StatelabIP {
    static func run(_ arguments: [String]) throws -> Int32 {
        let ip = try #require(ChildProcess.which("ip"))
        let child = try ChildProcess.spawn(executable: ip, arguments: arguments)
        _ = child.wait(timeout: 20)
        let status = child.exitCode ?? -1
        if status != 0 { throw StoreError("ip \(arguments.joined(separator: " ")) exited \(status)") }
        return status
    }
}

/// The dashboard on `--hosts`: each row says its host, the verdict says the
/// split, and q leaves no worker, run directory or link behind.
@Suite(.serialized, .enabled(if: DashboardPane.tmuxAvailable && HostsRequirement.runs, "needs tmux, root, ip and nginx"))
struct DashboardHostsTests {
    /// (host, pid) of each alive row ("h2 w3  12345  alive ...").
    static func hostRows(_ screen: String) -> [(host: Int, pid: Int32)] {
        screen.split(separator: "\n").compactMap { line in
            let words = line.split(whereSeparator: { $0 == " " || $0 == "│" || $0 == "▸" })
            guard words.count >= 4, words[0].hasPrefix("h"), let host = Int(words[0].dropFirst()), words[1].hasPrefix("w"),
                  Int(words[1].dropFirst()) != nil, words[3] == "alive", let pid = Int32(words[2]) else { return nil }
            return (host, pid)
        }
    }

    @Test func rowsSayTheirHostAndTheVerdictSaysTheSplit() throws {
        let pane = try DashboardPane(arguments: ["--hosts", "2", "--strategy", "sqlite", "--mode", "atomic", "--workers", "2",
                                                 "--burst", "1000"])
        defer { pane.stop() }
        var rows: [(host: Int, pid: Int32)] = []
        try pane.waitForScreen("4 alive rows on 2 hosts", seconds: 120) { screen in
            rows = Self.hostRows(screen)
            return rows.count == 4
        }
        #expect(rows.map(\.host) == [1, 1, 2, 2], "\(rows)")
        let dashboard = try pane.dashboardPID()
        #expect(HostsTests.links(of: dashboard).count == 3, "\(HostsTests.statelabLinks())")

        pane.press("Space")
        let screen = try pane.waitForScreen("the burst's verdict", seconds: 120) { $0.contains("burst checked") }
        #expect(screen.contains("2 hosts hold 2 separate counts"), "\(DashboardPane.compact(screen))")
        #expect(DashboardPane.verdictLost(screen) == 0, "\(DashboardPane.compact(screen))")

        pane.press("q")
        let ending = try pane.waitForEnding(seconds: 60)
        #expect(ending.exitStatus == 0)
        #expect(ending.terminalIsSane, "terminal left in raw mode: \(ending.stty)")
        let left = ProcessTable.waitGone(rows.map(\.pid))
        #expect(left.isEmpty, "workers left after quitting: \(left)")
        #expect(pane.leftoverRunDirectories.isEmpty, "run directories left: \(pane.leftoverRunDirectories)")
        #expect(Poll.until(timeout: 30) { HostsTests.links(of: dashboard).isEmpty }, "\(HostsTests.statelabLinks())")
    }
}

/// `--hosts` given where it cannot apply, or out of range: exit 2 with one
/// line that names the problem and the fix; nothing starts. No root needed.
@Suite struct HostsFlagTests {
    @Test(arguments: [
        (["compare", "--hosts", "0"], "--hosts"),
        (["compare", "--hosts", "17"], "--hosts"),
        (["compare", "--hosts", "2", "--url", "http://127.0.0.1:9"], "does not apply to --url"),
        (["serve", "--hosts", "2", "--listen", "shared"], "--listen shared does not apply with --hosts"),
        (["load", "--hosts", "0"], "--hosts"),
        (["load", "--hosts", "2", "--strategy", "redis", "--redis-url", "redis://127.0.0.1:6379"], "does not apply with --hosts"),
        (["compare", "--hosts", "2", "--postgres-url", "postgres://u:p@127.0.0.1:5432/db"], "does not apply with --hosts"),
        (["load", "--app-command", "true {port}", "--shared", "per-host"], "--shared per-host"),
        (["load", "--fault", "kill_host:2"], "needs several hosts"),
        (["load", "--hosts", "2", "--fault", "kill_host:3", "--fault", "restart_host:3"], "host 3 does not exist"),
        (["load", "--hosts", "2", "--strategy", "sqlite", "--mode", "atomic", "--duration", "2s",
          "--fault", "kill_store", "--fault", "restart_store@delay=1s"], "use kill_host and restart_host"),
    ])
    func refusedWithOneLine(arguments: [String], says: String) async throws {
        let result = try await StatelabCLI.run(arguments, timeout: 60)
        #expect(result.status == 2, "\(arguments): \(result.stdout) \(result.stderr)")
        let lines = result.stderrLines.filter { !$0.hasPrefix("Usage:") && !$0.hasPrefix("  See ") && !$0.isEmpty }
        #expect(lines.count == 1 && lines.first?.contains(says) == true, "\(arguments): \(result.stderr)")
        #expect(result.stdout.isEmpty, "\(arguments): \(result.stdout)")
    }
}

/// The user's own FastAPI app, as users run it (uvicorn --workers 2), on 2
/// namespaced hosts behind nginx: the same code keeps one SQLite file per host
/// (its /tmp is the host's), so the counts split; with {redis_url} every host
/// reaches the store host's redis-server and holds one count. --shared auto
/// takes the view that explains the history, and says which.
@Suite(.serialized, .enabled(if: HostsRequirement.runs && PythonApps.runs, "needs root, ip, nginx and the example apps' venv"))
struct HostedAppTests {
    static func load(_ command: String) async throws -> [String: Any] {
        let result = try await StatelabCLI.run([
            "load", "--hosts", "2", "--app-command", command, "--app-cwd", Repository.root.appendingPathComponent("examples/python").path,
            "--increments", "1000", "--format", "json",
        ], environment: PythonApps.environment, timeout: 300)
        return try #require(result.json, "not JSON (exit \(result.status)): \(result.stdout.prefix(1000)) \(result.stderr)")
    }

    @Test func aSQLiteFilePerHostSplitsTheCount() async throws {
        let run = try await Self.load("uvicorn sqlite_atomic:app --workers 2 --host {host} --port {port}")
        #expect(run["verdict"] as? String == "divergent",
                "\(run["explanation"] ?? ""); unread \(run["unread"] ?? ""); notes \(run["notes"] ?? ""); workers \(run["per_worker"] ?? "")")
        #expect(run["lost"] as? Int == 0 && run["acknowledged"] as? Int == 1_000)
        let hosts = try #require(run["hosts"] as? [[String: Any]], "\(run)")
        #expect(hosts.count == 2 && hosts.allSatisfy { $0["workers_agree"] as? Bool == true }, "\(hosts)")
        #expect(hosts.compactMap { $0["count_high"] as? Int }.reduce(0, +) == 1_000, "\(hosts)")
        let notes = run["notes"] as? [String] ?? []
        #expect(notes.contains { $0.contains("checked as one counter per host") }, "\(notes)")
    }

    @Test(.enabled(if: RedisRequirement.runs, RedisRequirement.skipReason))
    func redisOnTheStoreHostHoldsOneCount() async throws {
        let run = try await Self.load("REDIS_URL={redis_url} uvicorn redis_atomic:app --workers 2 --host {host} --port {port}")
        #expect(run["verdict"] as? String == "ok", "\(run["explanation"] ?? "")")
        #expect(run["lost"] as? Int == 0 && run["final_max"] as? Int == 1_000)
        let workers = try #require(run["per_worker"] as? [[String: Any]])
        #expect(Set(workers.compactMap { $0["host"] as? Int }) == [1, 2], "\(workers)")
    }
}
