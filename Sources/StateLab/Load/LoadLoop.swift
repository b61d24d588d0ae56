import CSupport
import Foundation
import NIOConcurrencyHelpers

/// Something a `LoadLoop` tells when its socket is ready.
protocol LoadLoopSocket: AnyObject {
    /// `events`: SL_READABLE, SL_WRITABLE, SL_ERROR, SL_HANGUP bits.
    func socketReady(_ events: UInt32)
}

/// A one-shot timer of a `LoadLoop`; cancel it on the loop's thread.
final class LoadTimer {
    fileprivate let work: () -> Void
    fileprivate(set) var isCancelled = false
    fileprivate init(_ work: @escaping () -> Void) { self.work = work }
    func cancel() { isCancelled = true }
}

/// One thread of a load run, with nothing between the sockets and the
/// connections: epoll over the connections' non-blocking sockets, one
/// CLOCK_MONOTONIC timerfd armed for the earliest of its timers, and an
/// eventfd that wakes it for work handed in from other threads.
///
/// It replaced SwiftNIO's event loop and channels for `statelab load`: a load
/// generator that sends one small request at a time per connection gains
/// nothing from a channel pipeline, and paid for it in every request (about
/// 4,800 instructions of NIO's own, plus the reference counting it brings,
/// against wrk's 4,200 in all).
///
/// Everything but `execute`, `submit` and `shutdown` runs on the loop's own
/// thread, which is why it can be `@unchecked Sendable`.
final class LoadLoop: @unchecked Sendable {
    private let epfd: Int32
    private let wakeFD: Int32
    private let timerFD: Int32
    /// Handed in from other threads; drained by the loop.
    private let inboxLock = NIOLock()
    private var inbox: [() -> Void] = []
    private var inboxWoken = false
    /// Loop thread only from here on.
    private var timers = TimerHeap()
    private var armedDeadline: UInt64 = 0
    private var sockets: [LoadLoopSocket?] = []
    private var freeTokens: [Int] = []
    /// Tokens removed during the current batch of events: given out again only
    /// after it, so a later event of the batch never reaches a newer socket.
    private var releasedTokens: [Int] = []
    private var running = true
    private let finished = DispatchSemaphore(value: 0)
    private var loopThread = pthread_t()

    /// Starts the loop's thread; fails only when the kernel refuses an epoll, eventfd or timerfd.
    init(name: String) throws {
        var wake: Int32 = -1
        var timer: Int32 = -1
        let epfd = sl_loop_create(&wake, &timer)
        guard epfd >= 0 else { throw LoadLoopError(call: "epoll_create1", errno: -epfd) }
        self.epfd = epfd
        wakeFD = wake
        timerFD = timer
        let started = DispatchSemaphore(value: 0)
        let thread = Thread { [self] in
            loopThread = pthread_self()
            started.signal()
            run()
            finished.signal()
        }
        thread.name = name
        thread.start()
        started.wait()
    }

    deinit {
        close(timerFD)
        close(wakeFD)
        close(epfd)
    }

    var inLoop: Bool { pthread_equal(pthread_self(), loopThread) != 0 }

    // MARK: Work from anywhere

    /// Runs `work` on the loop's thread, after what it is doing now.
    func execute(_ work: @escaping @Sendable () -> Void) {
        let wake = inboxLock.withLock {
            inbox.append(work)
            defer { inboxWoken = true }
            return !inboxWoken
        }
        if wake { sl_loop_wake(wakeFD) }
    }

