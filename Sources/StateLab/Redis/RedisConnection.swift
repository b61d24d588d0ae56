import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One blocking TCP connection to redis-server, for worker thread pools (never
/// an event loop). Every call is bounded by `timeout` seconds: connecting, and
/// each command from first byte sent to last byte received.
///
/// After a transport or protocol failure the socket is dropped (its state is
/// unknown) and the next command reconnects; a server error reply (`-ERR ...`)
/// is thrown too but leaves the connection usable.
public final class RedisConnection: @unchecked Sendable {
    public let host: String
    public let port: Int
    public let timeout: Double
    public let database: Int
    public let username: String?
    private let password: String?

    // The lock makes a shared connection safe, though a session is meant for one thread at a time.
    private let lock = NSLock()
    private var fd: Int32 = -1
    private var reader = RESPReader()
    private var isClosed = false

    /// Connects at once, so a wrong address, password or database fails here,
    /// not on first use. Every (re)connection sends `AUTH [username] password`
    /// first when there is a password, then `SELECT database` when it is not 0.
    public init(host: String, port: Int, timeout: Double = 10, database: Int = 0,
                username: String? = nil, password: String? = nil) throws {
        guard (1...65_535).contains(port) else { throw StoreError("redis: port \(port) is out of range 1-65535") }
        guard timeout > 0 else { throw StoreError("redis: timeout must be positive") }
        self.host = host
        self.port = port
        self.timeout = timeout
        self.database = database
        self.username = username
        self.password = password
        lock.lock(); defer { lock.unlock() }
        try connectLocked()
    }

    public convenience init(url: RedisURL, timeout: Double = 10) throws {
        try self.init(host: url.host, port: url.port, timeout: timeout, database: url.database,
                      username: url.username, password: url.password)
    }

    deinit { if fd >= 0 { Glibc.close(fd) } }

    /// "127.0.0.1:6379", for messages.
    public var address: String { ServerAddress.text(host: host, port: port) }

    /// Sends one command and returns its reply. Throws StoreError on a timeout,
    /// a closed or refused connection, a protocol error, or an error reply.
    @discardableResult
    public func command(_ arguments: String...) throws -> RESPValue {
        try command(arguments)
    }

    @discardableResult
    public func command(_ arguments: [String]) throws -> RESPValue {
        precondition(!arguments.isEmpty, "a Redis command needs a name")
        lock.lock(); defer { lock.unlock() }
        guard !isClosed else { throw StoreError("redis \(address): connection was closed") }
        if fd < 0 { try connectLocked() }
        let reply = try roundTripLocked(arguments)
        return try checked(reply, of: arguments[0])
    }

    /// `reply`, or the StoreError `command` throws for it when it is an error
    /// reply: for checking a pipeline's replies one by one.
    @discardableResult
    public func checked(_ reply: RESPValue, of command: String) throws -> RESPValue {
        if case .error(let message) = reply {
            throw StoreError("redis \(address): \(command) failed: \(message)\(Self.fix(for: message))")
        }
        return reply
    }

    /// Sends `commands` in one write, then reads one reply per command, in
    /// order: one round trip instead of `commands.count`. Bounded by `timeout`
    /// as a whole, from the first byte sent to the last byte of the last reply.
    ///
    /// Unlike `command`, an error reply does not throw: it is returned in its
    /// place (`.error`), since the commands after it ran anyway and the caller
    /// needs their replies. A timeout, a closed connection or a protocol error
    /// throws and drops the socket, as in `command`: then no reply is returned,
    /// and any of the commands may or may not have run.
    public func pipeline(_ commands: [[String]]) throws -> [RESPValue] {
        precondition(!commands.isEmpty, "a pipeline needs at least one command")
        precondition(commands.allSatisfy { !$0.isEmpty }, "a Redis command needs a name")
        lock.lock(); defer { lock.unlock() }
        guard !isClosed else { throw StoreError("redis \(address): connection was closed") }
        if fd < 0 { try connectLocked() }
        return try roundTripLocked(commands)
    }

    /// What to do about an error reply that a setting can fix, as the end of one line.
    static func fix(for message: String) -> String {
        if message.hasPrefix("NOAUTH") {
            return "; this server needs a password: put it in the Redis URL, redis://:PASSWORD@host:port"
        }
        if message.hasPrefix("WRONGPASS") {
            return "; check the user name and password in the Redis URL (redis://USER:PASSWORD@host:port)"
        }
        if message.contains("without any password configured") {
            return "; this server has no password set: leave the credentials out of the Redis URL"
        }
        if message.contains("DB index is out of range") {
            return "; the server has fewer databases (16 by default, 0 to 15): use a smaller /db in the Redis URL"
        }
        return ""
    }

    /// Whether `error` says the server could not be reached at all (as opposed
    /// to refusing a password, a database or a command).
    public static func isUnreachable(_ error: StoreError) -> Bool {
        error.message.contains(": cannot connect: ") || error.message.contains(": cannot resolve host: ")
    }

    /// True while a socket is open (false after a failure until the next command reconnects).
    public var isConnected: Bool {
        lock.lock(); defer { lock.unlock() }
        return fd >= 0
    }

    /// Closes the socket; later commands throw.
    public func close() {
        lock.lock(); defer { lock.unlock() }
        isClosed = true
        dropLocked()
    }

    // MARK: - Socket work (lock held)

    private func roundTripLocked(_ arguments: [String]) throws -> RESPValue {
        try roundTripLocked([arguments])[0]
    }

    /// Writes every command at once, then reads as many replies; drops the
    /// socket on any failure (the stream's position is unknown after it).
    private func roundTripLocked(_ commands: [[String]]) throws -> [RESPValue] {
        let deadline = MonotonicClock.now() + UInt64(timeout * 1e9)
        let names = commands.map { $0[0] }
        do {
            var bytes = RESPEncoder.command(commands[0])
            for command in commands.dropFirst() { bytes += RESPEncoder.command(command) }
            try sendAll(bytes, deadline: deadline, command: names.joined(separator: ", "))
            var replies: [RESPValue] = []
            replies.reserveCapacity(commands.count)
            for (index, name) in names.enumerated() {
                let what = names.count == 1 ? name : "\(name) (\(index + 1) of \(names.count) pipelined)"
                replies.append(try receiveValue(deadline: deadline, command: what))
            }
            return replies
        } catch {
            dropLocked()
            throw error
        }
    }

    private func sendAll(_ bytes: [UInt8], deadline: UInt64, command: String) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { raw in
                send(fd, raw.baseAddress! + sent, raw.count - sent, Int32(MSG_NOSIGNAL))
            }
            if n > 0 { sent += n; continue }
            let code = errno
            if n < 0 && code == EINTR { continue }
            if n < 0 && (code == EAGAIN || code == EWOULDBLOCK) {
                try waitFor(Int16(POLLOUT), deadline: deadline, what: "sending \(command)")
                continue
            }
            throw StoreError("redis \(address): sending \(command) failed: \(Self.describe(code))")
        }
    }

    private func receiveValue(deadline: UInt64, command: String) throws -> RESPValue {
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            do {
                if let value = try reader.next() { return value }
            } catch let error as StoreError {
                throw StoreError("redis \(address): reply to \(command): \(error.message)")
            }
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { reader.append(chunk[0..<n]); continue }
            if n == 0 { throw StoreError("redis \(address): server closed the connection before answering \(command)") }
            let code = errno
            if code == EINTR { continue }
            if code == EAGAIN || code == EWOULDBLOCK {
                try waitFor(Int16(POLLIN), deadline: deadline, what: "waiting for the reply to \(command)")
                continue
            }
            throw StoreError("redis \(address): reading the reply to \(command) failed: \(Self.describe(code))")
        }
    }

    /// Polls the socket for `events` until `deadline`; throws a timeout error after it.
    private func waitFor(_ events: Int16, deadline: UInt64, what: String) throws {
        while true {
            let now = MonotonicClock.now()
            guard now < deadline else {
                throw StoreError("redis \(address): timed out after \(timeout) s \(what)")
            }
            var pfd = pollfd(fd: fd, events: events, revents: 0)
            let ms = Int32(min(Int64(Int32.max), Int64((deadline - now) / 1_000_000) + 1))
            let rc = poll(&pfd, 1, ms)
            if rc > 0 { return }  // ready, or an error the next send/recv will report
            if rc < 0 && errno != EINTR {
                throw StoreError("redis \(address): poll failed \(what): \(Self.describe(errno))")
            }
        }
    }

    private func connectLocked() throws {
        dropLocked()
        let deadline = MonotonicClock.now() + UInt64(timeout * 1e9)
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        // Numeric only, and loopback only: no resolver is asked (LoopbackHost).
        hints.ai_flags = AI_NUMERICSERV | AI_NUMERICHOST
        guard let literal = LoopbackHost.literal(host) else {
            throw StoreError("redis \(address): \(LoopbackHost.Refusal(host: host))")
        }
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(literal, String(port), &hints, &list)
        guard rc == 0, let first = list else {
            throw StoreError("redis \(address): cannot resolve host: \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(first) }

        var lastError = "no address"
        var candidate: UnsafeMutablePointer<addrinfo>? = first
        while let info = candidate {
            candidate = info.pointee.ai_next
            guard LoopbackHost.isPermitted(info.pointee.ai_addr) else { lastError = "not a loopback address"; continue }
            let socketFD = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            guard socketFD >= 0 else { lastError = Self.describe(errno); continue }
            if Self.connect(socketFD, info.pointee.ai_addr, info.pointee.ai_addrlen, deadline: deadline, error: &lastError) {
                var one: Int32 = 1
                setsockopt(socketFD, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                fd = socketFD
                reader = RESPReader()
                try prepareSessionLocked()
                return
            }
            Glibc.close(socketFD)
        }
        throw StoreError("redis \(address): cannot connect: \(lastError)")
    }

    /// AUTH, then SELECT, on a fresh connection: nothing else is sent before
    /// them, and a refusal drops the connection with a one-line fix.
    private func prepareSessionLocked() throws {
        if let password {
            let reply = try roundTripLocked(["AUTH"] + (username.map { [$0] } ?? []) + [password])
            if case .error(let message) = reply {
                dropLocked()
                let fix = Self.fix(for: message)
                throw StoreError("redis \(address): AUTH\(username.map { " as \($0)" } ?? "") was refused: \(message)"
                                 + (fix.isEmpty ? "; check the credentials in the Redis URL" : fix))
            }
            guard reply == .simpleString("OK") else {
                dropLocked()
                throw StoreError("redis \(address): AUTH answered \(reply), not OK; is this a Redis server?")
            }
        }
        if database != 0 {
            let reply = try roundTripLocked(["SELECT", String(database)])
            if case .error(let message) = reply {
                dropLocked()
                let fix = Self.fix(for: message)
                throw StoreError("redis \(address): SELECT \(database) failed: \(message)"
                                 + (fix.isEmpty ? "; check the /db number in the Redis URL" : fix))
            }
            guard reply == .simpleString("OK") else {
                dropLocked()
                throw StoreError("redis \(address): SELECT \(database) answered \(reply), not OK; is this a Redis server?")
            }
        }
    }

    /// A non-blocking connect bounded by `deadline`.
    private static func connect(_ fd: Int32, _ address: UnsafePointer<sockaddr>, _ length: socklen_t, deadline: UInt64, error: inout String) -> Bool {
        if Glibc.connect(fd, address, length) == 0 { return true }
        guard errno == EINPROGRESS || errno == EINTR else { error = describe(errno); return false }
        while true {
            let now = MonotonicClock.now()
            guard now < deadline else { error = "timed out"; return false }
            var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let rc = poll(&pfd, 1, Int32(min(Int64(Int32.max), Int64((deadline - now) / 1_000_000) + 1)))
            if rc < 0 && errno == EINTR { continue }
            if rc < 0 { error = describe(errno); return false }
            if rc == 0 { continue }
            var soError: Int32 = 0
            var size = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &size)
            if soError == 0 { return true }
            error = describe(soError)
            return false
        }
    }

    private func dropLocked() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
        reader = RESPReader()
    }

    private static func describe(_ code: Int32) -> String { String(cString: strerror(code)) }
}
