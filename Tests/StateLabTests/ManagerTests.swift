import Foundation
import Glibc
import Synchronization
import Testing
@testable import StateLab

/// Real `ManagerServer`s on Unix sockets in fresh temp dirs, real blocking clients.
@Suite(.serialized) struct ManagerTests {
    // MARK: - Counting across concurrent sessions

    @Test func atomicIncrementsFromFourSessionsAreExact() throws {
        try withManager { manager in
            let results = try manager.incrementConcurrently(sessions: 4, each: 500, mode: .atomic, raceWindowMicros: 0)
            #expect(results.failures.isEmpty, "\(results.failures)")
            #expect(try manager.session().read() == 2000)
            // Every increment wrote its own value: no duplicates, none missing.
            #expect(Set(results.values) == Set(1...2000))
        }
    }

    @Test func lockedIncrementsFromFourSessionsAreExact() throws {
        try withManager { manager in
            let results = try manager.incrementConcurrently(sessions: 4, each: 150, mode: .locked, raceWindowMicros: 50)
            #expect(results.failures.isEmpty, "\(results.failures)")
            #expect(try manager.session().read() == 600)
            #expect(Set(results.values) == Set(1...600))
        }
    }

    @Test func naiveIncrementsFromFourSessionsLoseUpdates() throws {
        try withManager { manager in
            let results = try manager.incrementConcurrently(sessions: 4, each: 150, mode: .naive, raceWindowMicros: 200)
            #expect(results.failures.isEmpty, "\(results.failures)")
            let acknowledged = results.values.count
            let final = try manager.session().read()
            #expect(acknowledged == 600)
            #expect(final < acknowledged, "expected lost updates, final \(final) of \(acknowledged)")
            // Two increments that wrote the same value witness a lost update.
            #expect(Set(results.values).count < acknowledged)
        }
    }

    @Test func readAndResetAnswerTheSharedCounter() throws {
        try withManager { manager in
            let first = try manager.session()
            let second = try manager.session()
            #expect(try first.increment(mode: .atomic, raceWindowMicros: 0) == 1)
            #expect(try second.increment(mode: .naive, raceWindowMicros: 0) == 2)
            #expect(try first.read() == 2)
            try second.reset()
            #expect(try first.read() == 0)
            first.close()
            #expect(throws: StoreError.self) { try first.read() }
        }
    }

    // MARK: - Authentication

