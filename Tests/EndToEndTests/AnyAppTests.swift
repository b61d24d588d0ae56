import Foundation
import StateLab
import StateLabTestSupport
import Testing

/// Real apps as their users run them (examples/python): no counter API, no pid
/// in any answer, their own paths. statelab finds the workers from /proc and
/// checks a counter (a like button), a stock (a checkout) and rate limits.
/// A correct app must never get a failing verdict, and a buggy one is never ok.
@Suite(.serialized, .enabled(if: PythonApps.runs, PythonApps.skipReason))
struct AnyAppTests {
    static let examples = Repository.root.appendingPathComponent("examples/python").path

    /// `load --app-command COMMAND ARGS --format json` from examples/python with the venv on PATH.
    static func load(_ command: String, _ arguments: [String]) async throws -> (json: [String: Any], result: StatelabCLI.Result) {
        _ = try #require(PythonApps.bin, "no venv with uvicorn at \(PythonApps.venv): run examples/python/setup-venv.sh")
        let result = try await StatelabCLI.run(["load", "--app-command", command, "--app-cwd", examples, "--format", "json",
                                                "--quiet", "--timeout", "30"] + arguments,
                                               environment: PythonApps.environment, timeout: 300)
        let json = try #require(result.json, "not JSON (exit \(result.status)): \(result.stderr)\n\(result.stdout)")
        return (json, result)
    }

    static func notes(_ json: [String: Any]) -> [String] { json["notes"] as? [String] ?? [] }

