import Foundation
import NIOCore
import NIOPosix

/// One keep-alive connection of a load run: it claims a request from the
/// shared schedule, sends it, waits for its answer, and repeats until the
/// schedule says the run is over. One request at a time, no pipelining.
///
/// Everything here runs on `eventLoop`; other threads reach it only through
/// `eventLoop.execute`, which is why it can be `@unchecked Sendable`.
final class LoadConnection: @unchecked Sendable {
    private enum State {
        case idle
        case connecting(RequestTicket)
        /// Open model: holding a claimed request until its intended time.
        case waiting(RequestTicket, Scheduled<Void>)
        case backingOff(Scheduled<Void>)
        case inFlight(RequestTicket, sentAt: UInt64)
        /// Held by a closed `LoadGate` until it opens.
        case parked
        case finished
    }

    let eventLoop: EventLoop
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
    private var channel: Channel?
    /// The worker /proc named as holding this channel's server side; looked up once per connection.
    private var channelOwner: Int32?
    private var channelLookedUp = false
    private var failedConnects = 0
    /// Armed while a request may be in flight. Scheduling and cancelling a
    /// timer per request cost about 6% of the generator's CPU, so one timer
    /// is kept instead: when it fires it times out the request in flight if
    /// that one is overdue, or re-arms for that request's own deadline.
    private var timeoutTimer: Scheduled<Void>?
    /// This connection's number in the load, Jepsen's process in an exported history.
    private let process: Int32

    init(eventLoop: EventLoop, plan: LoadPlan, schedule: RequestSchedule, shard: LoadShard, gate: LoadGate? = nil,
         process: Int32 = -1, onFinished: @escaping @Sendable () -> Void) {
        self.eventLoop = eventLoop
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
        eventLoop.execute { self.claimNext() }
    }

    /// Stop promptly: drop a request still waiting for its time or a retry;
    /// a request in flight finishes (bounded by the timeout).
    func abandon() {
        eventLoop.execute {
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
        eventLoop.execute {
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
            let task = eventLoop.scheduleTask(in: .nanoseconds(Int64(intended - now))) {
                self.send(ticket)
            }
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
        guard let channel, channel.isActive else {
            connect(for: ticket)
            return
        }
        let sentAt = MonotonicClock.now()
        state = .inFlight(ticket, sentAt: sentAt)
        shard.invoked(process: process, at: Self.start(of: ticket, sentAt: sentAt))
        if timeoutTimer == nil { armTimeout(in: timeoutNanos) }
        if let owners = plan.owners, !channelLookedUp, encodedRequest.readableBytes > 1 {
            // All but the last byte: the worker that accepts blocks reading it, so it holds the
            // connection while /proc is asked (an app that closes after each answer would not),
            // for at most a second or half the timeout.
            channelLookedUp = true
            channel.writeAndFlush(encodedRequest.getSlice(at: encodedRequest.readerIndex, length: encodedRequest.readableBytes - 1)!,
                                  promise: nil)
            owners.place(channel, bound: min(1_000_000_000, timeoutNanos / 2), stillWanted: {
                guard channel === self.channel, case .inFlight = self.state else { return false }
                return true
            }, done: { lookup in
                // Named or not, the request goes out whole.
                if case .pid(let pid) = lookup { self.channelOwner = pid }
                channel.writeAndFlush(self.encodedRequest.getSlice(at: self.encodedRequest.writerIndex - 1, length: 1)!, promise: nil)
            })
            return
        }
        // The whole request, encoded once; the pipeline has no outbound handler.
        channel.writeAndFlush(encodedRequest, promise: nil)
    }

    private func armTimeout(in nanoseconds: UInt64) {
        timeoutTimer = eventLoop.scheduleTask(in: .nanoseconds(Int64(nanoseconds))) {
            self.timeoutTimerFired()
        }
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
        state = .connecting(ticket)
        let attemptStart = MonotonicClock.now()
        let address: SocketAddress
        do {
            address = try LoopbackHost.address(host: plan.host, port: plan.port)
        } catch {
            // Unreachable through the flags and scenarios (they refuse such a host); never connect anyway.
            connectFailed(ticket, attemptStart: attemptStart)
            return
        }
        ClientBootstrap(group: eventLoop)
            .connectTimeout(.nanoseconds(Int64(plan.timeout * 1_000_000_000)))
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        LoadResponseDecoder(bodyless: self.bodylessAnswers) { event in self.handle(event, on: channel) }
                    )
                }
            }
            .connect(to: address)
            .whenComplete { result in
                self.eventLoop.assertInEventLoop()
                switch result {
                case .success(let channel):
                    self.failedConnects = 0
                    self.channel = channel
                    self.channelOwner = nil
                    self.channelLookedUp = false
                    self.send(ticket)
                case .failure:
                    self.connectFailed(ticket, attemptStart: attemptStart)
                }
            }
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
        let task = eventLoop.scheduleTask(in: .milliseconds(Int64(backoffMillis))) { self.claimNext() }
        state = .backingOff(task)
    }

    // MARK: Answers and failures

    private func handle(_ event: LoadResponseDecoder.Event, on source: Channel) {
        guard source === channel else { return }  // a connection we already gave up on
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
                dropChannel()
            }
            claimNext()
        case .closed:
            channel = nil
            channelOwner = nil
            channelLookedUp = false
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
        dropChannel()
        claimNext()
    }

    private func recordIndeterminate(_ ticket: RequestTicket, sentAt: UInt64) {
        var record = IncrementRecord(outcome: .indeterminate, start: Self.start(of: ticket, sentAt: sentAt), end: MonotonicClock.now())
        record.process = process
        shard.add(record, answered: false)
    }

    private func dropChannel() {
        let old = channel
        channel = nil
        channelOwner = nil
        channelLookedUp = false
        old?.close(promise: nil)
    }

    private func finish() {
        if case .finished = state { return }
        state = .finished
        gate?.finished()
        timeoutTimer?.cancel()
        timeoutTimer = nil
        dropChannel()
        onFinished()
    }
}
