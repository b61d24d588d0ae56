import Foundation
import StateLab
import StateLabTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `statelab load` as a person runs it: its own app, an app started apart, and bad flags.
@Suite(.serialized)
struct LoadCommandTests {
    // Runs that count every increment pass --timeout 60: on a saturated machine a 5 s timeout
    // makes an increment indeterminate, which the checker allows but an exact count does not.
    @Test("shm/atomic: exit 0, statelab.load/1, every increment acknowledged, none lost")
    func atomicLosesNothing() throws {
        let result = try StatelabCLI.run(["load", "--strategy", "shm", "--mode", "atomic", "--increments", "2000",
                                          "--format", "json", "--timeout", "60"])
        #expect(result.status == 0, "\(result.stderr)\n\(result.stdout)")
        // No progress line when stderr is not a terminal.
        #expect(result.stderr.isEmpty, "\(result.stderr.debugDescription)")
        let json = try #require(result.json, "not JSON: \(result.stdout)")
        #expect(json["schema"] as? String == "statelab.load/1")
        #expect((json["target"] as? String)?.hasPrefix("statelab shm/atomic at http://127.0.0.1:") == true, "\(json["target"] ?? "")")
        #expect(json["acknowledged"] as? Int == 2000)
        #expect(json["lost"] as? Int == 0)
        #expect(json["final_max"] as? Int == 2000)
        #expect(json["verdict"] as? String == "ok")
        #expect((json["per_worker"] as? [Any])?.count == 4)
    }

    @Test("shm/naive with a race window: exit 1, lost updates")
    func naiveLosesUpdates() throws {
        let result = try StatelabCLI.run(["load", "--strategy", "shm", "--mode", "naive", "--race-window-us", "200",
                                          "--increments", "1000", "--format", "json", "--timeout", "60"])
        #expect(result.status == 1, "\(result.stderr)")
        let json = try #require(result.json, "not JSON: \(result.stdout)")
        #expect(json["verdict"] as? String == "lost-updates")
        #expect((json["lost"] as? Int ?? 0) > 0)
        #expect(json["acknowledged"] as? Int == 1000)
    }

    /// A global app started apart, as a FastAPI app under uvicorn would be.
    /// 1501 increments over 3 per-worker counters can never come out equal.
    @Test("--url at a running global app: every worker pid read through GET /report, divergent")
    func externalApp() throws {
        let (server, ready, dir) = try ServeProcessTests.serve(["--strategy", "global", "--workers", "3"])
        defer {
            server.stop()
            try? FileManager.default.removeItem(atPath: dir)
        }
        #expect(ready.pids.count == 3)
        let result = try StatelabCLI.run(["load", "--url", "http://127.0.0.1:\(ready.port)", "--increments", "1501",
                                          "--format", "json", "--timeout", "60"])
        #expect(result.status == 1, "\(result.stderr)")
        #expect(!result.stderr.contains("could not read"), "\(result.stderr)")
        let json = try #require(result.json, "not JSON: \(result.stdout)")
        #expect(json["target"] as? String == "http://127.0.0.1:\(ready.port)")
        // statelab did not launch it: its strategy and mode are unknown, not "global/naive".
        #expect(json["strategy"] is NSNull && json["mode"] is NSNull)
        #expect(json["acknowledged"] as? Int == 1501)
        let perWorker = try #require(json["per_worker"] as? [[String: Any]])
        let pids = Set(perWorker.compactMap { ($0["pid"] as? Int).map(Int32.init) })
        #expect(pids == Set(ready.pids), "per_worker \(pids), serve started \(ready.pids)")
        #expect(perWorker.compactMap { $0["count"] as? Int }.reduce(0, +) == 1501)
        #expect((json["unreached_pids"] as? [Any])?.isEmpty == true)
        #expect(json["divergent"] as? Bool == true)
        #expect(json["verdict"] as? String == "divergent", "lost \(json["lost"] ?? "?"), duplicates \(json["duplicates"] ?? "?")")
        #expect(json["lost"] as? Int == 0)
        server.send(SIGTERM)
        #expect(server.wait(timeout: 60))
        #expect(ProcessTable.waitGone(ready.pids, timeout: 60).isEmpty)
    }

