import NIOCore

/// How long and how much a worker's HTTP connection may take.
struct HTTPLimits: Sendable {
    /// A keep-alive connection with no request in flight is closed after this long.
    var idleTimeout: TimeAmount
    /// A request head that has started must be complete within this long (else 408).
    var requestHeadTimeout: TimeAmount
    /// A request body must be complete within this long of its head (else
    /// 408), however slowly it trickles: the idle timeout alone restarts with
    /// every byte.
    var requestBodyTimeout: TimeAmount
    /// A larger request body gets a 413; the API takes no body at all.
    var maxBodyBytes = 1 << 20
    /// After a 413, what the client keeps sending is read and dropped for at
    /// most this long and this much, so the answer is not lost to a TCP reset.
    var drainTime = TimeAmount.seconds(2)
    var drainBytes = 8 << 20

    init(spec: WorkerSpec) {
        idleTimeout = .milliseconds(Int64(spec.idleTimeoutMillis))
        requestHeadTimeout = .milliseconds(Int64(spec.requestHeadTimeoutMillis))
        requestBodyTimeout = requestHeadTimeout
    }
}
