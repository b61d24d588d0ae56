import Foundation
import StateLabTestSupport
import Testing
@testable import StateLab

/// Whether the real-server tests run: they are skipped when redis-server is
/// missing, unless STATELAB_REQUIRE_REDIS=1 makes a missing server a failure.
enum RedisTestGate {
    static let required = ProcessInfo.processInfo.environment["STATELAB_REQUIRE_REDIS"] == "1"
    static let shouldRun = required || RedisServerProcess.availability() == nil

    /// The redis-server path; throws (failing the test) when it is missing.
    static func executable() throws -> String {
        guard let path = ChildProcess.which("redis-server") else {
            throw StoreError("STATELAB_REQUIRE_REDIS=1 but \(RedisServerProcess.availability() ?? "redis-server is missing")")
        }
        return path
    }

    /// Launches a private server; throws (failing the test) when it can't.
    static func launch(password: String? = nil) throws -> RedisServerProcess {
        _ = try executable()
        return try RedisServerProcess.launch(password: password)
    }
}

extension RedisTests {
    /// Against a real redis-server each test starts and stops. Serialized: they
    /// measure races, and the machine has few cores.
    @Suite(.serialized, .enabled(if: RedisTestGate.shouldRun, "redis-server not found on PATH (apt-get install -y redis-server); set STATELAB_REQUIRE_REDIS=1 to fail instead"))
    struct RealServer {
        /// A server started outside a run directory marks its own directory, so a
        /// later run's sweep removes it if this process is killed first.
        @Test func aStandaloneServersDirectoryIsMarkedAsOurs() throws {
            let server = try RedisTestGate.launch()
            defer { server.stop() }
            let owner = try String(contentsOfFile: server.directory + "/supervisor.pid", encoding: .utf8)
            #expect(owner.trimmingCharacters(in: .whitespacesAndNewlines) == String(getpid()))
        }

        @Test func atomicIncrFromFourThreadsIsExact() throws {
            let server = try RedisTestGate.launch()
            defer { server.stop() }
            let perThread = try incrementOnThreads(server, threads: 4, each: 500, mode: .atomic, raceWindowMicros: 0)
            let written = perThread.flatMap(\.self)
            #expect(try finalValue(server) == 2_000)
            // INCR hands every caller a distinct value: exactly 1...2000.
            #expect(written.sorted() == Array(1...2_000))
        }

        @Test func lockedWatchMultiExecIsExactUnderContention() throws {
            let server = try RedisTestGate.launch()
            defer { server.stop() }
            let (perThread, conflicts) = try incrementOnThreadsCountingConflicts(server, threads: 4, each: 100, mode: .locked, raceWindowMicros: 100)
            let written = perThread.flatMap(\.self)
            #expect(try finalValue(server) == 400)
            #expect(written.sorted() == Array(1...400))
            // Proof the retry path ran: with a race window, four sessions collide.
            #expect(conflicts > 0)
        }

        @Test func naiveGetSetWithARaceWindowLosesUpdates() throws {
            let server = try RedisTestGate.launch()
            defer { server.stop() }
            let perThread = try incrementOnThreads(server, threads: 4, each: 100, mode: .naive, raceWindowMicros: 200)
            let acknowledged = perThread.reduce(0) { $0 + $1.count }
            let final = try finalValue(server)
            #expect(acknowledged == 400)
            #expect(final < acknowledged, "naive GET/SET lost nothing: final \(final)")
            // Two increments that wrote the same value witness a lost update.
            let written = perThread.flatMap(\.self)
            #expect(Set(written).count < written.count)
        }

