import Foundation

/// One request an app is sent: its method, path, headers and body.
public struct RequestSpec: Sendable, Equatable, CustomStringConvertible {
    public var method: String
    public var path: String
    /// Sent as given, after statelab's own Host and Content-Length.
    public var headers: [Header]
    public var body: String?

    public struct Header: Sendable, Equatable {
        public var name: String
        public var value: String
        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    public init(method: String, path: String, headers: [Header] = [], body: String? = nil) {
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
    }

    /// "POST /posts/1/like".
    public var description: String { "\(method) \(path)" }

    /// The bytes of this request to `host:port`, keep-alive unless `close`.
    public func encoded(host: String, port: Int, close: Bool = false) -> [UInt8] {
        let hostHeader = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        let bodyBytes = Array((body ?? "").utf8)
        var head = "\(method) \(path) HTTP/1.1\r\nHost: \(hostHeader)\r\nContent-Length: \(bodyBytes.count)\r\n"
        if body != nil, !headers.contains(where: { $0.name.lowercased() == "content-type" }) {
            head += "Content-Type: application/json\r\n"
        }
        for header in headers { head += "\(header.name): \(header.value)\r\n" }
        if close { head += "Connection: close\r\n" }
        head += "\r\n"
        return Array(head.utf8) + bodyBytes
    }

    /// Parses "METHOD /path" and, when `field` is allowed, a third word: the
    /// field of the JSON answer ("GET /posts/1 likes"). One line on failure.
    public static func parse(_ text: String, what: String) throws -> (request: RequestSpec, field: FieldPath?) {
        let words = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        let example = "write it like 'POST /posts/1/like' or 'GET /posts/1 likes'"
        guard words.count == 2 || words.count == 3 else {
            throw StoreError("\(what) '\(text)' is not METHOD /path [FIELD]; \(example)")
        }
        let method = words[0].uppercased()
        guard method.allSatisfy({ $0.isASCII && $0.isLetter }), !method.isEmpty else {
            throw StoreError("\(what) '\(text)': '\(words[0])' is not an HTTP method; \(example)")
        }
        try checkPath(words[1], what: what)
        let field = try words.count == 3 ? FieldPath(parsing: words[2], what: what) : nil
        return (RequestSpec(method: method, path: words[1]), field)
    }

    /// A path that can go on a request line: it starts with / and holds no blank or control character.
    static func checkPath(_ path: String, what: String) throws {
        guard path.hasPrefix("/") else { throw StoreError("\(what) path '\(path)' does not start with /; write it like /posts/1/like") }
        guard path.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else {
            throw StoreError("\(what) path '\(path)' holds a blank, a control or a non-ASCII character; percent-encode it")
        }
        guard path.utf8.count <= 2048 else { throw StoreError("\(what) path is longer than 2048 bytes") }
    }

