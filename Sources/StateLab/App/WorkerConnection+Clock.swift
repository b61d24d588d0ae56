import NIOCore

/// A connection's one timer: the head timeout, the body deadline, the idle
/// timeout and a drain's end, whichever comes first, re-armed as they pass.
extension WorkerConnection {

    func startHeadClock(at start: NIODeadline, context: ChannelHandlerContext) {
        headStarted = start
        let deadline = start + limits.requestHeadTimeout
        if deadline < clockDeadline { arm(at: deadline, context: context) }
    }

    func startBodyClock(context: ChannelHandlerContext) {
        let deadline = NIODeadline.now() + limits.requestBodyTimeout
        bodyDeadline = deadline
        if deadline < clockDeadline { arm(at: deadline, context: context) }
    }

    func arm(at deadline: NIODeadline, context: ChannelHandlerContext) {
        clock?.cancel()
        clockDeadline = deadline
        clock = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            self.clock = nil
            self.clockDeadline = .distantFuture
            self.clockRanOut(context: context)
        }
    }

    func stopClock() {
        clock?.cancel()
        clock = nil
        clockDeadline = .distantFuture
    }

    /// Acts on whichever deadline has passed, then re-arms for the next one.
    func clockRanOut(context: ChannelHandlerContext) {
        let now = NIODeadline.now()
        let inFlight: Bool
        switch phase {
        case .closed:
            return
        case .draining(_, _, let until):
            if now >= until {
                closeNow(context: context)
            } else {
                arm(at: until, context: context)
            }
            return
        case .answering:
            inFlight = true
        case .body, .chunkedBody:
            if let bodyDeadline, now >= bodyDeadline {
                answerBody408(context: context)
                return
            }
            inFlight = false  // a body that stops coming is idleness too
        case .head:
            inFlight = false
        }
        if let started = headStarted, !headOverdue, now >= started + limits.requestHeadTimeout {
            if case .answering = phase {
                headOverdue = true
            } else {
                answer408(context: context)
                return
            }
        }
        let idleDeadline = lastActivity + limits.idleTimeout
        if !inFlight, headStarted == nil, now >= idleDeadline {
            closeNow(context: context)
            return
        }
        var next = inFlight || idleDeadline <= now ? now + limits.idleTimeout : idleDeadline
        if let started = headStarted, !headOverdue {
            next = min(next, started + limits.requestHeadTimeout)
        }
        if let bodyDeadline { next = min(next, bodyDeadline) }
        arm(at: next, context: context)
    }
}