        @Test func readOfAMissingKeyIsZeroAndResetSetsZero() throws {
            let server = try RedisTestGate.launch()
            defer { server.stop() }
            let session = try RedisSession(host: server.host, port: server.port, key: "statelab:test:reset")
            defer { session.close() }
            #expect(try session.read() == 0)
            for expected in 1...5 { #expect(try session.increment(mode: .naive, raceWindowMicros: 0) == expected) }
            #expect(try session.increment(mode: .locked, raceWindowMicros: 0) == 6)
            #expect(try session.increment(mode: .atomic, raceWindowMicros: 0) == 7)
            #expect(try session.read() == 7)
            try session.reset()
            #expect(try session.read() == 0)
            #expect(try session.increment(mode: .atomic, raceWindowMicros: 0) == 1)
        }

        @Test func serverErrorsAreStoreErrorsAndLeaveTheConnectionUsable() throws {
            let server = try RedisTestGate.launch()
            defer { server.stop() }
            let connection = try RedisConnection(host: server.host, port: server.port, timeout: 5)
            defer { connection.close() }
            let unknown = #expect(throws: StoreError.self) { try connection.command("NOSUCHCOMMAND") }
            #expect(unknown?.message.contains("unknown command") == true)
            #expect(try connection.command("PING") == .simpleString("PONG"))

            try connection.command("SET", "statelab:test:text", "not a number")
            let session = try RedisSession(host: server.host, port: server.port, key: "statelab:test:text")
            defer { session.close() }
            for mode in Strategy.redis.modes {
                let error = #expect(throws: StoreError.self) { try session.increment(mode: mode, raceWindowMicros: 0) }
                #expect(error != nil, "\(mode) on a text value must fail")
            }
            // The failed locked attempt left no WATCH or MULTI behind: a plain transaction still commits.
            try session.reset()
            #expect(try session.increment(mode: .locked, raceWindowMicros: 0) == 1)
        }

        @Test func urlOfTheLaunchedServerWorks() throws {
            let server = try RedisTestGate.launch()
            defer { server.stop() }
            let url = try RedisURL(parsing: server.url.description)
            #expect(url == server.url)
            let session = try RedisSession(url: url)
            defer { session.close() }
            #expect(try session.increment(mode: .atomic, raceWindowMicros: 0) == 1)
        }

        @Test func stopEndsTheProcessAndRemovesTheTempDir() throws {
            let server = try RedisTestGate.launch()
            let pid = server.pid
            let directory = server.directory
            var info = stat()
            #expect(stat(directory, &info) == 0)
            #expect(info.st_mode & 0o777 == 0o700)
            #expect(kill(pid, 0) == 0)

            server.stop()
            #expect(kill(pid, 0) == -1 && errno == ESRCH)
            #expect(!FileManager.default.fileExists(atPath: directory))
            server.stop()  // idempotent

            let error = #expect(throws: StoreError.self) { try RedisConnection(host: server.host, port: server.port, timeout: 1) }
            #expect(error?.message.contains("cannot connect") == true)
        }

        @Test func aFailedStartReportsTheEndOfTheLogAndCleansUp() throws {
            let executable = try RedisTestGate.executable()
            let occupied = try SilentListener()
            defer { occupied.close() }
            // A parent of its own: other suites start redis servers in the temp dir at the same time.
            let parent = NSTemporaryDirectory() + "statelab-redis-test-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: false)
            defer { try? FileManager.default.removeItem(atPath: parent) }
            let error = #expect(throws: StoreError.self) {
                try RedisServerProcess.start(executable: executable, port: occupied.port, parent: parent)
            }
            let message = error?.message ?? ""
            #expect(message.contains("exited during startup with code 1"), "\(message)")
            #expect(message.contains("Address already in use"), "the log tail should say why: \(message)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: parent).isEmpty, "the failed start removed its directory")
        }

        // MARK: - Database and password from the URL

        @Test("redis://host:port/3: every worker counts in database 3, and database 0 is untouched")
        func workersUseTheURLsDatabase() throws {
            let server = try RedisTestGate.launch()
            defer { server.stop() }
            let app = try Supervisor.start(AppConfig(strategy: .redis, mode: .atomic, workers: 2,
                                                     redisURL: "redis://127.0.0.1:\(server.port)/3", executable: Binary.path))
            defer { app.stop() }
            // Through each worker's private socket, so both workers' connections are exercised.
            for worker in app.workers {
                for _ in 0..<5 {
                    let answer = try ControlClient.request("POST", "/increment", socketPath: worker.socketPath)
                    #expect(answer.status == 200, "\(answer.error ?? "")")
                }
            }
            let database3 = try RedisConnection(url: RedisURL(host: server.host, port: server.port, database: 3))
            defer { database3.close() }
            #expect(try database3.command("GET", "statelab:counter") == .bulk("10"))
            let database0 = try RedisConnection(host: server.host, port: server.port)
            defer { database0.close() }
            #expect(try database0.command("GET", "statelab:counter") == .bulkString(nil))
        }

        @Test("a database the server does not have fails at connect, saying what to fix")
        func databaseOutOfRangeSaysWhatToFix() throws {
            let server = try RedisTestGate.launch()
            defer { server.stop() }
            let error = #expect(throws: StoreError.self) {
                try RedisConnection(url: RedisURL(host: server.host, port: server.port, database: 99))
            }
            let message = error?.message ?? ""
            #expect(message.contains("SELECT 99 failed: ERR DB index is out of range"), "\(message)")
            #expect(message.contains("use a smaller /db in the Redis URL"), "\(message)")
            #expect(!message.contains("\n"))
        }

        @Test("a server with --requirepass: the right password works, a wrong or missing one is a one-line error with the fix")
        func passwordIsSentWithAUTH() throws {
            let server = try RedisTestGate.launch(password: "right-pw")
            defer { server.stop() }
            let right = try RedisSession(url: RedisURL(parsing: "redis://:right-pw@127.0.0.1:\(server.port)"))
            defer { right.close() }
            #expect(try right.increment(mode: .atomic, raceWindowMicros: 0) == 1)
            // AUTH with a user name: Redis 6+ ACLs; "default" is the user --requirepass sets.
            let named = try RedisSession(url: RedisURL(parsing: "redis://default:right-pw@127.0.0.1:\(server.port)"))
            defer { named.close() }
            #expect(try named.increment(mode: .atomic, raceWindowMicros: 0) == 2)

            let wrong = #expect(throws: StoreError.self) {
                try RedisSession(url: RedisURL(parsing: "redis://:wrong-pw@127.0.0.1:\(server.port)"))
            }
            let wrongMessage = wrong?.message ?? ""
            #expect(wrongMessage.contains("AUTH was refused: WRONGPASS"), "\(wrongMessage)")
            #expect(wrongMessage.contains("check the user name and password in the Redis URL"), "\(wrongMessage)")
            #expect(!wrongMessage.contains("wrong-pw") && !wrongMessage.contains("\n"), "\(wrongMessage)")

