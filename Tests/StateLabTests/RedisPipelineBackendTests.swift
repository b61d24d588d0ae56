import Dispatch
import Foundation
import NIOCore
import NIOPosix
import StateLabTestSupport
import Testing
@testable import StateLab

/// redis atomic's pipelined client on an event loop, against a real
/// redis-server each test starts and stops. Starting, killing and restarting
/// the server block, so they run on a Dispatch thread, not the test's.
@Suite(.serialized, .enabled(if: RedisTestGate.shouldRun, "redis-server not found on PATH (apt-get install -y redis-server); set STATELAB_REQUIRE_REDIS=1 to fail instead"))
struct RedisPipelineBackendTests {
    @Test("increments issued together are pipelined and each gets a distinct value: exactly 1...N")
    func concurrentIncrementsAreExact() async throws {
        let server = try await blocking { try RedisTestGate.launch() }
        defer { server.stop() }
        try await withLoop { loop in
            let backend = RedisPipelineBackend(loop: loop, url: server.url)
            // 2,000 increments queued in one turn of the loop, so they share writes.
            let futures = try await loop.submit { (0..<2_000).map { _ in backend.increment(on: loop) } }.get()
            var values: [Int] = []
            for future in futures { values.append(try await future.get()) }
            #expect(values.sorted() == Array(1...2_000))
            #expect(try await backend.read(on: loop).get() == 2_000)
            try await backend.reset(on: loop).get()
            #expect(try await backend.read(on: loop).get() == 0)
        }
    }

    @Test("a password and a database are sent before the first command; a wrong password fails the call")
    func authenticatesAndSelects() async throws {
        let server = try await blocking { try RedisTestGate.launch(password: "s3cret") }
        defer { server.stop() }
        try await withLoop { loop in
            var url = server.url
            url.database = 3
            let backend = RedisPipelineBackend(loop: loop, url: url)
            #expect(try await backend.increment(on: loop).get() == 1)
            // The key is in database 3, not 0.
            let inDatabase0 = try await blocking {
                let session = try RedisSession(url: server.url)
                defer { session.close() }
                return try session.read()
            }
            #expect(inDatabase0 == 0)

            var wrong = server.url
            wrong.password = "wrong"
            let refused = RedisPipelineBackend(loop: loop, url: wrong)
            await #expect(throws: StoreError.self) { try await refused.increment(on: loop).get() }
        }
    }

    @Test("a killed server fails the calls, and the client connects again once it is back")
    func reconnectsAfterTheServerRestarts() async throws {
        let server = try await blocking { try RedisTestGate.launch() }
        defer { server.stop() }
        try await withLoop { loop in
            let backend = RedisPipelineBackend(loop: loop, url: server.url)
            #expect(try await backend.increment(on: loop).get() == 1)

            await blocking { server.kill() }
            // The lost connection and then the refused connects are errors, never a hang or a crash.
            var failure: StoreError?
            for _ in 0..<200 where failure == nil {  // at most 200 calls; each fails or succeeds promptly
                do {
                    _ = try await backend.increment(on: loop).get()
                } catch let error as StoreError {
                    failure = error
                }
            }
            #expect(failure != nil)

            let again = try await blocking { try server.restarted() }
            defer { again.stop() }
            // Without persistence the server is back at 0; the backoff (at most 1 s) lets a connect through.
            var value: Int?
            let deadline = MonotonicClock.now() + 30_000_000_000
            while value == nil, MonotonicClock.now() < deadline {
                value = try? await backend.increment(on: loop).get()
                if value == nil { try await Task.sleep(nanoseconds: 50_000_000) }
            }
            #expect(value == 1)
        }
    }

    /// One event loop for the test, shut down after it.
    private func withLoop(_ body: (EventLoop) async throws -> Void) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        do {
            try await body(group.next())
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        try await group.shutdownGracefully()
    }

    private func blocking<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try work() }) }
        }
    }

    private func blocking(_ work: @escaping @Sendable () -> Void) async {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                work()
                continuation.resume()
            }
        }
    }
}
