/// What a worker does while its store cannot be reached: after a failed
/// connect, calls fail at once with that failure until a pause ends, instead
/// of every request connecting again. The pause starts at 20 ms and doubles up
/// to 1 s; the first connect that works ends the outage. Nothing was sent on a
/// failed connect, so its failure says the increment certainly did not apply.
/// A value type: `SessionPool` keeps it under a lock, the postgres pool on its loop.
struct ReconnectBackoff: Sendable {
    static let firstPause: UInt64 = 20_000_000
    static let maxPause: UInt64 = 1_000_000_000

    private var failure: StoreError?
    private var retryAt: UInt64 = 0
    private var pause: UInt64 = 0

    /// The failure to answer with while the pause lasts; nil when a connect may be tried.
    func waiting(now: UInt64 = MonotonicClock.now()) -> StoreError? {
        guard let failure, now < retryAt else { return nil }
        return failure
    }

    /// Records a failed connect and starts the next pause; returns the failure to answer with.
    mutating func failed(_ message: String) -> StoreError {
        pause = failure == nil ? Self.firstPause : min(pause * 2, Self.maxPause)
        let error = StoreError("\(message) (reconnecting)", notCommitted: true)
        failure = error
        retryAt = MonotonicClock.now() + pause
        return error
    }

    mutating func connected() {
        failure = nil
    }
}
