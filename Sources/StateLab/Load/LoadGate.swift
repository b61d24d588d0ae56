import Atomics
import NIOConcurrencyHelpers

/// Holds a load's connections between requests, so a fault step can act on a
/// quiet app: no increment in flight while it reads the count before a store
/// is killed, and after it is back. A connection checks the gate before it
/// claims each request (one relaxed atomic load while open) and parks there
/// while it is closed; the requests already in flight end as usual.
public final class LoadGate: Sendable {
    private let closed = ManagedAtomic(false)
    /// Nanoseconds the gate was closed, in holds that have ended: a
    /// duration-limited load runs that much longer, so a held load still
    /// gets its full time of increments.
    private let heldNanos = ManagedAtomic<UInt64>(0)
    private let state = NIOLockedValueBox(State())

    private struct State {
        var parked: [LoadConnection] = []
        var finished = 0
        var connections = 0
        var closedAt: UInt64?
    }

    public init() {}

    /// Stop handing out requests; `quiet` turns true once those in flight have ended.
    public func close() {
        state.withLockedValue { state in
            if state.closedAt == nil { state.closedAt = MonotonicClock.now() }
            closed.store(true, ordering: .sequentiallyConsistent)
        }
    }

    /// Let the parked connections go on.
    public func open() {
        let parked: [LoadConnection] = state.withLockedValue { state in
            if let since = state.closedAt {
                heldNanos.wrappingIncrement(by: MonotonicClock.now() &- since, ordering: .relaxed)
                state.closedAt = nil
            }
            closed.store(false, ordering: .sequentiallyConsistent)
            defer { state.parked = [] }
            return state.parked
        }
        for connection in parked { connection.unpark() }
    }

    /// Every connection is parked or finished: nothing is in flight.
    public var quiet: Bool {
        state.withLockedValue { $0.parked.count + $0.finished >= $0.connections }
    }

    /// How long the gate has held the load so far, in ended holds.
    var held: UInt64 { heldNanos.load(ordering: .relaxed) }

    /// Polls `quiet` every millisecond for at most `timeout` seconds; true once quiet.
    public func waitQuiet(timeout: Double) async -> Bool {
        let deadline = MonotonicClock.now() + UInt64(timeout * 1e9)
        while !quiet {
            if MonotonicClock.now() > deadline || Task.isCancelled { return false }
            try? await Task.sleep(nanoseconds: 1_000_000)
        }
        return true
    }

    func setConnections(_ count: Int) {
        state.withLockedValue { state in
            state.parked = []
            state.finished = 0
            state.connections = count
        }
    }

    /// On the connection's loop, before it claims a request: true when it parked.
    func parkIfClosed(_ connection: LoadConnection) -> Bool {
        guard closed.load(ordering: .relaxed) else { return false }
        return state.withLockedValue { state in
            // Opened meanwhile: go on.
            guard closed.load(ordering: .sequentiallyConsistent) else { return false }
            state.parked.append(connection)
            return true
        }
    }

    func finished() { state.withLockedValue { $0.finished += 1 } }

    /// A connection that stops while parked (the load was stopped).
    func unparked(_ connection: LoadConnection) {
        state.withLockedValue { state in state.parked.removeAll { $0 === connection } }
    }
}