    /// "Name: value", checked so it cannot split the request.
    public static func header(parsing text: String) throws -> Header {
        guard let colon = text.firstIndex(of: ":") else {
            throw StoreError("header '\(text)' is not 'Name: value'; write it like 'Authorization: Bearer abc'")
        }
        let name = String(text[..<colon]).trimmingCharacters(in: .whitespaces)
        let value = String(text[text.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
        let token = CharacterSet(charactersIn: "!#$%&'*+-.^_`|~").union(.alphanumerics)
        guard !name.isEmpty, name.unicodeScalars.allSatisfy({ $0.isASCII && token.contains($0) }) else {
            throw StoreError("header name '\(name)' is not an HTTP token; write it like 'X-Api-Key: abc'")
        }
        guard !value.utf8.contains(where: { $0 < 0x20 && $0 != 0x09 || $0 == 0x7f }) else {
            throw StoreError("header \(name)'s value holds a control character (a line break would split the request)")
        }
        if ["host", "content-length", "transfer-encoding", "connection"].contains(name.lowercased()) {
            throw StoreError("header \(name) is set by statelab itself; leave it out")
        }
        return Header(name: name, value: value)
    }
}

/// Where a number is in a JSON answer: "likes", or "data.stock" for a nested one.
public struct FieldPath: Sendable, Equatable, CustomStringConvertible {
    public var components: [String]

    public init(_ text: String) { components = text.split(separator: ".", omittingEmptySubsequences: false).map(String.init) }

    init(parsing text: String, what: String) throws {
        self.init(text)
        guard !text.isEmpty, components.allSatisfy({ !$0.isEmpty }) else {
            throw StoreError("\(what) field '\(text)' is not a field name or a dotted path such as data.stock")
        }
        guard !text.contains(where: { $0 == "\"" || $0 == "\\" || ($0.asciiValue.map { $0 < 0x20 } ?? false) }) else {
            throw StoreError("\(what) field '\(text)' holds a quote, a backslash or a control character")
        }
    }

    public var description: String { components.joined(separator: ".") }

    /// One plain key: found by `JSONFieldScanner` without decoding the answer.
    var isFlat: Bool { components.count == 1 }

    /// The integer at this path of a JSON document (a number, or a string of
    /// digits), nil when there is none.
    public func integer(in body: some Collection<UInt8>) -> Int? {
        if isFlat {
            let key = Array("\"\(components[0])\"".utf8)
            let found = body.withContiguousStorageIfAvailable { JSONFieldScanner(bytes: UnsafeRawBufferPointer($0)).integer(for: key) }
            return found ?? Array(body).withUnsafeBytes { JSONFieldScanner(bytes: $0).integer(for: key) }
        }
        guard var value = try? JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed]) else { return nil }
        for component in components {
            if let object = value as? [String: Any], let next = object[component] {
                value = next
            } else if let array = value as? [Any], let index = Int(component), array.indices.contains(index) {
                value = array[index]
            } else {
                return nil
            }
        }
        if value is Bool { return nil }
        if let whole = value as? Int { return whole }
        if let double = value as? Double { return double == double.rounded() && abs(double) < 9e15 ? Int(double) : nil }
        if let text = value as? String { return Int(text) }
        return nil
    }
}

/// How a rate limiter's window works, so the check allows what it may
/// rightly accept and no more.
public enum LimitAlgorithm: Sendable, Equatable, CustomStringConvertible {
    /// Windows of length W one after another, aligned to something statelab
    /// cannot see: up to 2N in any interval of length W (N at the end of one
    /// window, N at the start of the next). flask-limiter's and slowapi's default.
    case fixed
    /// A moving (sliding) window: at most N in any interval of length W.
    case moving
    /// GCRA or a token bucket of `burst` tokens refilled at N per W: at most
    /// burst + L x N / W in any interval of length L.
    case tokenBucket(burst: Int)

    public var description: String {
        switch self {
        case .fixed: return "fixed"
        case .moving: return "moving"
        case .tokenBucket(let burst): return "token-bucket:\(burst)"
        }
    }

    /// "fixed", "moving" (or "sliding"), "token-bucket" or "gcra", with ":B" for a burst.
    public static func parse(_ text: String, limit: Int) throws -> LimitAlgorithm {
        let parts = text.lowercased().split(separator: ":", maxSplits: 1).map(String.init)
        switch parts.first ?? "" {
        case "fixed", "fixed-window": if parts.count == 1 { return .fixed }
        case "moving", "moving-window", "sliding", "sliding-window": if parts.count == 1 { return .moving }
        case "token-bucket", "gcra":
            guard parts.count == 2 else { return .tokenBucket(burst: limit) }
            if let burst = Int(parts[1]), burst >= 1, burst <= InputLimits.limitCount.upperBound { return .tokenBucket(burst: burst) }
            throw StoreError("the limit algorithm's burst '\(parts[1])' is not a whole number from 1 to \(InputLimits.limitCount.upperBound)")
        default: break
        }
        throw StoreError("'\(text)' is not a limit algorithm; write fixed, moving, or token-bucket[:BURST] (gcra[:BURST])")
    }
}

/// A limit the app promises: at most `count` operations accepted per
/// `window` seconds across all workers, or in all without a window.
public struct LimitSpec: Sendable, Equatable, CustomStringConvertible {
    public var count: Int
    public var window: Double?
    public var algorithm: LimitAlgorithm
    /// The algorithm was assumed, not named.
    public var assumed: Bool

    public init(count: Int, window: Double? = nil, algorithm: LimitAlgorithm = .fixed, assumed: Bool = false) {
        self.count = count
        self.window = window
        self.algorithm = algorithm
        self.assumed = assumed
    }

