import CSupport
import Foundation
import Synchronization
import Testing
@testable import StateLab
#if canImport(Glibc)
import Glibc
#endif

/// The shm store on a real segment. Two mappings of one segment stand in for
/// two worker processes (each maps the inherited fd at its own address);
/// real threads race on them. Serialized: the /dev/shm check looks at names
/// this process creates.
@Suite(.serialized)
struct SharedMemoryTests {
    /// Segment names this process has left in /dev/shm (create() names them
    /// /statelab-PID-N). Another test's create() may be between its shm_open
    /// and its shm_unlink, so a name counts only if it is there in every look
    /// for `seconds` (looks every 20 ms; returns as soon as none is left).
    /// A busy machine can stretch that gap, but not to seconds.
    static func ourSegmentNames(seconds: Double = 10) -> [String] {
        let prefix = "statelab-\(getpid())-"
        func names() -> Set<String> {
            Set(((try? FileManager.default.contentsOfDirectory(atPath: "/dev/shm")) ?? []).filter { $0.hasPrefix(prefix) })
        }
        let deadline = Date().addingTimeInterval(seconds)
        var staying = names()
        while !staying.isEmpty && Date() < deadline {
            usleep(20_000)
            staying.formIntersection(names())
        }
        return staying.sorted()
    }

    /// Increments from `threads` threads, alternating between two mappings of
    /// one fresh segment; returns the final count and every value an increment returned.
    static func race(_ mode: Mode, threads: Int, each: Int, raceWindowMicros: Int) throws -> (final: Int, returned: [Int]) {
        let created = try SharedMemoryCounter.create()
        let mappings = [created, try SharedMemoryCounter.attach(fd: created.fd)]
        let returned = try ConcurrentThreads.run(threads) { index in
            let session = SharedMemorySession(segment: mappings[index % mappings.count])
            return try (0..<each).map { _ in try session.increment(mode: mode, raceWindowMicros: raceWindowMicros) }
        }
        return (try SharedMemorySession(segment: created).read(), returned)
    }

    @Test("create() unlinks the name at once: nothing in /dev/shm, the fd has no links, the counter is 0")
    func createLeavesNothingInDevShm() throws {
        #expect(Self.ourSegmentNames().isEmpty)
        let counter = try SharedMemoryCounter.create()
        #expect(Self.ourSegmentNames().isEmpty, "a name left behind would outlive a kill -9")
        var info = stat()
        #expect(fstat(counter.fd, &info) == 0)
        #expect(info.st_nlink == 0, "the segment is reachable only through its fd")
        #expect(Int(info.st_size) >= SharedMemoryCounter.size)
        #expect(try SharedMemorySession(segment: counter).read() == 0)
    }

    @Test("atomic: 4 threads on two mappings count exactly, each value returned once")
    func atomicIsExact() throws {
        let (final, returned) = try Self.race(.atomic, threads: 4, each: 50_000, raceWindowMicros: 0)
        #expect(final == 200_000)
        #expect(returned.sorted() == Array(1...200_000))
    }

    @Test("locked: exact even with a race window inside the lock, and without one under heavy contention")
    func lockedIsExact() throws {
        let (final, returned) = try Self.race(.locked, threads: 4, each: 25, raceWindowMicros: 1_000)
        #expect(final == 100)
        #expect(returned.sorted() == Array(1...100), "each count handed out exactly once")

        let fast = try Self.race(.locked, threads: 4, each: 20_000, raceWindowMicros: 0)
        #expect(fast.final == 80_000)
        #expect(fast.returned.sorted() == Array(1...80_000))
    }

    @Test("naive: load then store with a race window loses updates, and two increments return the same count")
    func naiveLoses() throws {
        // 250 each (a quarter second per thread): on a busy machine a thread can start 25 ms
        // after the others, and 25 each once let all four run one after another (1 in 3 busy runs).
        let (final, returned) = try Self.race(.naive, threads: 4, each: 250, raceWindowMicros: 1_000)
        #expect(returned.count == 1_000)
        #expect(final < 1_000, "lost = \(1_000 - final)")
        // Not "at least 250": a thread's store of an older load can end below another thread's
        // own count (seen: 249). Some increments always land.
        #expect(final > 0)
        #expect(Set(returned).count < returned.count, "duplicate counts witness the lost updates")
    }

