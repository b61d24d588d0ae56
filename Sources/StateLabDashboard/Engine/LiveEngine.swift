import Dispatch
import Foundation
import NIOConcurrencyHelpers
import StateLab

/// The dashboard's engine: a view of a `LiveRun` (statelab's own app, an app
/// at a URL, or a command it launches). Keys only post actions: one task takes
/// them in order, so the screen never waits on any of them; the run's events
/// and a few worker reads a second become dashboard events.
public final class LiveEngine: DashboardEngine, Sendable {
    public typealias Options = LiveRun.Options

    /// How often workers are read (and the sparkline gets a sample).
    static let sampleInterval: UInt64 = 250_000_000

    private let events = DashboardEventQueue()
    private let controller: LiveController
    private let inbox: AsyncStream<DashboardAction>.Continuation
    private let actions: AsyncStream<DashboardAction>
    private let tasks = NIOLockedValueBox<[Task<Void, Never>]>([])

    public init(options: Options) {
        controller = LiveController(options: options, events: events)
        (actions, inbox) = AsyncStream.makeStream(of: DashboardAction.self, bufferingPolicy: .unbounded)
    }

    /// Reports availability, starts the target, then takes actions and reads workers.
    public func start() {
        let (controller, actions) = (self.controller, self.actions)
        let taking = Task {
            await controller.run.start()
            for await action in actions { await controller.handle(action) }
        }
        let sampling = Task {
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: Self.sampleInterval)
                await controller.run.sample()
            }
        }
        tasks.withLockedValue { $0 = [taking, sampling] }
    }

    public func drainEvents() -> [DashboardEvent] { events.drain() }

    public func perform(_ action: DashboardAction) {
        // Pausing must not queue behind a slow action: it only stops the load.
        if case .setPaused(let paused) = action {
            controller.run.pauseNow(paused)
        }
        inbox.yield(action)
    }

    /// Stops the load, the compare run, the sampling and every process; bounded.
    public func shutdown() {
        inbox.finish()
        controller.run.pauseNow(true)
        let running = tasks.withLockedValue { $0 }
        let done = DispatchSemaphore(value: 0)
        let controller = self.controller
        Task.detached {
            for task in running { task.cancel() }
            await controller.run.shutdown()
            for task in running { await task.value }
            done.signal()
        }
        // Every step is bounded (a worker's stop takes at most its grace and 5 s); this is a backstop.
        _ = done.wait(timeout: .now() + .seconds(60))
    }
}
