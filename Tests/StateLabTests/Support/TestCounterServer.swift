import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import StateLab
#if canImport(Glibc)
import Glibc
#endif

/// A small real counter server for load generator tests: it answers like the
/// statelab app (`POST /increment`, `GET /report`, `X-Worker-Pid`), bound to
/// 127.0.0.1, and can misbehave on purpose. Several "workers" (each with its
/// own fake pid and counter) can share one port through SO_REUSEPORT, as the
/// real app's workers do.
final class TestCounterServer: @unchecked Sendable {
    enum Fault: Sendable {
        case status500
        case status404
        /// Send the head and part of the body, then close.
        case closeMidAnswer
        /// A 503 whose body says the increment was not applied.
        case notCommitted
    }

    struct Behavior: Sendable {
        /// Seconds added before every answer.
        var delay: Double = 0
        /// When the n-th increment (1-based) arrives, every answer waits until this many seconds later.
        var stall: (atIncrement: Int, seconds: Double)?
        /// Faults for chosen increments (1-based), or for all of them.
        var faults: [Int: Fault] = [:]
        var faultForAll: Fault?
        /// Name of the pid field in answers ("pid" or "current_process_id").
        var pidKey = "pid"
        /// Seconds added before every GET /report answer (a server that holds its answers).
        var reportDelay: Double = 0
    }

    let port: Int
    let pids: [Int32]
    private let group: MultiThreadedEventLoopGroup
    private let channels: [Channel]
    private let workers: [Worker]

    /// One worker's counter; shared by that worker's connections.
    final class Worker: @unchecked Sendable {
        let pid: Int32
        let index: Int
        let behavior: Behavior
        private let lock = NSLock()
        private var count = 0
        private var handled = 0
        private var incrementsSeen = 0
        private var stalledUntil: UInt64 = 0
        private var stallStart: UInt64?

        init(pid: Int32, index: Int, behavior: Behavior) {
            self.pid = pid
            self.index = index
            self.behavior = behavior
        }

        var currentCount: Int { lock.withLock { count } }
        var handledCount: Int { lock.withLock { handled } }
        var stallStartedAt: UInt64? { lock.withLock { stallStart } }

        /// Counts an arriving increment; returns its fault and when to answer (monotonic ns).
        func arrive(now: UInt64) -> (number: Int, fault: Fault?, answerAt: UInt64) {
            lock.withLock {
                incrementsSeen += 1
                handled += 1
                let number = incrementsSeen
                if let stall = behavior.stall, stall.atIncrement == number {
                    stallStart = now
                    stalledUntil = now + UInt64(stall.seconds * 1e9)
                }
                let answerAt = max(now + UInt64(behavior.delay * 1e9), stalledUntil)
                return (number, behavior.faults[number] ?? behavior.faultForAll, answerAt)
            }
        }

        func increment() -> Int { lock.withLock { count += 1; return count } }
        func noteOtherRequest() { lock.withLock { handled += 1 } }
    }

