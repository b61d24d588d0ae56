import Glibc

/// A worker's connection to the `ManagerServer`, authenticated on connect.
/// Calls block (the worker makes them from its thread pool). After any I/O
/// error the connection is closed, which also makes the server release a lock
/// this session may hold, and every later call throws.
public final class ManagerSession: CounterSession {
    private let socket: ManagerSocket
    private var failure: StoreError?

    /// Connects to the server at `socketPath`, answers its challenge with
    /// `key` and declares this process's pid (so the server can name it as
    /// the lock's holder). `timeout` bounds every send and every wait for a
    /// reply, in seconds, including a wait for the lock.
    public init(socketPath: String, key: [UInt8], timeout: Double = 10) throws {
        socket = try ManagerSocket(path: socketPath, timeout: timeout)
        do {
            let challenge = try socket.receiveFrame()
            guard challenge.count == ManagerProtocol.challengeLength else {
                throw StoreError("manager: \(socketPath) sent a \(challenge.count)-byte challenge, expected \(ManagerProtocol.challengeLength)")
            }
            try socket.sendFrame(ManagerAuthentication.answer(key: key, challenge: challenge))
            let verdict = String(decoding: try socket.receiveFrame(), as: UTF8.self)
            guard verdict == ManagerProtocol.welcome else {
                throw StoreError("manager: \(socketPath) refused authentication (wrong key?)")
            }
        } catch {
            socket.close()
            throw error
        }
        try ok(.declarePID(getpid()))
    }

    public func read() throws -> Int {
        try value(of: .get)
    }

    public func increment(mode: Mode, window: RaceWindow) throws -> Int {
        switch mode {
        case .naive:
            // Two round trips: another worker's write between them is overwritten.
            let next = try value(of: .get) + 1
            window.afterRead(next - 1)
            try ok(.set(next))
            window.afterWrite()
            return next
        case .locked:
            try expect(.lock, .granted)
            let next = try value(of: .get) + 1
            window.afterRead(next - 1)
            try ok(.set(next))
            window.afterWrite()
            try ok(.unlock)
            return next
        case .atomic:
            return try value(of: .incr)
        case .serializable:
            throw StoreError.noSuchMode(.serializable, for: .manager)
        }
    }

    public func reset() throws {
        try ok(.reset)
    }

    /// The pid of the client holding the lock now; nil when the lock is free.
    /// A holder that declared no pid is `ManagerProtocol.undeclaredPID` (-1):
    /// every `ManagerSession` declares one, a raw client may not.
    public func lockHolder() throws -> Int32? {
        let pid = try pid(of: .holder)
        return pid == 0 ? nil : pid
    }

    /// How many clients disconnected holding the lock (the server released it
    /// each time), and the pid of the last one; its pid is nil when it
    /// declared none.
    public func lockReleases() throws -> LockRecoveries {
        // Two requests: read the count again after the pid, and retry when a
        // release came between them, so the pid belongs to the count.
        var count = try value(of: .releases)
        for _ in 0..<3 {
            let pid = try pid(of: .released)
            let again = try value(of: .releases)
            if again == count {
                return LockRecoveries(lock: .manager, count: count, lastDeadHolder: pid > 0 ? pid : nil)
            }
            count = again
        }
        throw StoreError("manager: the lock kept being released while its releases were read")
    }

    public func close() {
        socket.close()
        failure = failure ?? StoreError("manager: the session is closed")
    }

    // MARK: - Round trips

    private func value(of request: ManagerRequest) throws -> Int {
        let reply = try roundTrip(request)
        guard case .value(let value) = reply else { throw unexpected(reply, to: request) }
        return value
    }

    private func pid(of request: ManagerRequest) throws -> Int32 {
        let value = try value(of: request)
        guard let pid = Int32(exactly: value) else {
            throw StoreError("manager: \(request.text) answered \(value), not a process id")
        }
        return pid
    }

    private func ok(_ request: ManagerRequest) throws {
        try expect(request, .ok)
    }

    private func expect(_ request: ManagerRequest, _ expected: ManagerReply) throws {
        let reply = try roundTrip(request)
        guard reply == expected else { throw unexpected(reply, to: request) }
    }

    private func roundTrip(_ request: ManagerRequest) throws -> ManagerReply {
        if let failure { throw failure }
        do {
            try socket.sendFrame(Array(request.text.utf8))
            return ManagerReply(parsing: String(decoding: try socket.receiveFrame(), as: UTF8.self))
        } catch let error as StoreError {
            // The reply stream is now out of step (or gone): never reuse this connection.
            failure = StoreError("manager: session unusable after an earlier error: \(error.message)")
            socket.close()
            throw error
        }
    }

    /// An error reply (or a reply of the wrong kind) leaves the connection in
    /// step, but in locked mode the lock may still be held: closing is the one
    /// sure way to release it, so any surprise ends the session.
    private func unexpected(_ reply: ManagerReply, to request: ManagerRequest) -> StoreError {
        let error: StoreError
        if case .error(let reason) = reply {
            error = StoreError("manager: \(request.text.split(separator: " ")[0]) failed: \(reason)")
        } else {
            error = StoreError("manager: unexpected reply \(reply.text.debugDescription) to \(request.text.split(separator: " ")[0])")
        }
        failure = StoreError("manager: session unusable after an earlier error: \(error.message)")
        socket.close()
        return error
    }
}
