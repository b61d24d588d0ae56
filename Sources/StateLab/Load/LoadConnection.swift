import CSupport
import Foundation
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// One keep-alive connection of a load run: it claims a request from the
/// shared schedule, sends it, waits for its answer, and repeats until the
/// schedule says the run is over. One request at a time, no pipelining.
///
/// Its socket is its own: a non-blocking TCP socket watched by its
/// `LoadLoop`, written with one write(2) per request (the request encoded
/// once) and read straight into its `ResponseStream`.
///
/// Everything here runs on `loop`; other threads reach it only through
/// `loop.execute`, which is why it can be `@unchecked Sendable`.
final class LoadConnection: @unchecked Sendable, LoadLoopSocket {
    private enum State {
        case idle
        case connecting(RequestTicket, attemptStart: UInt64)
        /// Open model: holding a claimed request until its intended time.
        case waiting(RequestTicket, LoadTimer)
        case backingOff(LoadTimer)
        case inFlight(RequestTicket, sentAt: UInt64)
        /// Held by a closed `LoadGate` until it opens.
        case parked
        case finished
    }

    let loop: LoadLoop
    private let plan: LoadPlan
    private let schedule: RequestSchedule
    private let shard: LoadShard
    private let onFinished: @Sendable () -> Void
    private let gate: LoadGate?
    private let encodedRequest: ByteBuffer
    private let bodylessAnswers: Bool
    /// The answer's field names, encoded once per connection.
    private let answerKeys: AnswerKeys
    private let timeoutNanos: UInt64
    /// The count's field when it is not the flat key `answerKeys` scans for (a dotted path), or none at all.
    private let countPath: FieldPath?
    private let countIsFlat: Bool
    private var state = State.idle
    /// The socket, -1 without one; `token` is its registration with the loop.
    private var fd: Int32 = -1
    private var token = -1
    /// Connected (not still connecting), so a request may be written.
    private var established = false
    private var stream: ResponseStream?
    /// Which socket an event of a stream is about: one more with every new socket.
    private var generation = 0
    /// Bytes a write could not take at once, written when the socket is writable again.
    private var unsent: ByteBuffer?
    private var connectTimer: LoadTimer?
    /// The address connected to (for /proc's lookup of the server side).
    private var serverAddress: SocketAddress?
    /// The worker /proc named as holding this socket's server side; looked up once per connection.
    private var channelOwner: Int32?
    private var channelLookedUp = false
    private var failedConnects = 0
    /// Armed while a request may be in flight. Scheduling and cancelling a
    /// timer per request cost about 6% of the generator's CPU, so one timer
    /// is kept instead: when it fires it times out the request in flight if
    /// that one is overdue, or re-arms for that request's own deadline.
    private var timeoutTimer: LoadTimer?
    /// This connection's number in the load, Jepsen's process in an exported history.
    private let process: Int32

    init(loop: LoadLoop, plan: LoadPlan, schedule: RequestSchedule, shard: LoadShard, gate: LoadGate? = nil,
         process: Int32 = -1, onFinished: @escaping @Sendable () -> Void) {
        self.loop = loop
        self.process = process
        self.gate = gate
        self.plan = plan
        self.schedule = schedule
        self.shard = shard
        self.onFinished = onFinished
        encodedRequest = ByteBuffer(bytes: plan.request.encoded(host: plan.host, port: plan.port))
        bodylessAnswers = plan.method.uppercased() == "HEAD"
        answerKeys = plan.answerFields == .standard ? .standard : AnswerKeys(plan.answerFields)
        countPath = plan.countField
        countIsFlat = plan.countField.map { $0.isFlat && $0.description == plan.answerFields.countField } ?? false
        timeoutNanos = UInt64(plan.timeout * 1_000_000_000)
    }

    func start() {
        loop.execute { self.claimNext() }
    }

    /// Stop promptly: drop a request still waiting for its time or a retry;
    /// a request in flight finishes (bounded by the timeout).
    func abandon() {
        loop.execute {
            switch self.state {
            case .waiting(_, let task), .backingOff(let task):
                task.cancel()
                self.finish()
            case .idle:
                self.finish()
            case .parked:
                self.gate?.unparked(self)
                self.finish()
            case .connecting, .inFlight, .finished:
                break
            }
        }
    }

    // MARK: The loop

    /// The gate opened: go on where `claimNext` stopped.
    func unpark() {
        loop.execute {
            guard case .parked = self.state else { return }
            self.claimNext()
        }
    }