    /// Starts `workers` listeners on one port, pids `firstPid`, `firstPid + 1`, ...
    init(workers workerCount: Int = 1, firstPid: Int32 = 4242, behavior: Behavior = Behavior()) throws {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var channels: [Channel] = []
        var workers: [Worker] = []
        var port = 0
        do {
            for index in 0..<workerCount {
                let worker = Worker(pid: firstPid + Int32(index), index: index, behavior: behavior)
                let channel = try ServerBootstrap(group: group)
                    .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
                    .serverChannelOption(ChannelOptions.Types.SocketOption(level: .socket, name: NIOBSDSocket.Option(rawValue: SO_REUSEPORT)), value: 1)
                    .childChannelInitializer { channel in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                            try channel.pipeline.syncOperations.addHandler(TestCounterHandler(worker: worker))
                        }
                    }
                    .bind(host: "127.0.0.1", port: port)
                    .wait()
                port = channel.localAddress?.port ?? 0
                channels.append(channel)
                workers.append(worker)
            }
        } catch {
            try? group.syncShutdownGracefully()
            throw error
        }
        self.port = port
        self.channels = channels
        self.workers = workers
        self.pids = workers.map(\.pid)
    }

    /// Increments applied, summed over workers.
    var count: Int { workers.reduce(0) { $0 + $1.currentCount } }

    /// When the stall began (MonotonicClock ns, the clock of the generator's
    /// records): the arrival of the increment `Behavior.stall` names. No
    /// increment that arrives from then on is answered before
    /// `stallStartedAt + stall.seconds`.
    var stallStartedAt: UInt64? { workers.lazy.compactMap(\.stallStartedAt).first }

    /// Waits (polling, at most `seconds`) until the server has applied at
    /// least `minimum` increments; returns whether it has.
    func waitForCount(atLeast minimum: Int, within seconds: Double = 30) async throws -> Bool {
        let deadline = MonotonicClock.now() + UInt64(seconds * 1e9)
        while count < minimum {
            guard MonotonicClock.now() < deadline else { return false }
            try await Task.sleep(nanoseconds: 5_000_000)
        }
        return true
    }

    func shutdown() {
        for channel in channels { try? channel.close().wait() }
        try? group.syncShutdownGracefully()
    }

}

/// A loopback port where nothing listens, for as long as this is open: the
/// socket is bound and never listens, so a connect is refused, and no other
/// test's server (nor a bind to port 0) can take the port meanwhile. A port
/// found free and let go at once could be taken by a parallel test, whose
/// server then answered a request meant to be refused.
final class RefusingPort {
    let port: Int
    private let fd: Int32

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw StoreError("test: socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Bool in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else {
            let reason = String(cString: strerror(errno))
            Glibc.close(fd)
            throw StoreError("test: bind 127.0.0.1:0: \(reason)")
        }
        self.fd = fd
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { Glibc.close(fd) }
}

/// Answers one worker's HTTP requests, honouring its behavior.
private final class TestCounterHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let worker: TestCounterServer.Worker
    private var request: HTTPRequestHead?

    init(worker: TestCounterServer.Worker) {
        self.worker = worker
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): request = head
        case .body: break
        case .end:
            guard let head = request else { return }
            request = nil
            route(head, context: context)
        }
    }

    private func route(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        let pidField = "\"\(worker.behavior.pidKey)\": \(worker.pid)"
        switch (head.method, head.uri) {
        case (.POST, "/increment"):
            let now = MonotonicClock.now()
            let arrival = worker.arrive(now: now)
            let answer: (HTTPResponseStatus, String, Bool)
            switch arrival.fault {
            case .status404:
                answer = (.notFound, "{\"error\": \"not found\"}", false)
            case .notCommitted:
                answer = (.serviceUnavailable, "{\"error\": \"store busy\", \"committed\": false}", false)
            case .status500:
                let count = worker.increment()
                answer = (.internalServerError, "{\"error\": \"boom after count \(count)\"}", false)
            case .closeMidAnswer:
                _ = worker.increment()
                answer = (.ok, "", true)
            case nil:
                let count = worker.increment()
                answer = (.ok, "{\"count\": \(count), \(pidField), \"worker\": \(worker.index)}", false)
            }
            let delay = arrival.answerAt > now ? arrival.answerAt - now : 0
            let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
            let send = { [self] in
                if answer.2 {
                    closeMidAnswer(context: loopBound.value)
                } else {
                    respond(answer.0, answer.1, context: loopBound.value)
                }
            }
            if delay > 0 {
                let boundSend = NIOLoopBound(send, eventLoop: context.eventLoop)
                context.eventLoop.scheduleTask(in: .nanoseconds(Int64(delay))) { boundSend.value() }
            } else {
                send()
            }
        case (.GET, "/report"):
            worker.noteOtherRequest()
            let body = "{\"count\": \(worker.currentCount), \(pidField), \"worker\": \(worker.index), \"handled\": \(worker.handledCount), \"strategy\": \"global\", \"mode\": \"naive\"}"
            if worker.behavior.reportDelay > 0 {
                let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
                let send = NIOLoopBound({ [self] in respond(.ok, body, context: loopBound.value) }, eventLoop: context.eventLoop)
                context.eventLoop.scheduleTask(in: .nanoseconds(Int64(worker.behavior.reportDelay * 1e9))) { send.value() }
            } else {
                respond(.ok, body, context: context)
            }
        default:
            worker.noteOtherRequest()
            respond(.notFound, "{\"error\": \"no route\"}", context: context)
        }
    }

    private func respond(_ status: HTTPResponseStatus, _ body: String, context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: "\(body.utf8.count)")
        headers.add(name: "X-Worker-Pid", value: "\(worker.pid)")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    private func closeMidAnswer(context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Length", value: "100")
        headers.add(name: "X-Worker-Pid", value: "\(worker.pid)")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: "{\"count\": ")))), promise: nil)
        context.close(promise: nil)
    }
}

