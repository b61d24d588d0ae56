import Atomics
import CSupport
#if canImport(Glibc)
import Glibc
#endif

/// A POSIX shared memory segment holding the counter and a robust,
/// process-shared mutex. The supervisor creates it and unlinks its name at
/// once, so nothing is left in /dev/shm even after `kill -9`; workers get the
/// descriptor by inheritance and map it.
///
/// Next to the counter the segment says who holds the mutex and how often it
/// was recovered from a dead holder, so the supervisor, which never locks it,
/// can name the holder to kill and then see the recovery.
public final class SharedMemoryCounter: @unchecked Sendable {
    /// What `lock()` found.
    enum LockAcquisition: Equatable {
        case clean
        /// The previous holder died holding the mutex (EOWNERDEAD); its pid
        /// when it had recorded one.
        case recovered(deadHolder: Int32?)
    }

    /// The fd number workers find the segment on.
    public static let inheritedFD: Int32 = 3
    static let counterOffset = 0
    /// The pid holding the mutex, 0 when free: written by the holder right
    /// after it locks and cleared right before it unlocks, so a non-zero pid
    /// always holds the mutex (or died holding it).
    static let holderOffset = 8
    /// Recoveries and the last dead holder, packed in one 64-bit word
    /// (count << 32 | pid) so a reader never sees one without the other.
    static let recoveriesOffset = 16
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

    private var holder: UnsafeAtomic<Int32> {
        UnsafeAtomic<Int32>(at: (base + Self.holderOffset).assumingMemoryBound(to: Int32.AtomicRepresentation.self))
    }

    private var recoveryWord: UnsafeAtomic<UInt64> {
        UnsafeAtomic<UInt64>(at: (base + Self.recoveriesOffset).assumingMemoryBound(to: UInt64.AtomicRepresentation.self))
    }

    /// The pid of the process holding the mutex now; nil when it is free (or
    /// in the instant between a lock and the holder's write of its pid).
    public var lockHolder: Int32? {
        let pid = holder.load(ordering: .acquiring)
        return pid == 0 ? nil : pid
    }

    /// How often a locker found the previous holder dead (EOWNERDEAD), and that holder's pid.
    public var recoveries: LockRecoveries {
        let word = recoveryWord.load(ordering: .acquiring)
        let pid = Int32(bitPattern: UInt32(truncatingIfNeeded: word))
        return LockRecoveries(lock: .robustMutex, count: Int(word >> 32), lastDeadHolder: pid == 0 ? nil : pid)
    }

    /// Locks the robust mutex and records this process as its holder. When
    /// the previous holder died holding it, its pid is still in the holder
    /// field (it never got to clear it): that is read before it is overwritten.
    func lock() throws -> LockAcquisition {
        let rc = sl_robust_mutex_lock(base + Self.mutexOffset)
        if rc > 1 { throw StoreError("pthread_mutex_lock: \(String(cString: strerror(rc)))") }
        var acquisition = LockAcquisition.clean
        if rc == 1 {
            let dead = holder.load(ordering: .relaxed)
            // Only a holder writes the word, so a load and a store do not race.
            let count = (recoveryWord.load(ordering: .relaxed) >> 32) + 1
            recoveryWord.store(count << 32 | UInt64(UInt32(bitPattern: dead)), ordering: .releasing)
            acquisition = .recovered(deadHolder: dead == 0 ? nil : dead)
        }
        // Asked each time, not cached: a process forked after mapping (a test's child) records its own pid.
        holder.store(getpid(), ordering: .releasing)
        return acquisition
    }

    func unlock() {
        holder.store(0, ordering: .releasing)
        sl_robust_mutex_unlock(base + Self.mutexOffset)
    }
}

/// A session on the shared segment; all sessions of a worker share one mapping.
public final class SharedMemorySession: CounterSession {
    let segment: SharedMemoryCounter
    /// Called when the mutex had to be recovered from a dead holder, with
    /// that holder's pid when it had recorded one.
    let onRecovered: @Sendable (_ deadHolder: Int32?) -> Void

    public init(segment: SharedMemoryCounter, onRecovered: @escaping @Sendable (_ deadHolder: Int32?) -> Void = { _ in }) {
        self.segment = segment
        self.onRecovered = onRecovered
    }

    public func read() throws -> Int { segment.atomic.load(ordering: .acquiring) }

    public func increment(mode: Mode, window: RaceWindow) throws -> Int {
        let counter = segment.atomic
        switch mode {
        case .naive:
            let seen = counter.load(ordering: .relaxed)
            window.afterRead(seen)
            counter.store(seen + 1, ordering: .relaxed)
            window.afterWrite()
            return seen + 1
        case .locked:
            try lock()
            defer { segment.unlock() }
            let seen = counter.load(ordering: .relaxed)
            window.afterRead(seen)
            counter.store(seen + 1, ordering: .relaxed)
            window.afterWrite()
            return seen + 1
        case .atomic:
            return counter.loadThenWrappingIncrement(ordering: .relaxed) + 1
        case .serializable:
            throw StoreError.noSuchMode(.serializable, for: .shm)
        }
    }

    public func reset() throws {
        try lock()
        defer { segment.unlock() }
        segment.atomic.store(0, ordering: .sequentiallyConsistent)
    }

    public func close() {}

    private func lock() throws {
        if case .recovered(let deadHolder) = try segment.lock() { onRecovered(deadHolder) }
    }
}
