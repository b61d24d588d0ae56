import Dispatch
import Foundation
import NIOConcurrencyHelpers
import StateLab

/// The dashboard's engine: a view over a `RunSession`. It starts the target
/// (statelab's own app, an app at a URL, or a command it launches), drives
/// the session burst by burst, and turns the session's events and a few worker
/// reads a second into dashboard events. Keys only post actions: one task
/// takes them in order, so the screen never waits on any of them.
public final class LiveEngine: DashboardEngine, Sendable {
    public struct Options: Sendable {
        public var settings: DashboardSettings
        public var burstSize: Int
        public var storeThreads: Int
        public var redisURL: String?
        public var executable: String
        /// Runs compared by `c`; empty: every strategy in the current mode.
        public var compareRuns: [RunSpec]
        /// What the dashboard watches.
        public var target: DashboardTarget
        /// How statelab's own app's workers share the port.
        public var listen: ListenMode
        /// The PostgreSQL server, pool and retries for postgres.
        public var postgres = PostgresOptions()
        /// The redis-server statelab starts keeps an append-only file, so U finds its count again.
        public var redisAppendOnly = false

        public init(settings: DashboardSettings, burstSize: Int = 2_000, storeThreads: Int = 4,
                    redisURL: String? = nil, executable: String = ChildProcess.currentExecutable,
                    compareRuns: [RunSpec] = [], target: DashboardTarget = .ownApp, listen: ListenMode = .reuseport) {
            self.settings = settings
            self.listen = listen
            self.burstSize = burstSize
            self.storeThreads = storeThreads
            self.redisURL = redisURL
            self.executable = executable
            self.compareRuns = compareRuns
            self.target = target
        }
    }

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
            await controller.start()
            for await action in actions { await controller.handle(action) }
        }
        let sampling = Task {
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: Self.sampleInterval)
                await controller.sample()
            }
        }
        tasks.withLockedValue { $0 = [taking, sampling] }
    }

    public func drainEvents() -> [DashboardEvent] { events.drain() }

    public func perform(_ action: DashboardAction) {
        // Pausing must not queue behind a slow action: it only stops the load.
        if case .setPaused(let paused) = action {
            controller.pauseNow(paused)
        }
        inbox.yield(action)
    }

    /// Stops the load, the compare run, the sampling and every process; bounded.
    public func shutdown() {
        inbox.finish()
        controller.pauseNow(true)
        let running = tasks.withLockedValue { $0 }
        let done = DispatchSemaphore(value: 0)
        let controller = self.controller
        Task.detached {
            for task in running { task.cancel() }
            await controller.shutdown()
            for task in running { await task.value }
            done.signal()
        }
        // Every step is bounded (a worker's stop takes at most its grace and 5 s); this is a backstop.
        _ = done.wait(timeout: .now() + .seconds(60))
    }
}