            let missing = #expect(throws: StoreError.self) {
                try RedisSession(host: server.host, port: server.port).increment(mode: .atomic, raceWindowMicros: 0)
            }
            #expect(missing?.message.contains("NOAUTH") == true, "\(missing?.message ?? "")")
            #expect(missing?.message.contains("put it in the Redis URL, redis://:PASSWORD@host:port") == true,
                    "\(missing?.message ?? "")")
        }

        @Test("workers authenticate with the URL's password; a wrong one stops the start with one line")
        func workersAuthenticate() throws {
            let server = try RedisTestGate.launch(password: "right-pw")
            defer { server.stop() }
            let app = try Supervisor.start(AppConfig(strategy: .redis, mode: .locked, workers: 2,
                                                     redisURL: "redis://:right-pw@127.0.0.1:\(server.port)/2", executable: Binary.path))
            defer { app.stop() }
            for worker in app.workers {
                let answer = try ControlClient.request("POST", "/increment", socketPath: worker.socketPath)
                #expect(answer.status == 200, "\(answer.error ?? "")")
            }
            let check = try RedisConnection(url: RedisURL(host: server.host, port: server.port, database: 2, password: "right-pw"))
            defer { check.close() }
            #expect(try check.command("GET", "statelab:counter") == .bulk("2"))

            let error = #expect(throws: StoreError.self) {
                try Supervisor.start(AppConfig(strategy: .redis, mode: .locked, workers: 1,
                                               redisURL: "redis://:wrong-pw@127.0.0.1:\(server.port)", executable: Binary.path))
            }
            #expect(error?.message.contains("WRONGPASS") == true, "\(error?.message ?? "")")
            #expect(error?.message.contains("wrong-pw") == false)
            #expect(error?.message.contains("\n") == false)
        }

        // MARK: - Helpers

        private func finalValue(_ server: RedisServerProcess) throws -> Int {
            let session = try RedisSession(host: server.host, port: server.port)
            defer { session.close() }
            return try session.read()
        }

        private func incrementOnThreads(_ server: RedisServerProcess, threads: Int, each: Int, mode: Mode, raceWindowMicros: Int) throws -> [[Int]] {
            try incrementOnThreadsCountingConflicts(server, threads: threads, each: each, mode: mode, raceWindowMicros: raceWindowMicros).written
        }

        /// Each thread opens its own session (as a worker's pool would), resets
        /// nothing, and returns the values its increments wrote.
        private func incrementOnThreadsCountingConflicts(
            _ server: RedisServerProcess, threads: Int, each: Int, mode: Mode, raceWindowMicros: Int
        ) throws -> (written: [[Int]], conflicts: Int) {
            let results = ThreadResults(count: threads)
            let group = DispatchGroup()
            let host = server.host, port = server.port
            for index in 0..<threads {
                group.enter()
                let thread = Thread {
                    defer { group.leave() }
                    do {
                        // Not serialized: the sessions contend as if each were in a worker process of its own.
                        let session = try RedisSession(host: host, port: port, timeout: 10, serializeLocked: false)
                        defer { session.close() }
                        var written: [Int] = []
                        for _ in 0..<each {
                            written.append(try session.increment(mode: mode, raceWindowMicros: raceWindowMicros))
                        }
                        results.set(index, written: written, conflicts: session.conflictRetries)
                    } catch {
                        results.fail(index, error)
                    }
                }
                thread.start()
            }
            guard group.wait(timeout: .now() + 60) == .success else {
                throw StoreError("increment threads did not finish within 60 s")
            }
            return try results.collect()
        }
    }
}

/// Per-thread results, filled from the threads, read once they are all done.
private final class ThreadResults: @unchecked Sendable {
    private let lock = NSLock()
    private var written: [[Int]]
    private var conflicts = 0
    private var errors: [String] = []

    init(count: Int) { written = Array(repeating: [], count: count) }

    func set(_ index: Int, written values: [Int], conflicts: Int) {
        lock.lock(); defer { lock.unlock() }
        written[index] = values
        self.conflicts += conflicts
    }

    func fail(_ index: Int, _ error: any Error) {
        lock.lock(); defer { lock.unlock() }
        errors.append("thread \(index): \(error)")
    }

    func collect() throws -> (written: [[Int]], conflicts: Int) {
        lock.lock(); defer { lock.unlock() }
        if !errors.isEmpty { throw StoreError(errors.joined(separator: "; ")) }
        return (written, conflicts)
    }
}
