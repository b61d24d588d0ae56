import Foundation
import StateLabTestSupport
import Testing
@testable import StateLab
#if canImport(Glibc)
import Glibc
#endif

/// Reading /proc: text in, facts out.
@Suite struct ProcessTreeParsingTests {
    @Test func statFieldsAreCountedFromTheLastParenthesis() {
        let entry = ProcessTree.parseStat("4242 (a) b (c)) S 17 4240 4240 0 -1 4194560 120 0 0 0")
        #expect(entry == ProcessTree.Entry(pid: 4242, parent: 17, group: 4240, state: "S"))
        #expect(ProcessTree.parseStat("4242 (python3) Z 1 4240 4240")?.isLive == false)
        #expect(ProcessTree.parseStat("not a stat line") == nil)
    }

    @Test func listeningSocketsAreFoundByPortAndState() {
        let table = """
              sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
               0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 111 1 0000000000000000 100 0 0 10 0
               1: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 222 1 0000000000000000 100 0 0 10 0
               2: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000  1000        0 333 1 0000000000000000 20 4 30 10 -1
               3: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 444 1 0000000000000000 100 0 0 10 0
            """
        // 0x1F90 = 8080: the two listeners, not the established connection, not port 8081.
        #expect(ProcessTree.listeningInodes(inTable: table, port: 8080) == [111, 222])
        let tcp6 = """
              sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
               0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 555 1 0000000000000000 100 0 0 10 0
            """
        #expect(ProcessTree.listeningInodes(inTable: tcp6, port: 8080) == [555])
    }

    @Test func socketLinksGiveTheirInode() {
        #expect(ProcessTree.socketInode(fromLink: "socket:[2855565]") == 2_855_565)
        #expect(ProcessTree.socketInode(fromLink: "pipe:[12]") == nil)
        #expect(ProcessTree.socketInode(fromLink: "/dev/null") == nil)
    }

    @Test func aMasterHoldingTheSocketIsNotAWorker() {
        let entries = [
            ProcessTree.Entry(pid: 10, parent: 9, group: 9, state: "S"),   // master, holds
            ProcessTree.Entry(pid: 11, parent: 10, group: 9, state: "S"),  // worker, holds
            ProcessTree.Entry(pid: 12, parent: 10, group: 9, state: "S"),  // worker, holds
            ProcessTree.Entry(pid: 13, parent: 10, group: 9, state: "S"),  // resource tracker, holds nothing
        ]
        #expect(ProcessTree.leafHolders([10, 11, 12], among: entries) == [11, 12])
        // A single-process app is its own worker.
        #expect(ProcessTree.leafHolders([10], among: entries) == [10])
    }

    @Test func placeholdersAreFoundAndTheShellsBracesLeftAlone() throws {
        let spec = CommandSpec(command: "run --port {port} --redis {redis_url} --home ${HOME} --x {port}")
        #expect(spec.placeholdersUsed == ["port", "redis_url", "port"])
        #expect(try spec.substituted(port: 8123, redisURL: "redis://127.0.0.1:6390")
            == "run --port 8123 --redis redis://127.0.0.1:6390 --home ${HOME} --x 8123")
        let database = CommandSpec(command: "run {port}", env: ["DATABASE_URL": "{postgres_url}"])
        #expect(database.placeholdersUsed == ["port", "postgres_url"])
        #expect(database.environment(port: 1, redisURL: nil, postgresURL: "postgres://u:p@127.0.0.1:5/d")
            == ["DATABASE_URL": "postgres://u:p@127.0.0.1:5/d"])
    }
}

/// A real command launched through the real guard (the built statelab binary).
@Suite(.serialized) struct CommandLaunchTests {
    static let statelab = Binary.path

    @Test func unknownPlaceholderIsAClearError() {
        let spec = CommandSpec(command: "python3 app.py --port {port} --db {database}")
        do {
            let app = try LaunchedApp.start(spec, executable: Self.statelab)
            app.stop()
            Issue.record("started with an unknown placeholder")
        } catch {
            let message = "\(error)"
            #expect(message.contains("{database}"), "\(message)")
            #expect(message.contains("{port}") && message.contains("{redis_url}"), "\(message)")
        }
    }