    private func claimNext() {
        if case .finished = state { return }
        if let gate, !schedule.isStopped, gate.parkIfClosed(self) {
            state = .parked
            return
        }
        state = .idle
        let now = MonotonicClock.now()
        guard let ticket = schedule.claim(now: now) else {
            finish()
            return
        }
        // Timers are not precise below a few tens of microseconds; sending a
        // hair early costs nothing, as latency is measured from the intended time.
        if let intended = ticket.intendedTime, intended > now + 20_000 {
            let task = loop.schedule(in: intended - now) { self.send(ticket) }
            state = .waiting(ticket, task)
        } else {
            send(ticket)
        }
    }

    private func send(_ ticket: RequestTicket) {
        guard !schedule.isStopped else {
            finish()  // never sent, so never recorded
            return
        }
        guard established else {
            connect(for: ticket)
            return
        }
        let sentAt = MonotonicClock.now()
        state = .inFlight(ticket, sentAt: sentAt)
        shard.invoked(process: process, at: Self.start(of: ticket, sentAt: sentAt))
        if timeoutTimer == nil { armTimeout(in: timeoutNanos) }
        if let owners = plan.owners, let serverAddress, !channelLookedUp, encodedRequest.readableBytes > 1 {
            // All but the last byte: the worker that accepts blocks reading it, so it holds the
            // connection while /proc is asked (an app that closes after each answer would not),
            // for at most a second or half the timeout.
            channelLookedUp = true
            write(encodedRequest.getSlice(at: encodedRequest.readerIndex, length: encodedRequest.readableBytes - 1)!)
            let generation = self.generation
            owners.place(server: serverAddress, client: Self.localAddress(of: fd), on: loop, bound: min(1_000_000_000, timeoutNanos / 2),
                         stillWanted: {
                guard generation == self.generation, self.established, case .inFlight = self.state else { return false }
                return true
            }, done: { lookup in
                // Named or not, the request goes out whole.
                if case .pid(let pid) = lookup { self.channelOwner = pid }
                self.write(self.encodedRequest.getSlice(at: self.encodedRequest.writerIndex - 1, length: 1)!)
            })
            return
        }
        // The whole request, encoded once.
        write(encodedRequest)
    }

    /// Writes `bytes` after anything still unsent; what the socket cannot take now waits for it
    /// to turn writable. A failed write ends the socket (soon, not from inside this call).
    private func write(_ bytes: ByteBuffer) {
        if unsent != nil {
            var more = bytes
            unsent!.writeBuffer(&more)
            return
        }
        let written = bytes.withUnsafeReadableBytes { sl_write(fd, $0.baseAddress, UInt($0.count)) }
        if written == bytes.readableBytes { return }
        if written >= 0 || written == -Int(EAGAIN) {
            unsent = bytes.getSlice(at: bytes.readerIndex + max(written, 0), length: bytes.readableBytes - max(written, 0))
            loop.modify(fd, token: token, events: UInt32(SL_READABLE | SL_WRITABLE))
            return
        }
        let generation = self.generation
        loop.schedule(in: 0) { if generation == self.generation, self.fd >= 0 { self.socketEnded(cleanly: false) } }
    }

    private func writeUnsent() {
        guard let pending = unsent else { return }
        unsent = nil
        write(pending)
        if unsent == nil, fd >= 0 { loop.modify(fd, token: token, events: UInt32(SL_READABLE)) }
    }