    /// "100", "100/1m", "100/minute", "50 per minute", "10/s".
    public static func parse(_ text: String) throws -> LimitSpec {
        let lowered = text.lowercased().replacingOccurrences(of: " per ", with: "/").replacingOccurrences(of: " ", with: "")
        let parts = lowered.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let example = "write it like 100 (in all), 100/1m or 50/minute"
        guard let count = Int(parts[0]), InputLimits.limitCount.contains(count) else {
            throw StoreError("limit '\(text)': the count is not a whole number from 1 to \(InputLimits.limitCount.upperBound); \(example)")
        }
        guard parts.count == 2 else { return LimitSpec(count: count) }
        let units: [String: Double] = ["s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60,
                                       "h": 3600, "hour": 3600, "d": 86_400, "day": 86_400]
        let seconds: Double
        if let unit = units[parts[1]] {
            seconds = unit
        } else if let parsed = DurationText.parse(parts[1]) {
            seconds = parsed.seconds
        } else {
            throw StoreError("limit '\(text)': '\(parts[1])' is not a window; \(example)")
        }
        guard seconds >= 0.001, seconds <= 86_400 else { throw StoreError("limit '\(text)': the window must be from 1ms to 1 day") }
        return LimitSpec(count: count, window: seconds, algorithm: .fixed, assumed: true)
    }

    /// "100 per 1m", or "100 in all".
    public var description: String {
        guard let window else { return "\(ReportNumbers.grouped(count)) in all" }
        return "\(ReportNumbers.grouped(count)) per \(DurationText.format(.nanoseconds(Int64(window * 1e9))))"
    }
}

/// The requests of the app a run drives, and what their answers mean. The
/// default is statelab's counter API (POST /increment, GET /report, POST
/// /reset, `{"count", "pid"}`); any app names its own. See Scenarios/README.md.
public struct AppRequests: Sendable, Equatable {
    /// The operation the load sends, and where its answer carries the count (optional).
    public var op: RequestSpec
    public var opField: FieldPath?
    /// The read, and where its answer carries the value; nil: nothing to read (a limit alone).
    public var read: RequestSpec?
    public var readField: FieldPath
    /// The request that puts the state back; nil: none (a baseline is read instead).
    public var reset: RequestSpec?
    /// Statuses the app gives when it chose to refuse (certainly not applied, counted as refused).
    public var refused: Set<Int>
    /// What one applied operation adds to the value read: 1, or -1 for a stock.
    public var step: Int
    /// At most this many operations accepted (per window), across all workers.
    public var limit: LimitSpec?
    /// The answer's pid field, a cross-check of the pid /proc finds.
    public var pidField: String

    public init(op: RequestSpec = RequestSpec(method: "POST", path: "/increment"), opField: FieldPath? = FieldPath("count"),
                read: RequestSpec? = RequestSpec(method: "GET", path: "/report"), readField: FieldPath = FieldPath("count"),
                reset: RequestSpec? = RequestSpec(method: "POST", path: "/reset"), refused: Set<Int> = [409, 429],
                step: Int = 1, limit: LimitSpec? = nil, pidField: String = "pid") {
        self.op = op
        self.opField = opField
        self.read = read
        self.readField = readField
        self.reset = reset
        self.refused = refused
        self.step = step
        self.limit = limit
        self.pidField = pidField
    }

    /// statelab's counter API.
    public static let counterAPI = AppRequests()

    /// Checks a counter (there is a read) and/or a limit.
    public var checksCounter: Bool { read != nil }

    /// The counter API with other names for the answer's pid and count (--pid-field, --count-field).
    public mutating func name(_ fields: AnswerFields) {
        pidField = fields.pidField
        opField = FieldPath(fields.countField)
        readField = FieldPath(fields.countField)
    }

    /// The answer fields the load's byte scanner looks for.
    public var answerFields: AnswerFields { AnswerFields(pidField: pidField, countField: opField?.description ?? "count") }

    /// A value as read, turned into the count the checker wants: each applied
    /// operation adds one (a stock read counts down, so it is negated).
    func normalized(_ value: Int) -> Int { step < 0 ? -value : value }

    /// Why these requests cannot make a run, if they cannot.
    public var problem: String? {
        if read == nil && limit == nil {
            return "nothing to check: give the read (--read 'GET /path FIELD'), where the count is, or a limit (--limit 100/1m)"
        }
        if step != 1 && step != -1 { return "the step must be 1 (a counter) or -1 (a stock counted down), got \(step)" }
        if refused.contains(where: { !(400..<500).contains($0) }) {
            return "refused statuses must be 4xx (a 2xx applied, a 5xx may have); got \(refused.sorted().map(String.init).joined(separator: ","))"
        }
        return nil
    }
}
