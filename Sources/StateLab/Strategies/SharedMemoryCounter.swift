import Atomics
import CSupport
#if canImport(Glibc)
import Glibc
#endif

/// A POSIX shared memory segment holding the counter and a robust,
/// process-shared mutex. The supervisor creates it and unlinks its name at
/// once, so nothing is left in /dev/shm even after `kill -9`; workers get the
/// descriptor by inheritance and map it.
public final class SharedMemoryCounter: @unchecked Sendable {
    /// The fd number workers find the segment on.
    public static let inheritedFD: Int32 = 3
    static let counterOffset = 0
    static let mutexOffset = 64
    static var size: Int { mutexOffset + Int(sl_robust_mutex_size()) }

    public let fd: Int32
    private let base: UnsafeMutableRawPointer
    private let ownsFD: Bool

    private init(fd: Int32, base: UnsafeMutableRawPointer, ownsFD: Bool) {
        self.fd = fd
        self.base = base
        self.ownsFD = ownsFD
    }

    /// Creates a fresh segment (name unlinked straight away), counter 0, mutex initialised.
    public static func create() throws -> SharedMemoryCounter {
        let name = "/statelab-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        let fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0o600)
        guard fd >= 0 else { throw StoreError("shm_open \(name): \(String(cString: strerror(errno)))") }
        shm_unlink(name)
        guard ftruncate(fd, off_t(size)) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw StoreError("ftruncate shared memory: \(reason)")
        }
        let counter = try map(fd: fd, ownsFD: true)
        counter.atomic.store(0, ordering: .sequentiallyConsistent)
        let rc = sl_robust_mutex_init(counter.base + mutexOffset)
        guard rc == 0 else { throw StoreError("pthread_mutex_init: \(String(cString: strerror(rc)))") }
        return counter
    }

    /// Maps the segment a worker inherited on `fd`.
    public static func attach(fd: Int32 = inheritedFD) throws -> SharedMemoryCounter {
        try map(fd: fd, ownsFD: false)
    }

    private static func map(fd: Int32, ownsFD: Bool) throws -> SharedMemoryCounter {
        guard let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), p != MAP_FAILED else {
            throw StoreError("mmap shared memory on fd \(fd): \(String(cString: strerror(errno)))")
        }
        return SharedMemoryCounter(fd: fd, base: p, ownsFD: ownsFD)
    }

    deinit {
        munmap(base, Self.size)
        if ownsFD { close(fd) }
    }

    var atomic: UnsafeAtomic<Int> {
        UnsafeAtomic<Int>(at: (base + Self.counterOffset).assumingMemoryBound(to: Int.AtomicRepresentation.self))
    }

    /// Locks the robust mutex; returns true when the previous holder died holding it.
    func lock() throws -> Bool {
        let rc = sl_robust_mutex_lock(base + Self.mutexOffset)
        if rc > 1 { throw StoreError("pthread_mutex_lock: \(String(cString: strerror(rc)))") }
        return rc == 1
    }

    func unlock() { sl_robust_mutex_unlock(base + Self.mutexOffset) }
}

/// A session on the shared segment; all sessions of a worker share one mapping.
public final class SharedMemorySession: CounterSession {
    let segment: SharedMemoryCounter
    /// Called when the mutex had to be recovered from a dead holder.
    let onRecovered: @Sendable () -> Void

    public init(segment: SharedMemoryCounter, onRecovered: @escaping @Sendable () -> Void = {}) {
        self.segment = segment
        self.onRecovered = onRecovered
    }

    public func read() throws -> Int { segment.atomic.load(ordering: .acquiring) }

    public func increment(mode: Mode, raceWindowMicros: Int) throws -> Int {
        let counter = segment.atomic
        switch mode {
        case .naive:
            let seen = counter.load(ordering: .relaxed)
            raceWindow(raceWindowMicros)
            counter.store(seen + 1, ordering: .relaxed)
            return seen + 1
        case .locked:
            if try segment.lock() { onRecovered() }
            defer { segment.unlock() }
            let seen = counter.load(ordering: .relaxed)
            raceWindow(raceWindowMicros)
            counter.store(seen + 1, ordering: .relaxed)
            return seen + 1
        case .atomic:
            return counter.loadThenWrappingIncrement(ordering: .relaxed) + 1
        case .serializable:
            throw StoreError.noSuchMode(.serializable, for: .shm)
        }
    }

    public func reset() throws {
        if try segment.lock() { onRecovered() }
        defer { segment.unlock() }
        segment.atomic.store(0, ordering: .sequentiallyConsistent)
    }

    public func close() {}
}
