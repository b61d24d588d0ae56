import Foundation

/// A ready-made event stream for engines: any thread posts, the UI drains.
/// The lock is only held to append or swap an array, so draining never waits on the load.
public final class DashboardEventQueue: @unchecked Sendable {
    private let lock = NSLock()
    private var pending: [DashboardEvent] = []

    public init() {}

    public func post(_ event: DashboardEvent) {
        lock.lock()
        pending.append(event)
        lock.unlock()
    }

    public func drain() -> [DashboardEvent] {
        lock.lock()
        defer { lock.unlock() }
        let events = pending
        pending.removeAll(keepingCapacity: true)
        return events
    }
}
