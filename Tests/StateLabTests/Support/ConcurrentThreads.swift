import Foundation
import Synchronization

/// Runs a body on several real threads at once (not a pool that may run them
/// one after another), so store sessions race as workers' threads would.
enum ConcurrentThreads {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Starts `count` threads, each running `body(index)`, which returns the
    /// values it produced; waits (at most `timeout` s) for all of them and
    /// returns every value, or throws the first error a thread threw.
    static func run<Value: Sendable>(
        _ count: Int, timeout: Double = 60,
        _ body: @escaping @Sendable (Int) throws -> [Value]
    ) throws -> [Value] {
        let results = Collected<Value>()
        let done = DispatchSemaphore(value: 0)
        // Every thread waits here until all exist, so their work overlaps for certain.
        let start = DispatchSemaphore(value: 0)
        for index in 0..<count {
            Thread.detachNewThread {
                start.wait()
                defer { done.signal() }
                do {
                    let values = try body(index)
                    results.state.withLock { $0.values += values }
                } catch {
                    let text = "thread \(index): \(error)"
                    results.state.withLock { $0.errors.append(text) }
                }
            }
        }
        for _ in 0..<count { start.signal() }
        let deadline = DispatchTime.now() + timeout
        for _ in 0..<count where done.wait(timeout: deadline) == .timedOut {
            throw Failure(description: "threads did not finish within \(timeout) s")
        }
        let (values, errors) = results.state.withLock { ($0.values, $0.errors) }
        if let first = errors.first { throw Failure(description: first) }
        return values
    }
}

/// What the threads produced; a class so escaping closures can share the Mutex.
private final class Collected<Value: Sendable>: Sendable {
    let state = Mutex<(values: [Value], errors: [String])>(([], []))
}