    @Test func wrongKeyIsRefusedAndOthersKeepBeingServed() throws {
        try withManager { manager in
            let good = try manager.session()
            #expect(try good.increment(mode: .atomic, raceWindowMicros: 0) == 1)
            let error = #expect(throws: StoreError.self) {
                _ = try ManagerSession(socketPath: manager.socketPath, key: ManagerKey.generate(), timeout: 5)
            }
            #expect(error?.message.contains("refused") == true)
            #expect(try manager.waitForLog(containing: "refused: wrong key"))
            #expect(try good.increment(mode: .atomic, raceWindowMicros: 0) == 2)
            #expect(try manager.session().read() == 2)
        }
    }

    @Test func clientThatSpeaksBeforeAnsweringIsRefused() throws {
        try withManager { manager in
            let raw = try ManagerSocket(path: manager.socketPath, timeout: 5)
            _ = try raw.receiveFrame()
            try raw.sendFrame(Array("get".utf8))
            #expect(String(decoding: try raw.receiveFrame(), as: UTF8.self) == "failure")
            #expect(throws: StoreError.self) { _ = try raw.receiveFrame() }
            #expect(try manager.waitForLog(containing: "instead of a 32-byte answer"))
            #expect(try manager.session().read() == 0)
        }
    }

    // MARK: - Hostile input

    @Test func oversizedFrameIsRefusedAndServerKeepsServing() throws {
        try withManager { manager in
            let raw = try manager.authenticatedRawSocket()
            try raw.sendAll([0x7f, 0xff, 0xff, 0xff])
            let reply = String(decoding: try raw.receiveFrame(), as: UTF8.self)
            #expect(reply.hasPrefix("error frame of 2147483647 bytes"))
            #expect(throws: StoreError.self) { _ = try raw.receiveFrame() }
            #expect(try manager.waitForLog(containing: "2147483647 bytes (limit 4096); refused"))
            // Unauthenticated, too.
            let early = try ManagerSocket(path: manager.socketPath, timeout: 5)
            _ = try early.receiveFrame()
            try early.sendAll([0xff, 0xff, 0xff, 0xff])
            #expect(String(decoding: try early.receiveFrame(), as: UTF8.self).hasPrefix("error frame of"))
            #expect(try manager.session().increment(mode: .atomic, raceWindowMicros: 0) == 1)
        }
    }

    @Test func malformedRequestsGetErrorsAndTheConnectionStaysUsable() throws {
        try withManager { manager in
            let raw = try manager.authenticatedRawSocket()
            let bad: [[UInt8]] = [
                Array("frobnicate".utf8), Array("set".utf8), Array("set abc".utf8), Array("set 1 2".utf8),
                Array("get now".utf8), [], [0xff, 0xfe, 0x00, 0x01], Array("unlock".utf8), Array("GET".utf8),
                Array("pid".utf8), Array("pid abc".utf8), Array("pid 0".utf8), Array("pid -1".utf8),
                Array("pid 4294967296".utf8), Array("pid 5 6".utf8), Array("holder now".utf8),
                Array("released 1".utf8), Array("releases x".utf8), Array("holder ".utf8),
            ]
            for payload in bad {
                try raw.sendFrame(payload)
                let reply = String(decoding: try raw.receiveFrame(), as: UTF8.self)
                #expect(reply.hasPrefix("error "), "\(payload) -> \(reply)")
            }
            try raw.sendFrame(Array("set 41".utf8))
            #expect(String(decoding: try raw.receiveFrame(), as: UTF8.self) == "ok")
            try raw.sendFrame(Array("incr".utf8))
            #expect(String(decoding: try raw.receiveFrame(), as: UTF8.self) == "ok 42")
        }
    }

    @Test func garbageAndTruncatedFramesDoNotHurtOtherClients() throws {
        try withManager { manager in
            let session = try manager.session()
            #expect(try session.increment(mode: .atomic, raceWindowMicros: 0) == 1)
            // Plain text instead of frames: its first four bytes read as a huge length.
            let garbage = try ManagerSocket(path: manager.socketPath, timeout: 5)
            try garbage.sendAll(Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
            garbage.close()
            // A frame cut short, before and after authenticating, then a hang-up.
            let truncatedEarly = try ManagerSocket(path: manager.socketPath, timeout: 5)
            try truncatedEarly.sendAll([0, 0, 0, 32, 1, 2, 3])
            truncatedEarly.close()
            let truncatedLate = try manager.authenticatedRawSocket()
            try truncatedLate.sendAll([0, 0, 0, 4, UInt8(ascii: "i")])
            truncatedLate.close()
            // A frame split across writes is reassembled: the barrier makes
            // certain the server has read each part before the next is sent.
            let split = try manager.authenticatedRawSocket()
            let probe = try manager.authenticatedRawSocket()
            try split.sendAll([0, 0])
            try manager.barrier(probe)
            try split.sendAll([0, 4, UInt8(ascii: "i"), UInt8(ascii: "n")])
            try manager.barrier(probe)
            try split.sendAll([UInt8(ascii: "c"), UInt8(ascii: "r")])
            #expect(String(decoding: try split.receiveFrame(), as: UTF8.self) == "ok 2")
            #expect(try session.increment(mode: .locked, raceWindowMicros: 0) == 3)
            #expect(try manager.session().read() == 3)
        }
    }

    // MARK: - The lock

    @Test func lockHeldByADisconnectedClientIsReleased() throws {
        try withManager { manager in
            let holder = try manager.authenticatedRawSocket()
            try holder.sendFrame(Array("lock".utf8))
            #expect(String(decoding: try holder.receiveFrame(), as: UTF8.self) == "granted")

            // Short receives, to show that nothing comes while the holder holds the lock.
            let waiter = try manager.authenticatedRawSocket(timeout: 0.3)
            try waiter.sendFrame(Array("lock".utf8))
            try manager.barrier(holder)
            // The waiter is parked behind the holder: its lock request was
            // handled, and no grant comes (a receive timeout, which a busy
            // machine only makes more certain)...
            #expect(throws: StoreError.self) { _ = try waiter.receiveFrame() }
            // ...until the holder hangs up without unlocking.
            holder.close()
            #expect(try manager.patientlyReceive(waiter) == "granted")
            try waiter.sendFrame(Array("incr".utf8))
            #expect(try manager.patientlyReceive(waiter) == "ok 1")
            try waiter.sendFrame(Array("unlock".utf8))
            #expect(try manager.patientlyReceive(waiter) == "ok")
            #expect(try manager.waitForLog(containing: "disconnected holding the lock; released"))
            // A session's locked increment takes the freed lock, too.
            #expect(try manager.session().increment(mode: .locked, raceWindowMicros: 0) == 2)
        }
    }

    @Test func lockIsGrantedInArrivalOrder() throws {
        try withManager { manager in
            let first = try manager.authenticatedRawSocket()
            let second = try manager.authenticatedRawSocket()
            let third = try manager.authenticatedRawSocket(timeout: 0.3)
            try first.sendFrame(Array("lock".utf8))
            #expect(String(decoding: try first.receiveFrame(), as: UTF8.self) == "granted")
            try second.sendFrame(Array("lock".utf8))
            // Pipelined behind the pending lock: answered only after the grant, in order.
            try second.sendFrame(Array("get".utf8))
            // Second's lock request is queued before third's is sent.
            try manager.barrier(first)
            try third.sendFrame(Array("lock".utf8))
            try first.sendFrame(Array("set 5".utf8))
            #expect(String(decoding: try first.receiveFrame(), as: UTF8.self) == "ok")
            try first.sendFrame(Array("unlock".utf8))
            #expect(String(decoding: try first.receiveFrame(), as: UTF8.self) == "ok")
            #expect(String(decoding: try second.receiveFrame(), as: UTF8.self) == "granted")
            #expect(String(decoding: try second.receiveFrame(), as: UTF8.self) == "ok 5")
            // The third still waits: its receive times out.
            #expect(throws: StoreError.self) { _ = try third.receiveFrame() }
            // The lock is not re-entrant, and only its holder may release it.
            try second.sendFrame(Array("lock".utf8))
            #expect(String(decoding: try second.receiveFrame(), as: UTF8.self).hasPrefix("error "))
            try first.sendFrame(Array("unlock".utf8))
            #expect(String(decoding: try first.receiveFrame(), as: UTF8.self).hasPrefix("error "))
            // A waiter that hangs up leaves the queue: the lock is not handed to it.
            third.close()
            try manager.barrier(first)
            try second.sendFrame(Array("unlock".utf8))
            #expect(String(decoding: try second.receiveFrame(), as: UTF8.self) == "ok")
            #expect(try manager.session(timeout: 5).increment(mode: .locked, raceWindowMicros: 0) == 6)
        }
    }

    // MARK: - Naming the holder

    @Test func holderAndReleasesNameTheDeclaredPIDs() throws {
        try withManager { manager in
            let observer = try manager.authenticatedRawSocket()
            #expect(try manager.ask(observer, "holder") == "ok 0", "free")
            #expect(try manager.ask(observer, "releases") == "ok 0")
            #expect(try manager.ask(observer, "released") == "ok 0", "nobody released yet")

            let holder = try manager.authenticatedRawSocket()
            #expect(try manager.ask(holder, "pid 4242") == "ok")
            #expect(try manager.ask(holder, "pid 4243").hasPrefix("error this connection already declared pid 4242"))
            #expect(try manager.ask(holder, "lock") == "granted")
            #expect(try manager.ask(observer, "holder") == "ok 4242")
            #expect(try manager.ask(holder, "unlock") == "ok")
            #expect(try manager.ask(observer, "holder") == "ok 0")
            #expect(try manager.ask(observer, "releases") == "ok 0", "an unlock is not a release")

            // It takes the lock again and hangs up holding it.
            #expect(try manager.ask(holder, "lock") == "granted")
            holder.close()
            // The close reaches the server's loop in its own time, not before the observer's next request.
            #expect(try manager.ask(observer, "releases", until: "ok 1") == "ok 1")
            #expect(try manager.ask(observer, "holder") == "ok 0")
            #expect(try manager.ask(observer, "released") == "ok 4242")
            #expect(try manager.waitForLog(containing: "(pid 4242) disconnected holding the lock; released"))

            // A client that declares nothing holds it as -1, and is released as -1.
            let anonymous = try manager.authenticatedRawSocket()
            #expect(try manager.ask(anonymous, "lock") == "granted")
            #expect(try manager.ask(observer, "holder") == "ok -1")
            anonymous.close()
            #expect(try manager.ask(observer, "releases", until: "ok 2") == "ok 2")
            #expect(try manager.ask(observer, "released") == "ok -1")
            #expect(try manager.waitForLog(containing: "(no pid declared) disconnected holding the lock; released"))
            // Closing without the lock releases nothing.
            let idle = try manager.authenticatedRawSocket()
            #expect(try manager.ask(idle, "pid 99") == "ok")
            idle.close()
            try manager.barrier(observer)
            #expect(try manager.ask(observer, "releases") == "ok 2")
        }
    }

    @Test func sessionsDeclareTheirPIDAndReadHolderAndReleases() throws {
        try withManager { manager in
            let observer = try manager.session()
            #expect(try observer.lockHolder() == nil)
            #expect(try observer.lockReleases() == LockRecoveries(lock: .manager, count: 0, lastDeadHolder: nil))

            // A session's locked increment holds the lock for its race window, under this process's pid.
            let incrementing = UncheckedBox(try manager.session())
            let done = DispatchSemaphore(value: 0)
            Thread.detachNewThread {
                _ = try? incrementing.value.increment(mode: .locked, raceWindowMicros: 300_000)
                done.signal()
            }
            let deadline = Date().addingTimeInterval(ManagerFixture.patience)
            var seen: Int32?
            while seen == nil && Date() < deadline {
                seen = try observer.lockHolder()
                if seen == nil { usleep(1_000) }
            }
            #expect(seen == getpid(), "a ManagerSession declares getpid() right after authenticating")
            #expect(done.wait(timeout: .now() + 60) == .success)
            #expect(try observer.lockHolder() == nil)

            // A client that declared its pid takes the lock and hangs up.
            let holder = try manager.authenticatedRawSocket()
            #expect(try manager.ask(holder, "pid 31337") == "ok")
            #expect(try manager.ask(holder, "lock") == "granted")
            #expect(try observer.lockHolder() == 31337)
            holder.close()
            let released = LockRecoveries(lock: .manager, count: 1, lastDeadHolder: 31337)
            var recoveries = try observer.lockReleases()
            while recoveries != released && Date() < deadline {
                usleep(1_000)
                recoveries = try observer.lockReleases()
            }
            #expect(recoveries == released)
            #expect(recoveries.description == "the manager released the lock of pid 31337, which disconnected holding it, 1 time")
            #expect(try observer.lockHolder() == nil)
            #expect(try observer.increment(mode: .locked, raceWindowMicros: 0) == 2, "the lock works on")
        }
    }

    // MARK: - Files

    @Test func socketFileIsOwnerOnly() throws {
        try withManager { manager in
            var info = stat()
            #expect(lstat(manager.socketPath, &info) == 0)
            #expect(info.st_mode & S_IFMT == S_IFSOCK)
            #expect(info.st_mode & 0o777 == 0o600)
        }
    }

    @Test func staleSocketIsReplacedButOtherFilesAreNot() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.path + "/m.sock"
        let key = ManagerKey.generate()
        let first = ManagerServer(socketPath: path, key: key, log: { _ in })
        try first.start()
        // A live server's socket is not taken over.
        #expect(throws: StoreError.self) { try ManagerServer(socketPath: path, key: key, log: { _ in }).start() }
        first.stop()
        #expect(!FileManager.default.fileExists(atPath: path))

        // A socket file nobody listens on is stale and replaced.
        let stale = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        let address = try UnixSocketAddress.make(path)
        #expect(UnixSocketAddress.with(address) { bind(stale, $0, $1) } == 0)
        close(stale)
        let second = ManagerServer(socketPath: path, key: key, log: { _ in })
        try second.start()
        #expect(try ManagerSession(socketPath: path, key: key, timeout: 5).read() == 0)
        second.stop()

        // A regular file is left alone.
        #expect(FileManager.default.createFile(atPath: path, contents: Data("keep".utf8)))
        #expect(throws: StoreError.self) { try ManagerServer(socketPath: path, key: key, log: { _ in }).start() }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "keep")
    }

    @Test func keyFileRoundTripsWithOwnerOnlyMode() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.path + "/key"
        let key = ManagerKey.generate()
        #expect(key.count == 32)
        #expect(key != ManagerKey.generate())
        try ManagerKey.write(key, to: path)
        var info = stat()
        #expect(stat(path, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600)
        #expect(try ManagerKey.read(from: path) == key)
        #expect(FileManager.default.createFile(atPath: path, contents: Data("not hex".utf8)))
        #expect(throws: StoreError.self) { try ManagerKey.read(from: path) }
    }

    @Test func requestsParseStrictly() throws {
        #expect(try ManagerRequest(parsing: "set -5") == .set(-5))
        #expect(try ManagerRequest(parsing: "incr") == .incr)
        #expect(throws: ManagerRequestError.self) { try ManagerRequest(parsing: "incr ") }
        #expect(throws: ManagerRequestError.self) { try ManagerRequest(parsing: "set 99999999999999999999") }
        #expect(try ManagerRequest(parsing: "pid 12") == .declarePID(12))
        #expect(try ManagerRequest(parsing: "holder") == .holder)
        #expect(try ManagerRequest(parsing: "releases") == .releases)
        #expect(try ManagerRequest(parsing: "released") == .released)
        for request in [ManagerRequest.declarePID(12), .holder, .releases, .released] {
            #expect(try ManagerRequest(parsing: request.text) == request)
        }
        #expect(ManagerReply(parsing: "ok -1") == .value(-1))
        #expect(ManagerReply(parsing: "ok 7") == .value(7))
        #expect(ManagerReply(parsing: "okay") == .error("unexpected reply \"okay\""))
    }
}