/// A rude server on 127.0.0.1, on raw sockets (its own thread), for what a
/// polite NIO server will not do: answer with a body delimited by the close
/// and then reset the connection mid-body, or accept late and close without
/// answering. Stopped (and its port closed) by `shutdown()`.
final class RudeServer: @unchecked Sendable {
    enum Manner {
        /// Reads the request, sends `200` with `Connection: close`, no length and
        /// `{"count": 12` (the body ends with the close), then resets (SO_LINGER 0).
        case resetMidCloseDelimitedBody
        /// Accepts each connection `delay` seconds late, then closes it unread and unanswered.
        case acceptLateThenClose(delay: Double)
    }

    let port: Int
    private let listener: Int32
    private let stopped = NSLock()
    private var isStopped = false
    private let done = DispatchSemaphore(value: 0)

    init(_ manner: Manner) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw StoreError("test: socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Bool in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0 && listen(fd, 64) == 0
            }
        }
        guard bound else {
            let reason = String(cString: strerror(errno))
            Glibc.close(fd)
            throw StoreError("test: bind/listen 127.0.0.1:0: \(reason)")
        }
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        let thread = Thread { [self] in
            serve(manner)
            done.signal()
        }
        thread.start()
    }

    private var stopping: Bool { stopped.withLock { isStopped } }

    private func serve(_ manner: Manner) {
        while !stopping {
            // Wait at most 50 ms for a connection, so a stop is seen soon.
            var ready = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            guard poll(&ready, 1, 50) > 0 else { continue }
            if case .acceptLateThenClose(let delay) = manner { usleep(UInt32(delay * 1_000_000)) }
            let client = accept(listener, nil, nil)
            guard client >= 0 else { continue }
            switch manner {
            case .acceptLateThenClose:
                Glibc.close(client)
            case .resetMidCloseDelimitedBody:
                var buffer = [UInt8](repeating: 0, count: 4096)
                var request: [UInt8] = []
                var tries = 0
                // The request head, read with a bound: at most 200 reads of 10 ms.
                while tries < 200, !request.suffix(4).elementsEqual("\r\n\r\n".utf8) {
                    var wait = pollfd(fd: client, events: Int16(POLLIN), revents: 0)
                    tries += 1
                    guard poll(&wait, 1, 10) > 0 else { continue }
                    let n = read(client, &buffer, buffer.count)
                    if n <= 0 { break }
                    request += buffer[0..<n]
                }
                let answer = Array("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: application/json\r\n\r\n{\"count\": 12".utf8)
                _ = answer.withUnsafeBytes { write(client, $0.baseAddress, $0.count) }
                usleep(20_000)  // the partial body reaches the client before the reset
                var abort = linger(l_onoff: 1, l_linger: 0)
                setsockopt(client, SOL_SOCKET, SO_LINGER, &abort, socklen_t(MemoryLayout<linger>.size))
                Glibc.close(client)
            }
        }
    }

    func shutdown() {
        let first = stopped.withLock { () -> Bool in
            defer { isStopped = true }
            return !isStopped
        }
        guard first else { return }
        done.wait()
        Glibc.close(listener)
    }

    deinit { shutdown() }
}
