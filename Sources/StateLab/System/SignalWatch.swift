import Dispatch
import Foundation

/// Turns SIGINT/SIGTERM into a flag a loop can check, instead of dying mid-cleanup.
public final class SignalWatch: @unchecked Sendable {
    private let semaphore = DispatchSemaphore(value: 0)
    private var sources: [DispatchSourceSignal] = []
    private let lock = NSLock()
    private var receivedSignal: Int32?
    private var onSignal: (@Sendable () -> Void)?

    public init(signals: [Int32] = [SIGINT, SIGTERM]) {
        for number in signals {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [weak self] in self?.fire(number) }
            source.resume()
            sources.append(source)
        }
    }

    private func fire(_ number: Int32) {
        lock.lock()
        let first = receivedSignal == nil
        if first { receivedSignal = number }
        let action = onSignal
        lock.unlock()
        semaphore.signal()
        if first { action?() }
    }

    public var fired: Bool { received != nil }

    /// The first signal that came, if one did.
    public var received: Int32? { lock.lock(); defer { lock.unlock() }; return receivedSignal }

    public func wait(seconds: Double) {
        _ = semaphore.wait(timeout: .now() + seconds)
    }

    /// Runs `body` in a task that the first signal cancels. Cancellation stops
    /// the load at once; each runner then stops its processes and removes its
    /// run directory on the way out, so the caller only reports and exits.
    public func cancelling<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let task = Task { try await body() }
        if install({ task.cancel() }) { task.cancel() }
        return try await task.value
    }

    /// Sets what the first signal does; true when one already came.
    private func install(_ action: @escaping @Sendable () -> Void) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        onSignal = action
        return receivedSignal != nil
    }

    /// The exit status a shell gives a program that a signal stopped: 130 for SIGINT, 143 for SIGTERM.
    public var exitStatus: Int32 { 128 + (received ?? SIGTERM) }

    public var name: String { received == SIGINT ? "SIGINT" : "SIGTERM" }
}