    /// Runs `body` on the loop's thread and returns its value. The loop must still be running.
    func submit<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            execute { continuation.resume(returning: body()) }
        }
    }

    /// Ends the loop once the work handed in before this has run, and waits for its thread.
    /// Every socket must have been removed by then.
    func shutdown() {
        execute { self.running = false }
        finished.wait()
    }

    // MARK: Loop thread only

    /// A timer that runs `work` on the loop `nanoseconds` from now (at once when 0).
    @discardableResult
    func schedule(in nanoseconds: UInt64, _ work: @escaping () -> Void) -> LoadTimer {
        let timer = LoadTimer(work)
        let deadline = MonotonicClock.now() &+ max(nanoseconds, 1)
        timers.push(deadline: deadline, timer)
        if armedDeadline == 0 || deadline < armedDeadline { arm(deadline) }
        return timer
    }

    /// Watches `fd` for `events`; returns the token to change or remove it with.
    func add(_ fd: Int32, events: UInt32, for socket: LoadLoopSocket) throws -> Int {
        let token: Int
        if let free = freeTokens.popLast() {
            token = free
            sockets[token] = socket
        } else {
            token = sockets.count
            sockets.append(socket)
        }
        let result = sl_loop_add(epfd, fd, events, UInt64(token + 2))
        guard result == 0 else {
            sockets[token] = nil
            freeTokens.append(token)
            throw LoadLoopError(call: "epoll_ctl", errno: -result)
        }
        return token
    }

    func modify(_ fd: Int32, token: Int, events: UInt32) {
        _ = sl_loop_modify(epfd, fd, events, UInt64(token + 2))
    }

    /// Stops watching `fd` (before it is closed); its token may be given out again.
    func remove(_ fd: Int32, token: Int) {
        _ = sl_loop_remove(epfd, fd)
        sockets[token] = nil
        releasedTokens.append(token)
    }

    private func arm(_ deadline: UInt64) {
        armedDeadline = deadline
        _ = sl_loop_arm(timerFD, deadline)
    }

    private func run() {
        let capacity = 64
        let tokens = UnsafeMutablePointer<UInt64>.allocate(capacity: capacity)
        let events = UnsafeMutablePointer<UInt32>.allocate(capacity: capacity)
        defer {
            tokens.deallocate()
            events.deallocate()
        }
        while running {
            let count = Int(sl_loop_wait(epfd, tokens, events, Int32(capacity)))
            // Only a descriptor this loop does not own any more fails here (EBADF, EINVAL):
            // a bug, and going on would spin at full CPU.
            precondition(count >= 0, "epoll_wait failed: \(String(cString: strerror(Int32(-count))))")
            var index = 0
            while index < count {
                let token = Int(tokens[index])
                switch token {
                case 0:
                    sl_loop_drain(wakeFD)
                case 1:
                    sl_loop_drain(timerFD)
                    armedDeadline = 0
                default:
                    // nil: removed by an earlier event of this batch.
                    sockets[token - 2]?.socketReady(events[index])
                }
                index += 1
            }
            runTimers()
            runInbox()
            if !releasedTokens.isEmpty {
                freeTokens += releasedTokens
                releasedTokens.removeAll(keepingCapacity: true)
            }
        }
        // What is left holds connections, and they hold this loop: a /proc lookup's retry
        // still pending at the end would keep it (and its three descriptors) alive for good.
        timers = TimerHeap()
        sockets = []
        inboxLock.withLock { inbox = [] }
    }

    private func runTimers() {
        let now = MonotonicClock.now()
        while let top = timers.peek(), top.deadline <= now {
            timers.pop()
            if !top.timer.isCancelled { top.timer.work() }
        }
        // Drop cancelled timers at the top so the timerfd is not armed for them.
        while let top = timers.peek(), top.timer.isCancelled { timers.pop() }
        if let top = timers.peek() {
            if top.deadline != armedDeadline { arm(top.deadline) }
        } else if armedDeadline != 0 {
            arm(0)
        }
    }

    private func runInbox() {
        let work: [() -> Void] = inboxLock.withLock {
            guard !inbox.isEmpty else { return [] }
            let taken = inbox
            inbox.removeAll(keepingCapacity: true)
            inboxWoken = false
            return taken
        }
        for item in work { item() }
    }
}

struct LoadLoopError: Error, CustomStringConvertible {
    var call: String
    var errno: Int32
    var description: String { "\(call) failed: \(String(cString: strerror(errno)))" }
}

/// A binary min-heap of timers by deadline, first-in first-out among equal deadlines.
private struct TimerHeap {
    private struct Entry {
        var deadline: UInt64
        var sequence: UInt64
        var timer: LoadTimer
        func before(_ other: Entry) -> Bool {
            deadline != other.deadline ? deadline < other.deadline : sequence < other.sequence
        }
    }

    private var entries: [Entry] = []
    private var nextSequence: UInt64 = 0

    mutating func push(deadline: UInt64, _ timer: LoadTimer) {
        entries.append(Entry(deadline: deadline, sequence: nextSequence, timer: timer))
        nextSequence += 1
        var child = entries.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard entries[child].before(entries[parent]) else { break }
            entries.swapAt(child, parent)
            child = parent
        }
    }

    func peek() -> (deadline: UInt64, timer: LoadTimer)? {
        entries.first.map { ($0.deadline, $0.timer) }
    }

    mutating func pop() {
        guard !entries.isEmpty else { return }
        let last = entries.removeLast()
        guard !entries.isEmpty else { return }
        entries[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1
            guard left < entries.count else { break }
            var smallest = left
            if left + 1 < entries.count, entries[left + 1].before(entries[left]) { smallest = left + 1 }
            guard entries[smallest].before(entries[parent]) else { break }
            entries.swapAt(smallest, parent)
            parent = smallest
        }
    }
}
