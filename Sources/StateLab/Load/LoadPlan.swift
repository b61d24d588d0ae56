/// When a load run stops issuing new requests.
public enum StopCondition: Sendable, Equatable {
    /// Exactly this many requests in total.
    case count(Int)
    /// Issue requests until this many seconds have passed since the run began.
    case duration(Double)
}

/// What a load run does: where, how much, how fast, over how many connections.
public struct LoadPlan: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var method: String
    public var path: String
    public var stop: StopCondition
    /// Keep-alive connections, each with at most one request in flight.
    public var concurrency: Int
    /// Open model when set: requests per second on a global schedule, latency
    /// measured from each request's intended send time. Closed model when nil.
    public var rate: Double?
    /// Seconds a request (or a connect) may take before it is given up.
    public var timeout: Double
    /// Event loops (threads) for the connections when the generator owns its group.
    public var threads: Int
    /// Consecutive failed connects after which a connection gives up.
    public var maxConnectAttempts: Int
    /// The names of the answer's pid and count fields.
    public var answerFields: AnswerFields

    public init(
        host: String = "127.0.0.1",
        port: Int,
        method: String = "POST",
        path: String = "/increment",
        stop: StopCondition,
        concurrency: Int,
        rate: Double? = nil,
        timeout: Double = 5,
        threads: Int = 1,
        maxConnectAttempts: Int = 5,
        answerFields: AnswerFields = .standard
    ) {
        self.host = host
        self.port = port
        self.method = method
        self.path = path
        self.stop = stop
        self.concurrency = concurrency
        self.rate = rate
        self.timeout = timeout
        self.threads = threads
        self.maxConnectAttempts = maxConnectAttempts
        self.answerFields = answerFields
    }
}
