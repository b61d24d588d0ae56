import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// Every listening socket statelab serves on pauses its accepts after an
/// accept error that only time can cure (out of file descriptors or memory)
/// instead of retrying at once: the connection stays in the listen queue and
/// the socket stays readable, so without a pause the event loop spins a core
/// on failing `accept4` calls and serves nobody.
///
/// Not NIO's `AcceptBackoffHandler`: it delays the next `read`, but after a
/// failed accept NIO 2.101's server channel still counts its read as pending
/// (only a successful accept clears it), so no new `read` ever comes to be
/// delayed and the loop kept spinning (20,000 failed accepts a second under
/// `ulimit -n 200`, measured). Turning `autoRead` off is what takes the
/// socket out of the poll set; turning it back on after the pause resumes.
final class AcceptBackoff: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = Channel

    /// Short enough that serving resumes soon after descriptors free up.
    static let pause = TimeAmount.milliseconds(100)

    private var paused = false

    static func install(on channel: Channel) -> EventLoopFuture<Void> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(AcceptBackoff())
        }
    }

    static func isResourceShortage(_ error: Error) -> Bool {
        guard let error = error as? IOError else { return false }
        return [EMFILE, ENFILE, ENOBUFS, ENOMEM].contains(error.errnoCode)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        guard Self.isResourceShortage(error) else {
            context.fireErrorCaught(error)
            return
        }
        guard !paused, let options = context.channel.syncOptions else { return }
        paused = true
        _ = try? options.setOption(.autoRead, value: false)
        context.eventLoop.assumeIsolated().scheduleTask(in: Self.pause) {
            self.paused = false
            _ = try? context.channel.syncOptions?.setOption(.autoRead, value: true)
        }
    }
}