// MARK: - Fixture

/// One running server on a socket in a fresh temp dir, with its log lines.
private final class ManagerFixture {
    let directory: TemporaryDirectory
    let socketPath: String
    let key = ManagerKey.generate()
    let logLines = Locked<[String]>([])
    private(set) var server: ManagerServer!

    init() throws {
        directory = try TemporaryDirectory()
        socketPath = directory.path + "/manager.sock"
        let lines = logLines
        server = ManagerServer(socketPath: socketPath, key: key) { line in
            lines.withLock { $0.append(line) }
        }
        try server.start()
    }

    func shutDown() {
        server.stop()
        directory.remove()
    }

    func session(timeout: Double = 10) throws -> ManagerSession {
        try ManagerSession(socketPath: socketPath, key: key, timeout: timeout)
    }

    /// A framed connection that has answered the challenge, for sending raw
    /// requests. `timeout` bounds each of its sends and receives; the
    /// handshake itself waits up to `patience` seconds whatever the timeout.
    func authenticatedRawSocket(timeout: Double = 5) throws -> ManagerSocket {
        let raw = try ManagerSocket(path: socketPath, timeout: timeout)
        let challenge = try patientlyReceiveBytes(raw)
        try raw.sendFrame(ManagerAuthentication.answer(key: key, challenge: challenge))
        guard try patientlyReceive(raw) == "welcome" else {
            throw StoreError("test: not welcomed")
        }
        return raw
    }