    @Test func aCommandThatExitsAtOnceTellsItsOutput() {
        let spec = CommandSpec(command: "echo starting the app; echo 'ModuleNotFoundError: no module named app' >&2; exit 3",
                               readyTimeout: 30)
        do {
            let app = try LaunchedApp.start(spec, executable: Self.statelab)
            app.stop()
            Issue.record("a command that exits at once was taken as started")
        } catch {
            let message = "\(error)"
            #expect(message.contains("exited with code 3"), "\(message)")
            #expect(message.contains("ModuleNotFoundError: no module named app"), "\(message)")
            #expect(message.contains("starting the app"), "\(message)")
            #expect(message.contains(spec.command), "\(message)")
            #expect(!message.contains("\n"), "one line: \(message)")
        }
    }

    @Test func readyTimeoutIsHonouredAndTheCommandStopped() {
        // A unique duration finds the sleep (and its shell) in /proc afterwards.
        let marker = "30.\(UInt32.random(in: 100_000...999_999))"
        let spec = CommandSpec(command: "sleep \(marker)", readyTimeout: 1)
        let started = Date()
        do {
            let app = try LaunchedApp.start(spec, executable: Self.statelab)
            app.stop()
            Issue.record("a command that never listens was taken as ready")
        } catch {
            let message = "\(error)"
            #expect(message.contains("was not ready within 1 s"), "\(message)")
            #expect(message.contains("sleep \(marker)"), "\(message)")
        }
        // It gave up at the timeout, not when the sleep ended.
        #expect(Date().timeIntervalSince(started) < 30)
        #expect(ProcessTable.waitNoneMentioning(marker, timeout: 30) == [])
    }
}

/// The forking fixture: a master that forks workers sharing its socket.
@Suite(.serialized, .enabled(if: ChildProcess.which("python3") != nil, "python3 not found on PATH: skipping the launched-app tests"))
struct CommandTargetTests {
    static let fixture = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Tests/Fixtures/apps/forking_counter.py").path

    static func launch(workers: Int = 3, extra: String = "", fields: AnswerFields = .standard) throws -> LaunchedApp {
        let spec = CommandSpec(command: "python3 \(fixture) --port {port} --workers \(workers) \(extra)",
                               pidField: fields.pidField, countField: fields.countField)
        return try LaunchedApp.start(spec, executable: CommandLaunchTests.statelab)
    }

    /// The master's and workers' pids, from the line the fixture prints once it forked.
    static func forked(by app: LaunchedApp, timeout: Double = 15) -> (master: Int32, workers: [Int32])? {
        let deadline = Date().addingTimeInterval(timeout)
        repeat {
            for line in app.outputTail(lines: 50).split(separator: "\n") where line.hasPrefix("forking_counter: master ") {
                let words = line.split(separator: " ")
                guard words.count > 3, let master = Int32(words[2]), let at = words.firstIndex(of: "workers") else { continue }
                return (master, words[(at + 1)...].compactMap { Int32($0) }.sorted())
            }
            usleep(20_000)
        } while Date() < deadline
        return nil
    }

    /// Polls until `condition` holds, at most `timeout` seconds.
    static func eventually(timeout: Double = 15, _ condition: () -> Bool) -> Bool {
        Poll.until(timeout: timeout, condition)
    }

