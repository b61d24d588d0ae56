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
        let session = SharedMemorySession(segment: segment) { _ in recoveries.value.withLock { $0 += 1 } }
        #expect(try session.increment(mode: .locked, raceWindowMicros: 0) == 1)

        let retained = Unmanaged.passRetained(segment).toOpaque()
        try Self.lockAndDie(retained) { raw in
            let held = Unmanaged<SharedMemoryCounter>.fromOpaque(raw!).takeRetainedValue()
            return (try? held.lock()) == .clean
        }
        #expect(recoveries.value.withLock { $0 } == 0)
        #expect(try session.increment(mode: .locked, raceWindowMicros: 0) == 2)
        #expect(recoveries.value.withLock { $0 } == 1)
        #expect(try session.increment(mode: .locked, raceWindowMicros: 0) == 3)
        try session.reset()
        #expect(recoveries.value.withLock { $0 } == 1, "only the first lock after the death recovers")
        #expect(try session.read() == 0)
    }

    @Test("the segment names the holder: its pid while it holds the mutex, in every mapping, and 0 once it unlocks")
    func holderIsRecordedWhileLocked() throws {
        let segment = try SharedMemoryCounter.create()
        let other = try SharedMemoryCounter.attach(fd: segment.fd)
        #expect(segment.lockHolder == nil)
        #expect(try segment.lock() == .clean)
        #expect(segment.lockHolder == getpid())
        #expect(other.lockHolder == getpid(), "another mapping (another worker) sees the holder")
        segment.unlock()
        #expect(other.lockHolder == nil)

        // A locked increment holds it for its race window: seen from another thread, then cleared.
        let done = DispatchSemaphore(value: 0)
        let results = ResultBox()
        Thread.detachNewThread {
            let session = SharedMemorySession(segment: segment)
            results.set(Result { try session.increment(mode: .locked, raceWindowMicros: 300_000) })
            done.signal()
        }
        let deadline = Date().addingTimeInterval(30)
        var seen: Int32?
        while seen == nil && Date() < deadline {
            seen = other.lockHolder
            if seen == nil { usleep(1_000) }
        }
        #expect(seen == getpid(), "the holder was never seen during a 300 ms race window")
        #expect(done.wait(timeout: .now() + 60) == .success)
        #expect(try results.get() == 1)
        #expect(other.lockHolder == nil, "cleared before the unlock")
        try SharedMemorySession(segment: other).reset()
        #expect(other.lockHolder == nil, "a reset locks and leaves it clear as well")
        #expect(segment.recoveries == LockRecoveries(lock: .robustMutex, count: 0, lastDeadHolder: nil))
    }

    @Test("a child process that dies holding the mutex: the next lock recovers it, counts 1 and names the child's pid")
    func deadChildProcessIsNamed() throws {
        let segment = try SharedMemoryCounter.create()
        let other = try SharedMemoryCounter.attach(fd: segment.fd)
        let deadHolders = DeadHolders()
        let session = SharedMemorySession(segment: other) { pid in deadHolders.value.withLock { $0.append(pid) } }
        #expect(try session.increment(mode: .locked, raceWindowMicros: 0) == 1)

        let child = try Self.lockInChildAndExit(segment)
        #expect(segment.lockHolder == child, "a dead holder's pid stays until the next locker recovers the mutex")
        #expect(segment.recoveries.count == 0)
        #expect(try session.increment(mode: .locked, raceWindowMicros: 0) == 2)
        #expect(deadHolders.value.withLock { $0 } == [child], "onRecovered names the dead pid")
        #expect(segment.recoveries == LockRecoveries(lock: .robustMutex, count: 1, lastDeadHolder: child))
        #expect(segment.recoveries.description
            == "the robust mutex was recovered from dead holder pid \(child) (EOWNERDEAD), 1 time")
        #expect(segment.lockHolder == nil)

        // A second death through reset's lock: counted again, the newer pid replaces the older.
        let second = try Self.lockInChildAndExit(segment)
        try session.reset()
        #expect(deadHolders.value.withLock { $0 } == [child, second])
        #expect(other.recoveries == LockRecoveries(lock: .robustMutex, count: 2, lastDeadHolder: second))
        #expect(try session.increment(mode: .locked, raceWindowMicros: 0) == 1)
        #expect(other.recoveries.count == 2, "only the first lock after a death recovers")
    }

    /// Forks a child that takes the segment's lock as a worker does (recording
    /// its pid) and exits without unlocking; returns the child's pid once it
    /// is reaped. The child of a multithreaded test process may only do what
    /// is safe after fork: the lock is a futex call and two atomic stores, and
    /// this process has run the same code before, so nothing needs the Swift
    /// runtime's locks.
    static func lockInChildAndExit(_ segment: SharedMemoryCounter) throws -> pid_t {
        let pid = fork()
        if pid == 0 {
            do {
                if case .clean = try segment.lock() { _exit(0) }
            } catch {}
            _exit(1)
        }
        guard pid > 0 else { throw StoreError("fork: \(String(cString: strerror(errno)))") }
        // Bounded: a child stuck on the lock is killed (by its pid) after 60 s.
        let deadline = Date().addingTimeInterval(60)
        var status: Int32 = 0
        while waitpid(pid, &status, WNOHANG) == 0 {
            if Date() > deadline {
                kill(pid, SIGKILL)
                waitpid(pid, &status, 0)
                throw StoreError("the child did not take the lock within 60 s")
            }
            usleep(1_000)
        }
        guard status == 0 else { throw StoreError("the child could not take the lock (wait status \(status))") }
        return pid
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

/// The dead holders' pids a session reported, in order.
private final class DeadHolders: Sendable {
    let value = Mutex<[Int32?]>([])
}

/// An increment's outcome, handed from its thread to the test.
private final class ResultBox: Sendable {
    private let value = Mutex<Result<Int, any Error>?>(nil)
    func set(_ result: Result<Int, any Error>) { value.withLock { $0 = result } }
    func get() throws -> Int? { try value.withLock { $0 }?.get() }
}