    /// Deadline of every wait for something that must come.
    static let patience = 30.0

    /// The next frame, retrying receives that time out (before any byte of
    /// the frame came, as the server writes each frame at once) until
    /// `patience` seconds have passed: a socket with a short timeout can still
    /// wait for a reply that must come.
    func patientlyReceiveBytes(_ socket: ManagerSocket) throws -> [UInt8] {
        let deadline = Date().addingTimeInterval(Self.patience)
        while true {
            do {
                return try socket.receiveFrame()
            } catch let error as StoreError where error.message.contains("timed out") && Date() < deadline {
                continue
            }
        }
    }

    func patientlyReceive(_ socket: ManagerSocket) throws -> String {
        String(decoding: try patientlyReceiveBytes(socket), as: UTF8.self)
    }

    /// A round trip on `socket` (a connection that is serving, not waiting
    /// for the lock), in place of a sleep that guesses how long the server
    /// takes. The server reads every connection on one event loop and handles
    /// all that are readable before it waits again; what the test wrote on
    /// another connection was readable before this request was sent. So once
    /// this reply is back, all of it, a hang-up included, has been handled.
    func barrier(_ socket: ManagerSocket) throws {
        try socket.sendFrame(Array("get".utf8))
        let reply = try patientlyReceive(socket)
        guard reply.hasPrefix("ok ") else { throw StoreError("test: barrier got \(reply)") }
    }