    @Test func workerPidsAreTheForkedWorkersNotTheMaster() throws {
        let app = try Self.launch()
        defer { app.stop() }
        let tree = try #require(Self.forked(by: app))
        #expect(tree.workers.count == 3)
        #expect(app.workerPids() == tree.workers)
        #expect(!app.workerPids().contains(tree.master))
        #expect(app.groupPids().contains(tree.master))
        for pid in tree.workers { #expect(app.status(of: pid) == .alive) }
    }

    @Test func killOneWorkerAndRefuseOthers() throws {
        let app = try Self.launch()
        defer { app.stop() }
        let tree = try #require(Self.forked(by: app))
        let victim = tree.workers[0]
        try app.kill(pid: victim)
        #expect(Self.eventually { app.status(of: victim) == .gone })
        #expect(Self.eventually { app.workerPids() == Array(tree.workers.dropFirst()) })
        do {
            try app.kill(pid: getpid())
            Issue.record("killed a pid outside the command's group")
        } catch {
            #expect("\(error)".contains("not in the app command's process group"), "\(error)")
        }
        #expect(ProcessTable.exists(getpid()))
    }

    @Test func stopLeavesNoProcessOfTheGroup() throws {
        let app = try Self.launch()
        let group = app.groupID
        let guardPID = app.guardPID
        let directory = app.logPath
        #expect(try #require(Self.forked(by: app)).workers.count == 3)
        #expect(!ProcessTree.members(ofGroup: group).isEmpty)
        app.stop()
        app.stop()  // idempotent
        #expect(Self.eventually(timeout: 30) { ProcessTree.members(ofGroup: group).isEmpty })
        #expect(!ProcessTable.exists(guardPID))
        #expect(!FileManager.default.fileExists(atPath: directory))
    }

    @Test func readsUseTheConfiguredFieldNames() async throws {
        let app = try Self.launch(extra: "--fields worker_pid,value", fields: AnswerFields(pidField: "worker_pid", countField: "value"))
        defer { app.stop() }
        let tree = try #require(Self.forked(by: app))
        let target = CommandTarget(app: app)
        #expect(target.workerCount == 3)
        let (reads, unread) = await target.readAll(expecting: [], skipping: [])
        // The workers share one socket: the kernel picks who answers a fresh connection, and on a
        // busy machine one worker can lose every accept race. Each worker is read or named unread.
        #expect(!reads.isEmpty, "no worker was read with the fields worker_pid and value")
        #expect(Set(reads.map(\.pid)).union(unread.map(\.pid)) == Set(tree.workers), "reads \(reads), unread \(unread)")
        #expect(Set(reads.map(\.pid)).isDisjoint(with: unread.map(\.pid)))
        #expect(reads.allSatisfy { $0.value == 0 })
        #expect(unread.allSatisfy { $0.reason.contains("never reached it") }, "\(unread)")
    }

    /// Fresh connections: /proc names the worker that accepted each one, and it is the pid the answer gives.
    @Test func procNamesTheWorkerOfAFreshConnection() async throws {
        let app = try Self.launch()
        defer { app.stop() }
        let tree = try #require(Self.forked(by: app))
        let owners = SocketOwners(scope: .group(app.groupID))
        for _ in 0..<9 {
            let answer = try await AppExchange.send(RequestSpec(method: "GET", path: "/report"), port: app.port, timeout: 10, owners: owners)
            let named = try #require(CounterAnswer.parse(answer.body).pid)
            #expect(answer.owner == .pid(named), "the answer names pid \(named), /proc said \(String(describing: answer.owner))")
            #expect(tree.workers.contains(named))
        }
        #expect(owners.counts == (found: 9, lookups: 9) && owners.problem == nil)
    }

    /// Keep-alive connections: one lookup each, and every answer on one is that worker's.
    @Test func procNamesTheWorkerOfEachKeepAliveConnection() async throws {
        let app = try Self.launch()
        defer { app.stop() }
        let tree = try #require(Self.forked(by: app))
        let owners = SocketOwners(scope: .group(app.groupID))
        var plan = LoadPlan(port: app.port, stop: .count(300), concurrency: 6, timeout: 30)
        plan.owners = owners
        let result = try await LoadGenerator(plan: plan).run()
        #expect(result.okCount == 300)
        #expect(result.pidDisagreements == 0, "\(result.firstPidDisagreement ?? "")")
        #expect(result.increments.allSatisfy { $0.pid.map(tree.workers.contains) == true })
        let counts = owners.counts
        // One lookup per connection, not per request: six connections, kept alive throughout.
        #expect(counts.found == counts.lookups && counts.lookups == 6, "\(counts)")
    }

    /// A worker /proc cannot place (here: looked for in another process group) is unknown, never guessed,
    /// and the answer still comes.
    @Test func aConnectionProcCannotPlaceIsUnknown() async throws {
        let app = try Self.launch(workers: 2)
        defer { app.stop() }
        let owners = SocketOwners(scope: .group(getpgrp()))
        let answer = try await AppExchange.send(RequestSpec(method: "GET", path: "/report"), port: app.port, timeout: 10, owners: owners)
        #expect(answer.status == 200)
        guard case .unknown? = answer.owner else {
            Issue.record("placed in a group that does not hold it: \(String(describing: answer.owner))")
            return
        }
        #expect(owners.problem != nil && owners.counts.found == 0)
        // The answer's own pid is still there, as a cross-check would use it; /proc's verdict is not replaced by it.
        #expect(answer.pid() == CounterAnswer.parse(answer.body).pid)
    }

    @Test func aPidOnlyInTheHeaderIsRead() async throws {
        let app = try Self.launch(extra: "--pid-header-only")
        defer { app.stop() }
        let tree = try #require(Self.forked(by: app))
        let (reads, _) = await CommandTarget(app: app).readAll(expecting: Set(tree.workers), skipping: [])
        // Best effort through a shared socket: whoever answered was named by its header.
        #expect(!reads.isEmpty && Set(reads.map(\.pid)).isSubset(of: Set(tree.workers)), "\(reads)")
    }

    @Test(.enabled(if: PostgresRequirement.runs, PostgresRequirement.skipReason)) func postgresURLStartsAPostgreSQLForTheRunWithItsPassword() throws {
        let spec = CommandSpec(command: "echo \"db at $DATABASE_URL\"; exec python3 -m http.server {port} --bind 127.0.0.1",
                               env: ["DATABASE_URL": "{postgres_url}"], readyPath: "/")
        let app = try LaunchedApp.start(spec, executable: CommandLaunchTests.statelab)
        defer { app.stop() }
        #expect(Self.eventually { app.outputTail(lines: 10).contains("db at postgres://") })
        let line = try #require(app.outputTail(lines: 10).split(separator: "\n").first { $0.contains("db at ") })
        let url = try PostgresURL(parsing: String(line.split(separator: " ").last ?? ""))
        #expect(url.host == "127.0.0.1" && url.password != nil)
        // The URL works as given: it creates statelab's table on that server.
        try PostgresCounterTable.prepare(url: url, timeout: 10)
        app.stop()
        #expect(Self.eventually { (try? PostgresCounterTable.prepare(url: url, timeout: 1)) == nil },
                "the server still answers after stop()")
    }