    /// A port nothing listens on: every increment fails, none waits out a
    /// timeout (refused is certain), and the command says so. That it ends is
    /// bounded by the run's deadline; how quickly, on a release build, is
    /// Benchmarks/exit-times.sh.
    @Test("--url at a closed port ends with every increment failed")
    func closedPort() throws {
        let port = try Self.closedPort()
        let result = try StatelabCLI.run(["load", "--url", "http://127.0.0.1:\(port)", "--increments", "200",
                                          "--format", "json"], timeout: 120)
        #expect(result.status == 1)
        #expect(result.stderrLines == ["statelab: no increment was acknowledged by http://127.0.0.1:\(port); "
                                       + "is the app running there, and does it answer POST /increment?"],
                "\(result.stderr.debugDescription)")
        let json = try #require(result.json, "not JSON: \(result.stdout)")
        #expect(json["acknowledged"] as? Int == 0)
        #expect(json["failed"] as? Int == 200, "\(json)")
        #expect(json["indeterminate"] as? Int == 0)
        // No worker could be read, so the check can say nothing: unknown, never ok.
        #expect(json["verdict"] as? String == "unknown")
    }

    @Test("bad flags exit 2 and say which", arguments: [
        (["--increments", "5", "--duration", "1s"], "mutually exclusive"),
        (["--url", "http://10.1.2.3:80"], "not a loopback address"),
        (["--url", "http://127.evil.test:80"], "not a loopback address"),
        (["--url", "http://127.0.0.1.nip.io:80"], "not a loopback address"),
        (["--url", "https://127.0.0.1:8000"], "not an http URL"),
        (["--increments", "0"], "--increments must be a whole number from 1 to 100000000 (got 0)"),
        (["--increments", "1e300"], "'1e300' is invalid for '--increments"),
        (["--duration", "soon"], "is not a duration"),
        (["--duration", "0s"], "--duration must be a number from 0.001 to 3600 seconds (got 0)"),
        (["--concurrency", "0"], "--concurrency must be a whole number from 1 to 4096"),
        (["--timeout", "inf"], "--timeout must be a number from 0.001 to 600 seconds (got inf)"),
        (["--timeout", "1e308"], "--timeout must be a number"),
        (["--rate", "1e-300"], "--rate must be a number from 0.1 to 1000000"),
        (["--rate", "1e300"], "--rate must be a number"),
        (["--rate", "nan"], "(got nan)"),
        (["--output", "/nonexistent/x.json"], "the directory /nonexistent does not exist"),
        (["--strategy", "global", "--mode", "atomic"], "global has no atomic mode"),
    ])
    func badFlags(_ flags: [String], _ expected: String) throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let environment = StatelabCLI.environment(["TMPDIR": scratch.path + "/not-created"])
        // With TMPDIR missing, an app that started would fail with another message.
        let result = try StatelabCLI.run(["load"] + flags, environment: environment, timeout: 120)
        #expect(result.status == 2, "\(flags): \(result.stderr)")
        #expect(result.stderr.contains(expected), "\(flags): \(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1, "one line: \(result.stderr)")
        #expect(result.stdout.isEmpty)
    }

    @Test("strategies --format json: six strategies, each with its availability and its own modes")
    func strategiesJSON() throws {
        let result = try StatelabCLI.run(["strategies", "--format", "json"], timeout: 120)
        #expect(result.status == 0, "\(result.stderr)")
        let json = try #require(result.json, "not JSON: \(result.stdout)")
        #expect(json["schema"] as? String == "statelab.strategies/1")
        let strategies = try #require(json["strategies"] as? [[String: Any]])
        #expect(strategies.compactMap { $0["strategy"] as? String } == ["global", "manager", "shm", "sqlite", "redis", "postgres"])
        let modes = strategies.map { (($0["modes"] as? [[String: Any]]) ?? []).compactMap { $0["mode"] as? String } }
        #expect(modes[0] == ["naive"])
        #expect(modes[4] == ["naive", "locked", "atomic"])
        #expect(modes[5] == ["naive", "locked", "atomic", "serializable"])
        for strategy in strategies {
            let available = try #require(strategy["available"] as? Bool, "\(strategy)")
            #expect(available ? strategy["reason"] is NSNull : strategy["reason"] is String, "\(strategy)")
            #expect(!((strategy["modes"] as? [Any]) ?? []).isEmpty)
        }
        #expect(strategies.first { $0["strategy"] as? String == "redis" }?["available"] as? Bool == RedisRequirement.available)
        #expect(strategies.first { $0["strategy"] as? String == "global" }.flatMap { ($0["modes"] as? [Any])?.count } == 1)

        // Without redis-server on PATH, redis is unavailable and says how to fix it.
        if !["/usr/sbin/redis-server", "/usr/local/sbin/redis-server"].contains(where: FileManager.default.isExecutableFile) {
            let hidden = try StatelabCLI.run(["strategies", "--format", "json"],
                                             environment: StatelabCLI.environment(["PATH": "/nonexistent"]), timeout: 120)
            let redis = (hidden.json?["strategies"] as? [[String: Any]])?.first { $0["strategy"] as? String == "redis" }
            #expect(redis?["available"] as? Bool == false)
            #expect((redis?["reason"] as? String)?.contains("apt-get install -y redis-server") == true)
        }
    }

    /// A loopback port that was free a moment ago and has no listener now.
    static func closedPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw StoreError("socket: \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Bool in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { throw StoreError("bind: \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
