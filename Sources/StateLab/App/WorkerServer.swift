import CSupport
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif

/// One worker process: a one-event-loop HTTP/1.1 server on the app's port
/// (bound with SO_REUSEPORT like `gunicorn --reuse-port`, or a listening socket
/// inherited from the supervisor like uvicorn's: `ListenMode`) and on its
/// private Unix socket.
public enum WorkerServer {
    /// SO_REUSEPORT has no named NIO option; it is built from the Glibc constant.
    static let reusePort = ChannelOptions.socketOption(.init(rawValue: SO_REUSEPORT))

    /// Serves until the process is signalled. `parentPID` is the supervisor:
    /// the worker dies with it.
    public static func run(specPath: String, worker: Int, parentPID: Int32?) throws {
        if let parentPID, sl_die_with_parent(parentPID) != 0 {
            throw StoreError("supervisor \(parentPID) is gone")
        }
        let spec = try WorkerSpec.read(from: specPath)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let backend = try makeBackend(for: spec, loop: group.next())
        // One read now, so a store that cannot be reached fails the start, not the first request.
        _ = try backend.read(on: group.next()).wait()
        let app = CounterApp(spec: spec, worker: worker, backend: backend)

        let tcp: Channel?
        switch spec.listen {
        case .reuseport:
            tcp = try bootstrap(group: group, app: app)
                .serverChannelOption(reusePort, value: 1)
                .bind(host: spec.bindHost ?? "127.0.0.1", port: spec.port).wait()
        case .shared:
            try SharedSocketAcceptor.start(listeningFD: ListenMode.inheritedFD, group: group, app: app)
            tcp = nil
        }
        let socketPath = spec.controlSocketPath(worker: worker)
        unlink(socketPath)  // left by the worker this one replaces
        let control = try bootstrap(group: group, app: app).withBoundSocket(PrivateUnixSocket.bind(path: socketPath)).wait()

        // The listeners live until the process is signalled (default SIGTERM action):
        // the supervisor owns the run directory and cleans it up.
        _ = try (tcp.map { $0.closeFuture.and(control.closeFuture).map { _ in } } ?? control.closeFuture).wait()
        try? group.syncShutdownGracefully()
    }

    static func bootstrap(group: EventLoopGroup, app: CounterApp) -> ServerBootstrap {
        let limits = HTTPLimits(spec: app.spec)
        return ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { AcceptBackoff.install(on: $0) }
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try configure(channel.pipeline.syncOperations, app: app, limits: limits)
                }
            }
    }

    /// One connection's handler: `WorkerConnection` does HTTP/1.1 itself, from raw bytes.
    static func configure(_ pipeline: ChannelPipeline.SynchronousOperations, app: CounterApp, limits: HTTPLimits) throws {
        try pipeline.addHandler(WorkerConnection(app: app, limits: limits))
    }

    /// How this worker reaches its strategy's store: PostgreSQL and redis
    /// atomic on the event loop, global and shm atomic/naive inline on it, the
    /// others through blocking sessions on store threads.
    static func makeBackend(for spec: WorkerSpec, loop: EventLoop) throws -> any CounterBackend {
        if spec.strategy == .postgres {
            guard let settings = spec.postgres else {
                throw StoreError("postgres strategy without a server address in the worker spec")
            }
            return try PostgresBackend(loop: loop, settings: settings, mode: spec.mode, raceWindowMicros: spec.raceWindowMicros)
        }
        if spec.strategy == .redis && spec.mode == .atomic {
            guard let url = spec.redisURL else {
                throw StoreError("redis strategy without a redis address in the worker spec")
            }
            return RedisPipelineBackend(loop: loop, url: url)
        }
        let threads = NIOThreadPool(numberOfThreads: spec.storeThreads)
        threads.start()
        let factory = try sessionFactory(for: spec)
        var backend = ThreadPoolBackend(sessions: SessionPool(factory: factory), threads: threads,
                                        mode: spec.mode, raceWindowMicros: spec.raceWindowMicros)
        if spec.strategy == .redis && spec.mode == .locked {
            backend.retries = { RedisSession.processConflictRetries.load(ordering: .relaxed) }
        }
        if InlineBackend.serves(spec.strategy, spec.mode, raceWindowMicros: spec.raceWindowMicros) {
            return InlineBackend(threads: backend, session: .init(session: try factory(), mode: spec.mode))
        }
        return backend
    }

    /// How this worker opens sessions on its strategy's store.
    static func sessionFactory(for spec: WorkerSpec) throws -> @Sendable () throws -> CounterSession {
        switch spec.strategy {
        case .global:
            return { GlobalSession() }
        case .shm:
            let segment = try SharedMemoryCounter.attach()
            let worker = getpid()
            return {
                SharedMemorySession(segment: segment) { deadHolder in
                    let who = deadHolder.map { "pid \($0)" } ?? "(pid not recorded)"
                    FileHandle.standardError.write(Data("worker \(worker): shm mutex holder \(who) died; recovered the lock\n".utf8))
                }
            }
        case .sqlite:
            let path = spec.sqlitePath
            return { try SQLiteSession(path: path) }
        case .manager:
            let key = try ManagerKey.read(from: spec.managerKeyPath)
            let path = spec.managerSocketPath
            return { try ManagerSession(socketPath: path, key: key) }
        case .redis:
            guard let url = spec.redisURL else {
                throw StoreError("redis strategy without a redis address in the worker spec")
            }
            return { try RedisSession(url: url) }
        case .postgres:
            throw StoreError("postgres has no blocking session; its backend runs on the event loop")
        }
    }
}