    @Test(.enabled(if: RedisRequirement.runs, RedisRequirement.skipReason)) func redisURLStartsARedisForTheRunAndCwdIsHonoured() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("statelab-cwd-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "here".write(toFile: directory + "/marker.txt", atomically: true, encoding: .utf8)
        // http.server serves its working directory: /marker.txt answers 200 only when cwd was honoured.
        let spec = CommandSpec(command: "echo redis at {redis_url}; exec python3 -m http.server {port} --bind 127.0.0.1",
                               cwd: directory, readyPath: "/marker.txt")
        let app = try LaunchedApp.start(spec, executable: CommandLaunchTests.statelab)
        let url = try RedisURL(parsing: try #require(app.redisURL))
        #expect(url.host == "127.0.0.1")
        #expect(Self.eventually { app.outputTail(lines: 10).contains("redis at redis://127.0.0.1:\(url.port)") })
        let connection = try RedisConnection(url: url, timeout: 5)
        #expect(try connection.command("PING") == .simpleString("PONG"))
        connection.close()
        app.stop()
        #expect(Self.eventually { (try? RedisConnection(url: url, timeout: 1)) == nil }, "redis-server still answers after stop()")
    }

    @Test func theLoadGeneratorHonoursTheFieldNames() async throws {
        let fields = AnswerFields(pidField: "worker_pid", countField: "value")
        let app = try Self.launch(workers: 2, extra: "--fields worker_pid,value --shared-counter", fields: fields)
        defer { app.stop() }
        let tree = try #require(Self.forked(by: app))
        let plan = LoadPlan(port: app.port, stop: .count(40), concurrency: 4, timeout: 10, answerFields: fields)
        let result = try await LoadGenerator(plan: plan).run()
        #expect(result.okCount == 40)
        #expect(result.increments.compactMap(\.count).sorted() == Array(1...40))
        #expect(Set(result.increments.compactMap(\.pid)).isSubset(of: Set(tree.workers)))
    }
}
