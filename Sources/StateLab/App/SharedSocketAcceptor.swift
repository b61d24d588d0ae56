import Foundation
import NIOCore
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif

/// Accepts on the listening socket a worker inherited (`listen: shared`) the
/// way gunicorn's sync worker does: wait until the socket is readable, then
/// accept without blocking. Every worker of the app polls the same socket, so
/// all of them wake for a new connection; one accept wins, the others get
/// EAGAIN and wait again. Who wins is up to the scheduler, as with uvicorn.
///
/// Not `ServerBootstrap.withBoundSocket`: NIO asserts (in debug builds) that a
/// readable listening socket yields a connection, and on a socket that
/// several processes share, the losers of each race yield none (the worker
/// died on BaseSocketChannel.swift's `assert(readResult == .some)`; swift-nio
/// issue #3500 is the same assertion on spurious wakeups). An accepted socket
/// goes to NIO as a connected socket, with the same pipeline as on the port.
enum SharedSocketAcceptor {
    /// Starts the accept thread; it runs as long as the worker process.
    static func start(listeningFD: Int32, group: EventLoopGroup, app: CounterApp) throws {
        // Without this, a worker started without the socket would spin on POLLNVAL.
        var listening: Int32 = 0
        var size = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(listeningFD, SOL_SOCKET, SO_ACCEPTCONN, &listening, &size) == 0, listening != 0 else {
            throw StoreError("fd \(listeningFD) is not the listening socket the supervisor hands every worker with listen: shared")
        }
        let thread = Thread { acceptLoop(listeningFD: listeningFD, bootstrap: bootstrap(group: group, app: app)) }
        thread.name = "shared-accept"
        thread.start()
    }

    private static func bootstrap(group: EventLoopGroup, app: CounterApp) -> ClientBootstrap {
        let limits = HTTPLimits(spec: app.spec)
        return ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try WorkerServer.configure(channel.pipeline.syncOperations, app: app, limits: limits)
                }
            }
    }

    private static func acceptLoop(listeningFD: Int32, bootstrap: ClientBootstrap) {
        var readable = pollfd(fd: listeningFD, events: Int16(POLLIN), revents: 0)
        while true {
            // A second at a time, so no single wait is unbounded; the loop
            // itself ends with the process (a signal).
            guard poll(&readable, 1, 1000) > 0 else { continue }
            let connection = accept(listeningFD, nil, nil)
            guard connection >= 0 else {
                switch errno {
                case EAGAIN, EWOULDBLOCK, EINTR, ECONNABORTED:
                    continue  // another worker took it, or the client already left
                default:
                    // Out of fds or memory: back off instead of spinning (as AcceptBackoff does).
                    usleep(UInt32(AcceptBackoff.pause.nanoseconds / 1000))
                    continue
                }
            }
            _ = fcntl(connection, F_SETFD, FD_CLOEXEC)
            bootstrap.withConnectedSocket(connection).whenFailure { error in
                FileHandle.standardError.write(Data("worker \(getpid()): dropped an accepted connection: \(error)\n".utf8))
            }
        }
    }
}
