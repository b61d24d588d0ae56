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
    /// Sent with every request, and the request's body (JSON unless a Content-Type says otherwise).
    public var headers: [RequestSpec.Header] = []
    public var body: String?
    /// Where the answer carries the count; nil: it carries none.
    public var countField: FieldPath? = FieldPath("count")
    /// Statuses the app gives when it refuses on purpose (a limit, a sold-out stock).
    public var refused: Set<Int> = [409, 429]
    /// What one applied operation adds to the count: -1 for a stock, whose counts are negated.
    public var step = 1
    /// Names the worker that accepted each connection from /proc, when set.
    public var owners: SocketOwners?
    /// Stop at once when every answer so far is 404 or 405: the operation's path is not the app's.
    public var stopWhenMisrouted = false
    /// What of the progress someone shows while the load runs.
    public var progress = ProgressDetail.latency

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
        countField = FieldPath(answerFields.countField)
    }

    /// The app's own operation instead of POST /increment.
    public mutating func use(_ requests: AppRequests) {
        method = requests.op.method
        path = requests.op.path
        headers = requests.op.headers
        body = requests.op.body
        countField = requests.opField
        refused = requests.refused
        step = requests.step
        answerFields = requests.answerFields
    }

    /// The operation as a request.
    var request: RequestSpec { RequestSpec(method: method, path: path, headers: headers, body: body) }
}