    /// This process's side of the socket, for /proc's lookup.
    private static func localAddress(of fd: Int32) -> SocketAddress? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let named = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { return nil }
        switch Int32(storage.ss_family) {
        case AF_INET:
            return withUnsafeBytes(of: &storage) { SocketAddress($0.load(as: sockaddr_in.self)) }
        case AF_INET6:
            return withUnsafeBytes(of: &storage) { SocketAddress($0.load(as: sockaddr_in6.self)) }
        default:
            return nil
        }
    }

    private func armTimeout(in nanoseconds: UInt64) {
        timeoutTimer = loop.schedule(in: nanoseconds) { self.timeoutTimerFired() }
    }

    private func timeoutTimerFired() {
        timeoutTimer = nil
        guard case .inFlight(_, let sentAt) = state else { return }
        switch Self.timeoutCheck(sentAt: sentAt, timeoutNanos: timeoutNanos, now: MonotonicClock.now()) {
        case .timeOut: timedOut()
        case .rearm(let nanoseconds): armTimeout(in: nanoseconds)
        }
    }

    enum TimeoutCheck: Equatable {
        case timeOut
        case rearm(inNanoseconds: UInt64)
    }

    /// What the shared timer does when it fires at `now` while a request sent
    /// at `sentAt` is in flight: time it out once its own deadline has passed,
    /// or wait exactly until that deadline (never a whole timeout more, as
    /// the timer may have been armed by an earlier request). A function of
    /// its arguments only, so tests can drive it with chosen times.
    static func timeoutCheck(sentAt: UInt64, timeoutNanos: UInt64, now: UInt64) -> TimeoutCheck {
        let deadline = sentAt + timeoutNanos
        return now >= deadline ? .timeOut : .rearm(inNanoseconds: deadline - now)
    }

    private func connect(for ticket: RequestTicket) {
        let attemptStart = MonotonicClock.now()
        state = .connecting(ticket, attemptStart: attemptStart)
        let address: SocketAddress
        do {
            address = try LoopbackHost.address(host: plan.host, port: plan.port)
        } catch {
            // Unreachable through the flags and scenarios (they refuse such a host); never connect anyway.
            connectFailed(ticket, attemptStart: attemptStart)
            return
        }
        var pending: Int32 = 0
        let socket = address.withSockAddr { sl_tcp_connect($0, UInt32($1), &pending) }
        guard socket >= 0 else {
            connectFailed(ticket, attemptStart: attemptStart)
            return
        }
        do {
            token = try loop.add(socket, events: UInt32(pending != 0 ? SL_WRITABLE : SL_READABLE), for: self)
        } catch {
            close(socket)
            connectFailed(ticket, attemptStart: attemptStart)
            return
        }
        fd = socket
        generation += 1
        serverAddress = address
        channelOwner = nil
        channelLookedUp = false
        let generation = self.generation
        stream = ResponseStream(bodyless: bodylessAnswers) { event in self.handle(event, generation: generation) }
        if pending == 0 {
            connected(ticket)
        } else {
            connectTimer = loop.schedule(in: timeoutNanos) {
                guard generation == self.generation, !self.established, self.fd >= 0 else { return }
                self.closeSocket()
                self.connectFailed(ticket, attemptStart: attemptStart)
            }
        }
    }

    private func connected(_ ticket: RequestTicket) {
        established = true
        failedConnects = 0
        send(ticket)
    }

    /// The loop says the socket is ready.
    func socketReady(_ events: UInt32) {
        guard fd >= 0 else { return }
        if !established {
            // A connect under way: writable once it is done, with SO_ERROR saying how.
            guard case .connecting(let ticket, let attemptStart) = state else { return }
            connectTimer?.cancel()
            connectTimer = nil
            guard sl_socket_error(fd) == 0, events & UInt32(SL_ERROR | SL_HANGUP) == 0 else {
                closeSocket()
                connectFailed(ticket, attemptStart: attemptStart)
                return
            }
            loop.modify(fd, token: token, events: UInt32(SL_READABLE))
            connected(ticket)
            return
        }
        if unsent != nil, events & UInt32(SL_WRITABLE | SL_ERROR | SL_HANGUP) != 0 { writeUnsent() }
        guard fd >= 0, events & UInt32(SL_READABLE | SL_ERROR | SL_HANGUP) != 0, let stream else { return }
        let outcome: ResponseStream.ReadOutcome
        do {
            outcome = try stream.read(from: fd)
        } catch {
            // A malformed answer: the connection is no longer usable.
            socketEnded()
            return
        }
        switch outcome {
        case .bytes, .wouldBlock: break
        case .endOfStream: socketEnded()
        case .error: socketEnded(cleanly: false)
        }
    }

    /// The socket is over (the server closed it, it broke, or its answer was malformed): it is
    /// closed, then its stream says whether an answer ended with it and whether one was cut off.
    /// `cleanly`: the server closed its side; after a reset a body that ends with the close
    /// may be cut short, so it is no answer.
    private func socketEnded(cleanly: Bool = true) {
        let ended = stream
        closeSocket()
        ended?.ended(cleanly: cleanly)
    }

    private func connectFailed(_ ticket: RequestTicket, attemptStart: UInt64) {
        // Nothing was sent, so this increment certainly did not apply.
        var record = IncrementRecord(outcome: .fail, start: Self.start(of: ticket, sentAt: attemptStart), end: MonotonicClock.now())
        record.process = process
        shard.add(record, answered: false)
        failedConnects += 1
        guard failedConnects < plan.maxConnectAttempts, !schedule.isStopped else {
            finish()
            return
        }
        let backoffMillis = min(10 << (failedConnects - 1), 500)
        let task = loop.schedule(in: UInt64(backoffMillis) * 1_000_000) { self.claimNext() }
        state = .backingOff(task)
    }

    // MARK: Answers and failures

    private func handle(_ event: ResponseStream.Event, generation: Int) {
        guard generation == self.generation else { return }  // a connection we already gave up on
        switch event {
        case .response(let response):
            guard case .inFlight(let ticket, let sentAt) = state else { return }
            let end = MonotonicClock.now()
            let answer = response.body.withUnsafeReadableBytes { CounterAnswer.parse(buffer: $0, keys: answerKeys) }
            let outcome = answer.outcome(status: response.status)
            var count: Int?
            if outcome == .ok, let countPath {
                count = countIsFlat ? answer.count : countPath.integer(in: response.body.readableBytesView)
                if plan.step < 0 { count = count.map { -$0 } }
            }
            let named = response.workerPid ?? answer.pid
            if let owner = channelOwner, let named, named != owner { shard.pidDisagreed(named: named, found: owner) }
            var record = IncrementRecord(
                outcome: outcome,
                count: count,
                pid: channelOwner ?? named,
                start: Self.start(of: ticket, sentAt: sentAt),
                end: end,
                refused: outcome == .fail && plan.refused.contains(response.status)
            )
            record.trace = response.trace
            record.process = process
            if let remaining = response.rateRemaining {
                record.remaining = remaining
                record.windowEnd = response.rateReset.map { Self.windowEnd(reset: $0, now: end) }
            }
            shard.add(record, answered: true, status: response.status)
            if plan.stopWhenMisrouted, shard.misrouted != nil {
                // Every answer so far says the path is not there: stop at once, the run says which.
                schedule.stopIssuing()
            }
            if !response.keepAlive {
                closeSocket()
            }
            claimNext()
        case .closed:
            closeSocket()
            guard case .inFlight(let ticket, let sentAt) = state else { return }
            // The request was sent; whether it applied is unknown.
            recordIndeterminate(ticket, sentAt: sentAt)
            claimNext()
        }
    }

    /// When an operation began, for its latency and for the check: the open model's intended
    /// time (latency counts the wait for a late send), unless it went out a hair early (timers
    /// fire up to 20 µs before it), when the send is: it may apply from then on, and the check
    /// must never take it for later than it was.
    static func start(of ticket: RequestTicket, sentAt: UInt64) -> UInt64 {
        min(ticket.intendedTime ?? sentAt, sentAt)
    }

    /// The monotonic time a window ends, from a Reset header: epoch seconds (as flask-limiter and
    /// slowapi send it) when it is that large, else seconds from now (RateLimit-Reset). Rounded down a
    /// second, as the header may be: a window is never taken to last longer than it does.
    static func windowEnd(reset: Double, now: UInt64) -> UInt64 {
        let seconds = reset > 1e9 ? reset - Date().timeIntervalSince1970 : reset
        let nanos = (seconds - 1) * 1e9
        return nanos <= 0 ? now : now &+ UInt64(min(nanos, 1e15))
    }

    private func timedOut() {
        guard case .inFlight(let ticket, let sentAt) = state else { return }
        recordIndeterminate(ticket, sentAt: sentAt)
        // A late answer would be taken for the next request's: start afresh.
        closeSocket()
        claimNext()
    }

    private func recordIndeterminate(_ ticket: RequestTicket, sentAt: UInt64) {
        var record = IncrementRecord(outcome: .indeterminate, start: Self.start(of: ticket, sentAt: sentAt), end: MonotonicClock.now())
        record.process = process
        shard.add(record, answered: false)
    }

    /// Closes the socket, if there is one; its stream reports nothing more.
    private func closeSocket() {
        guard fd >= 0 else { return }
        loop.remove(fd, token: token)
        close(fd)
        fd = -1
        token = -1
        established = false
        stream = nil
        unsent = nil
        connectTimer?.cancel()
        connectTimer = nil
        channelOwner = nil
        channelLookedUp = false
    }

    private func finish() {
        if case .finished = state { return }
        state = .finished
        gate?.finished()
        timeoutTimer?.cancel()
        timeoutTimer = nil
        closeSocket()
        onFinished()
    }
}
