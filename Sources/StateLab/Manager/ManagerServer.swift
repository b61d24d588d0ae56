import Dispatch
import Glibc
import NIOCore
import NIOPosix

/// The manager strategy's state server: a separate process holding one counter
/// and one lock in memory, as Python's `multiprocessing.Manager` does. Workers
/// reach it with `ManagerSession` over a 0600 Unix socket and must prove they
/// know the shared key first (see `ManagerProtocol`).
///
/// One event loop serves every connection and owns all the state, so requests
/// are applied one at a time without locks; a waiting `lock` request parks in a
/// queue on that loop instead of blocking it.
public final class ManagerServer {
    public let socketPath: String
    private let key: [UInt8]
    private let log: @Sendable (String) -> Void
    private var group: MultiThreadedEventLoopGroup?
    private var listener: Channel?

    public init(socketPath: String, key: [UInt8], log: @escaping @Sendable (String) -> Void) {
        self.socketPath = socketPath
        self.key = key
        self.log = log
    }

    deinit { stop() }

    /// Binds the socket (mode 0600) and starts serving; returns once clients can connect.
    public func start() throws {
        guard listener == nil else { return }
        guard !key.isEmpty else { throw StoreError("manager: the key is empty") }
        try removeStaleSocket()
        let fd = try bindSocket()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let state = NIOLoopBoundBox.makeBoxSendingValue(ManagerState(), eventLoop: loop)
        let key = self.key
        let log = self.log
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelInitializer { AcceptBackoff.install(on: $0) }
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let shared = state.value
                    let handler = ManagerConnectionHandler(
                        connection: shared.nextConnectionID(), key: key, state: shared, log: log)
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(ManagerFrameDecoder()))
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
        do {
            // NIO takes the already bound descriptor, listens and owns it from here.
            listener = try bootstrap.withBoundSocket(fd).wait()
            self.group = group
        } catch {
            try? group.syncShutdownGracefully()
            unlink(socketPath)
            throw StoreError("manager: cannot listen on \(socketPath): \(error)")
        }
        log("manager: listening on \(socketPath) (pid \(getpid()))")
    }

    /// Stops serving, closes every connection and removes the socket file. Idempotent.
    public func stop() {
        guard let group else { return }
        try? listener?.close().wait()
        try? group.syncShutdownGracefully()
        self.group = nil
        self.listener = nil
        if ManagerPOSIX.isSocketFile(socketPath) { unlink(socketPath) }
        log("manager: stopped")
    }

    /// The `statelab manager` process: serves until SIGTERM or SIGINT, then
    /// removes its socket file and returns.
    public static func runUntilSignalled(socketPath: String, keyFile: String) throws {
        let key = try ManagerKey.read(from: keyFile)
        let server = ManagerServer(socketPath: socketPath, key: key, log: ManagerServer.logToStandardError)
        let stopRequested = DispatchSemaphore(value: 0)
        let queue = DispatchQueue(label: "statelab.manager.signals")
        var sources: [DispatchSourceSignal] = []
        for signalNumber in [SIGTERM, SIGINT] {
            // Ignore the default action so the dispatch source, not the kernel, ends the process.
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: queue)
            source.setEventHandler { stopRequested.signal() }
            source.resume()
            sources.append(source)
        }
        try server.start()
        stopRequested.wait()
        server.log("manager: signal received, shutting down")
        server.stop()
        sources.forEach { $0.cancel() }
    }

    /// Writes one line to standard error in a single write, so lines never interleave.
    @Sendable public static func logToStandardError(_ line: String) {
        let bytes = Array((line + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }

    // MARK: - Socket file

    /// Removes a socket left by a dead server; refuses to touch anything else,
    /// or a socket a live manager still answers on.
    private func removeStaleSocket() throws {
        guard ManagerPOSIX.fileExists(socketPath) else { return }
        guard ManagerPOSIX.isSocketFile(socketPath) else {
            throw StoreError("manager: \(socketPath) exists and is not a socket; not removing it")
        }
        let address = try UnixSocketAddress.make(socketPath)
        let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if probe >= 0 {
            defer { close(probe) }
            if UnixSocketAddress.with(address, { connect(probe, $0, $1) }) == 0 {
                throw StoreError("manager: another server is already listening on \(socketPath)")
            }
        }
        guard unlink(socketPath) == 0 || errno == ENOENT else {
            throw StoreError("manager: cannot remove stale socket \(socketPath): \(ManagerPOSIX.errorText())")
        }
        log("manager: removed stale socket \(socketPath)")
    }

    /// Creates and binds the listening socket, its file 0600 from the moment
    /// it appears (see `PrivateUnixSocket`).
    private func bindSocket() throws -> Int32 {
        do {
            return try PrivateUnixSocket.bind(path: socketPath)
        } catch let error as StoreError {
            throw StoreError("manager: \(error.message)")
        }
    }
}