    @Test("reset through one mapping reads 0 through the other, and counting starts again at 1")
    func resetIsShared() throws {
        let created = try SharedMemoryCounter.create()
        let first = SharedMemorySession(segment: created)
        let second = SharedMemorySession(segment: try SharedMemoryCounter.attach(fd: created.fd))
        for _ in 0..<10 { _ = try first.increment(mode: .atomic, raceWindowMicros: 0) }
        #expect(try second.read() == 10)
        try second.reset()
        #expect(try first.read() == 0)
        #expect(try first.increment(mode: .locked, raceWindowMicros: 0) == 1)
        #expect(try second.increment(mode: .naive, raceWindowMicros: 0) == 2)
    }

    @Test("sl_robust_mutex: a holder that dies is recovered once (EOWNERDEAD + consistent), then the mutex works normally")
    func robustMutexRecoversFromDeadHolder() throws {
        let mutex = UnsafeMutableRawPointer.allocate(byteCount: sl_robust_mutex_size(), alignment: 64)
        defer { mutex.deallocate() }
        #expect(sl_robust_mutex_init(mutex) == 0)
        #expect(sl_robust_mutex_lock(mutex) == 0)
        #expect(sl_robust_mutex_unlock(mutex) == 0)

        try Self.lockAndDie(mutex) { sl_robust_mutex_lock($0!) == 0 }
        #expect(sl_robust_mutex_lock(mutex) == 1, "the dead holder is reported as recovered")
        #expect(sl_robust_mutex_unlock(mutex) == 0)
        // Without pthread_mutex_consistent this lock would fail with ENOTRECOVERABLE.
        #expect(sl_robust_mutex_lock(mutex) == 0)
        #expect(sl_robust_mutex_unlock(mutex) == 0)
    }

    @Test("a locked increment after the holder died recovers the lock, reports it once, and counts on")
    func sessionRecoversFromDeadHolder() throws {
        let segment = try SharedMemoryCounter.create()
        let recoveries = RecoveryCount()
        let session = SharedMemorySession(segment: segment) { recoveries.value.withLock { $0 += 1 } }
        #expect(try session.increment(mode: .locked, raceWindowMicros: 0) == 1)

        let retained = Unmanaged.passRetained(segment).toOpaque()
        try Self.lockAndDie(retained) { raw in
            let held = Unmanaged<SharedMemoryCounter>.fromOpaque(raw!).takeRetainedValue()
            return (try? held.lock()) == false
        }
        #expect(recoveries.value.withLock { $0 } == 0)
        #expect(try session.increment(mode: .locked, raceWindowMicros: 0) == 2)
        #expect(recoveries.value.withLock { $0 } == 1)
        #expect(try session.increment(mode: .locked, raceWindowMicros: 0) == 3)
        try session.reset()
        #expect(recoveries.value.withLock { $0 } == 1, "only the first lock after the death recovers")
        #expect(try session.read() == 0)
    }

    /// Runs `takeLock(argument)` on a new thread that then exits without
    /// unlocking (a robust mutex treats a dead thread like a dead process);
    /// returns once the thread is gone. `takeLock` says whether it locked.
    static func lockAndDie(_ argument: UnsafeMutableRawPointer,
                           _ takeLock: @convention(c) (UnsafeMutableRawPointer?) -> Bool) throws {
        final class Context {
            let argument: UnsafeMutableRawPointer
            let takeLock: @convention(c) (UnsafeMutableRawPointer?) -> Bool
            var locked = false
            let finished = DispatchSemaphore(value: 0)
            init(_ argument: UnsafeMutableRawPointer, _ takeLock: @convention(c) (UnsafeMutableRawPointer?) -> Bool) {
                self.argument = argument
                self.takeLock = takeLock
            }
        }
        let context = Context(argument, takeLock)
        let raw = Unmanaged.passRetained(context).toOpaque()
        var thread = pthread_t()
        let created = pthread_create(&thread, nil, { raw in
            let context = Unmanaged<Context>.fromOpaque(raw!).takeUnretainedValue()
            context.locked = context.takeLock(context.argument)
            context.finished.signal()
            return nil
        }, raw)
        guard created == 0 else {
            Unmanaged<Context>.fromOpaque(raw).release()
            throw StoreError("pthread_create: \(String(cString: strerror(created)))")
        }
        // Bounded: the body is done once it signals; the join then only waits for the thread's exit.
        guard context.finished.wait(timeout: .now() + 60) == .success else {
            throw StoreError("the locking thread did not take the lock within 60 s")
        }
        pthread_join(thread, nil)
        let locked = Unmanaged<Context>.fromOpaque(raw).takeRetainedValue().locked
        guard locked else { throw StoreError("the thread could not take the lock") }
    }
}

/// How many times a session reported a recovered lock.
private final class RecoveryCount: Sendable {
    let value = Mutex(0)
}