    /// Sends one request on `socket` (a connection that is serving) and returns the reply.
    func ask(_ socket: ManagerSocket, _ request: String) throws -> String {
        try socket.sendFrame(Array(request.utf8))
        return try patientlyReceive(socket)
    }

    /// Asks again every 2 ms until the reply is `expected` (at most 10 s): what
    /// another connection did is seen once the server's loop has handled it,
    /// which a reply on this connection does not promise. Returns the last reply.
    func ask(_ socket: ManagerSocket, _ request: String, until expected: String) throws -> String {
        let deadline = MonotonicClock.now() + 10_000_000_000
        while true {
            let reply = try ask(socket, request)
            if reply == expected || MonotonicClock.now() > deadline { return reply }
            usleep(2_000)
        }
    }

    /// Log lines arrive from the server's loop; wait a bounded time for one.
    func waitForLog(containing text: String, within seconds: Double = patience) throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if logLines.withLock({ $0.contains { $0.contains(text) } }) { return true }
            usleep(10_000)
        }
        Issue.record("no log line containing \(text.debugDescription) in \(logLines.withLock { $0 })")
        return false
    }

    struct ConcurrentResults: Sendable {
        var values: [Int] = []
        var failures: [String] = []
    }

    /// Runs `sessions` threads, each with its own session doing `each` increments.
    func incrementConcurrently(sessions count: Int, each: Int, mode: Mode, raceWindowMicros: Int) throws -> ConcurrentResults {
        let sessions = try (0..<count).map { _ in UncheckedBox(try session()) }
        let results = Locked(ConcurrentResults())
        let group = DispatchGroup()
        let start = DispatchSemaphore(value: 0)
        for box in sessions {
            group.enter()
            Thread.detachNewThread {
                start.wait()
                var local = ConcurrentResults()
                for _ in 0..<each {
                    do {
                        local.values.append(try box.value.increment(mode: mode, raceWindowMicros: raceWindowMicros))
                    } catch {
                        local.failures.append("\(error)")
                        break
                    }
                }
                results.withLock {
                    $0.values += local.values
                    $0.failures += local.failures
                }
                group.leave()
            }
        }
        for _ in sessions { start.signal() }
        guard group.wait(timeout: .now() + 120) == .success else {
            throw StoreError("test: concurrent increments did not finish within 120 s")
        }
        sessions.forEach { $0.value.close() }
        return results.withLock { $0 }
    }
}

private func withManager(_ body: (ManagerFixture) throws -> Void) throws {
    let fixture = try ManagerFixture()
    defer { fixture.shutDown() }
    try body(fixture)
}

/// A fresh directory under /tmp (short, for socket paths), removed by `remove()`.
private struct TemporaryDirectory {
    let path: String

    init() throws {
        var template = Array("/tmp/statelab-manager-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw StoreError("test: mkdtemp failed") }
        path = String(cString: made)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// Hands a value used by one thread at a time to another thread.
private final class UncheckedBox<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// A value shared between threads behind a mutex.
private final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T { try mutex.withLock { try body(&$0) } }
}