    /// Every connection's worker was named from /proc, and the named workers are the rows.
    static func expectNamedFromProc(_ json: [String: Any], _ label: String) {
        #expect(notes(json).contains { $0.hasPrefix("workers named from /proc: the worker holding each of the") },
                "\(label): \(notes(json))")
    }

    @Test("a like button: the ORM's read-modify-write loses likes, the atomic UPDATE none; per pid, with no pid in any answer")
    func likeButton() async throws {
        let arguments = ["--op", "POST /posts/1/like likes", "--read", "GET /posts/1 likes", "--increments", "800", "--concurrency", "16"]
        let (naive, naiveRun) = try await Self.load("BLOG_DB={run_dir}/blog.db uvicorn blog_likes:app --workers 4 --host 127.0.0.1 --port {port}", arguments)
        #expect(naiveRun.status == 1, "\(naiveRun.stderr)")
        #expect(naive["verdict"] as? String == "lost-updates", "\(naive["explanation"] ?? "")")
        #expect((naive["lost"] as? Int ?? 0) > 0 && (naive["duplicates"] as? Int ?? 0) > 0)
        let workers = naive["per_worker"] as? [[String: Any]] ?? []
        #expect(workers.count >= 2, "the four workers read at the end, each by its pid: \(workers)")
        Self.expectNamedFromProc(naive, "naive")

        let (atomic, atomicRun) = try await Self.load("LIKES_MODE=atomic BLOG_DB={run_dir}/blog.db uvicorn blog_likes:app --workers 4 --host 127.0.0.1 --port {port}", arguments)
        #expect(atomicRun.status == 0, "\(atomicRun.stderr)\n\(atomic["explanation"] ?? "")")
        #expect(atomic["verdict"] as? String == "ok" && atomic["lost"] as? Int == 0 && atomic["acknowledged"] as? Int == 800)
        Self.expectNamedFromProc(atomic, "atomic")
    }

    @Test("a checkout: check-then-act oversells the stock, the conditional UPDATE sells exactly the stock")
    func checkout() async throws {
        let arguments = ["--op", "POST /checkout stock", "--body", #"{"sku": "A1"}"#, "--read", "GET /stock/A1 stock",
                         "--step", "-1", "--limit", "100", "--increments", "250", "--concurrency", "16"]
        let (naive, naiveRun) = try await Self.load("SHOP_DB={run_dir}/shop.db uvicorn checkout:app --workers 4 --host 127.0.0.1 --port {port}", arguments)
        #expect(naiveRun.status == 1)
        let oversold = (naive["limit"] as? [String: Any])?["over_limit"] as? Int ?? 0
        #expect(oversold > 0, "sold beyond the stock of 100: \(naive["limit"] ?? "")")
        #expect(naive["verdict"] as? String != "ok", "\(naive["explanation"] ?? "")")

        let (safe, safeRun) = try await Self.load("CHECKOUT_MODE=conditional SHOP_DB={run_dir}/shop.db uvicorn checkout:app --workers 4 --host 127.0.0.1 --port {port}", arguments)
        #expect(safeRun.status == 0, "\(safe["explanation"] ?? "")")
        #expect(safe["verdict"] as? String == "ok")
        let limit = try #require(safe["limit"] as? [String: Any])
        #expect(limit["accepted"] as? Int == 100 && limit["refused"] as? Int == 150 && limit["over_limit"] as? Int == 0, "\(limit)")
        #expect(safe["lost"] as? Int == 0)
    }

    @Test("Flask-Limiter under gunicorn sync workers: memory:// lets each worker take the whole limit, redis:// holds it")
    func flaskLimiter() async throws {
        let arguments = ["--ready-path", "/", "--op", "POST /api/ping", "--limit", "50/minute", "--increments", "400", "--concurrency", "16"]
        let (memory, memoryRun) = try await Self.load("gunicorn -w 4 -b 127.0.0.1:{port} flask_limited:app", arguments)
        #expect(memoryRun.status == 1)
        #expect(memory["verdict"] as? String == "over-limit", "\(memory["explanation"] ?? "")")
        let limit = try #require(memory["limit"] as? [String: Any])
        // Each worker accepts at most 50 of its own; the four share the 400 requests (about 100 each).
        #expect(limit["per_process"] as? Bool == true && (limit["accepting_pids"] as? Int ?? 0) >= 3, "\(limit)")
        #expect((limit["per_pid"] as? [[String: Any]])?.allSatisfy { $0["accepted"] as? Int ?? 99 <= 50 } == true, "\(limit)")
        #expect((memory["diagnosis"] as? [[String: Any]])?.contains { $0["code"] as? String == "per-process-limit" } == true)
        // gunicorn's sync workers close every connection: one lookup each, all placed.
        Self.expectNamedFromProc(memory, "memory")
        // Each worker counts down its own X-RateLimit-Remaining. Whether it is seen going up depends on
        // how the workers take turns (in lockstep, 49 49 49 49 48 ..., it never does): only the note is checked.
        #expect((limit["remaining_seen"] as? Int ?? 0) > 0, "\(limit)")
        let rises = limit["remaining_rises"] as? Int ?? 0
        #expect(Self.notes(memory).contains { $0.contains("X-RateLimit-Remaining went up within one window") } == (rises > 0))

        guard RedisRequirement.shouldRun() else { return }
        let (redis, redisRun) = try await Self.load("LIMITER_STORAGE={redis_url} gunicorn -w 4 -b 127.0.0.1:{port} flask_limited:app", arguments)
        #expect(redisRun.status == 0, "\(redis["explanation"] ?? "")")
        #expect(redis["verdict"] as? String == "ok")
        #expect((redis["limit"] as? [String: Any])?["accepted"] as? Int == 50, "\(redis["limit"] ?? "")")
        // One shared count: Remaining only goes down within a window.
        #expect((redis["limit"] as? [String: Any])?["remaining_rises"] as? Int == 0, "\(redis["limit"] ?? "")")
        #expect(((redis["limit"] as? [String: Any])?["remaining_seen"] as? Int ?? 0) > 0)
    }

    /// Under uvicorn one worker may take nearly every connection, so the excess shows only
    /// when several workers accepted; whatever the spread, each worker holds its own limit
    /// and the verdict follows what a fixed window allows.
    @Test("slowapi under uvicorn: memory:// is over only when several workers accept, redis:// never")
    func slowapi() async throws {
        let arguments = ["--ready-path", "/", "--op", "POST /api/ping", "--limit", "100/minute", "--increments", "600", "--concurrency", "32"]
        let (memory, _) = try await Self.load("uvicorn slowapi_limited:app --workers 4 --host 127.0.0.1 --port {port}", arguments)
        let limit = try #require(memory["limit"] as? [String: Any])
        let accepted = limit["accepted"] as? Int ?? -1
        for pid in limit["per_pid"] as? [[String: Any]] ?? [] { #expect(pid["accepted"] as? Int ?? 0 <= 100, "\(pid)") }
        if accepted > 200 {
            #expect(memory["verdict"] as? String == "over-limit", "\(memory["explanation"] ?? "")")
        } else {
            // Up to 2N may be a correct fixed window across a boundary: never blamed.
            #expect(memory["verdict"] as? String == "ok", "\(memory["explanation"] ?? "")")
            print("slowapi memory://: \(limit["accepting_pids"] ?? "?") accepting pids, \(accepted) accepted: the excess did not show")
        }

        guard RedisRequirement.shouldRun() else { return }
        let (redis, redisRun) = try await Self.load("LIMITER_STORAGE={redis_url} uvicorn slowapi_limited:app --workers 4 --host 127.0.0.1 --port {port}", arguments)
        #expect(redisRun.status == 0, "\(redis["explanation"] ?? "")")
        #expect((redis["limit"] as? [String: Any])?["accepted"] as? Int == 100, "\(redis["limit"] ?? "")")
    }

    @Test("a path the app does not have: one line at once naming the flag, for the ready path and the operation")
    func wrongPaths() async throws {
        _ = try #require(PythonApps.bin)
        let command = "BLOG_DB={run_dir}/blog.db uvicorn blog_likes:app --workers 2 --host 127.0.0.1 --port {port}"
        let ready = try await StatelabCLI.run(["load", "--app-command", command, "--app-cwd", Self.examples, "--ready-path", "/health",
                                               "--op", "POST /posts/1/like", "--read", "GET /posts/1 likes"],
                                              environment: PythonApps.environment, timeout: 120)
        #expect(ready.status == 2)
        #expect(ready.stderrLines.count == 1 && ready.stderr.contains("GET /health with HTTP 404") && ready.stderr.contains("--ready-path"),
                "\(ready.stderr)")
        let op = try await StatelabCLI.run(["load", "--app-command", command, "--app-cwd", Self.examples,
                                            "--op", "POST /posts/1/likes", "--read", "GET /posts/1 likes", "--increments", "100000"],
                                           environment: PythonApps.environment, timeout: 120)
        #expect(op.status == 2)
        #expect(op.stderrLines.count == 1 && op.stderr.contains("POST /posts/1/likes answered HTTP 404") && op.stderr.contains("--op"),
                "\(op.stderr)")
    }
}
