/// The manager's wire protocol, shared by `ManagerServer` and `ManagerSession`.
///
/// Every message in both directions is a frame: a 4-byte big-endian payload
/// length, then the payload. A length above `maxFrameLength` is refused before
/// anything is allocated, so a hostile length can't make the server grow.
///
/// A connection starts with authentication, as Python's multiprocessing does:
///
///     server -> client   32 random bytes (the challenge)
///     client -> server   HMAC-SHA256(key, challenge), 32 bytes
///     server -> client   "welcome", or "failure" and the server closes
///
/// Then requests and replies are ASCII text, one per frame, answered in order:
///
///     get          -> "ok N"     the counter
///     set N        -> "ok"       sets the counter to N
///     incr         -> "ok N"     adds 1 on the server, answers the new value
///     reset        -> "ok"       sets the counter to 0
///     lock         -> "granted"  once this connection holds the lock; while
///                                another connection holds it, the request waits
///                                in a FIFO queue (the reply is simply delayed)
///     unlock       -> "ok"       releases the lock (an error if not the holder)
///     pid P        -> "ok"       declares the client's process id (P > 0), once
///                                per connection; `ManagerSession` sends it right
///                                after authenticating
///     holder       -> "ok P"     the declared pid of the connection holding the
///                                lock now: 0 when the lock is free, -1 when its
///                                holder declared no pid
///     releases     -> "ok N"     how many connections closed holding the lock
///     released     -> "ok P"     the declared pid of the last of them: 0 when
///                                none did, -1 when it declared no pid
///
/// Any failure is answered `error <reason>`. A connection that closes while it
/// holds the lock releases it to the next waiter. `holder`, `releases` and
/// `released` let a supervisor name the worker to kill and then see its lock
/// freed; every reply stays one word or one integer.
public enum ManagerProtocol {
    /// Largest payload accepted in either direction.
    public static let maxFrameLength = 4096
    /// Bytes in the challenge and in its HMAC-SHA256 answer.
    public static let challengeLength = 32
    static let welcome = "welcome"
    static let failure = "failure"
    static let granted = "granted"
    /// The pid `holder` and `released` answer for a client that declared none.
    public static let undeclaredPID: Int32 = -1
}

/// A request a client sends after authenticating.
enum ManagerRequest: Equatable, Sendable {
    case get
    case set(Int)
    case incr
    case reset
    case lock
    case unlock
    case declarePID(Int32)
    case holder
    case releases
    case released

    /// Parses one request payload; throws with a reason the server sends back.
    init(parsing text: String) throws(ManagerRequestError) {
        let words = text.split(separator: " ", omittingEmptySubsequences: false)
        guard let op = words.first else { throw .malformed("empty request") }
        switch (op, words.count) {
        case ("get", 1): self = .get
        case ("incr", 1): self = .incr
        case ("reset", 1): self = .reset
        case ("lock", 1): self = .lock
        case ("unlock", 1): self = .unlock
        case ("holder", 1): self = .holder
        case ("releases", 1): self = .releases
        case ("released", 1): self = .released
        case ("set", 2):
            guard let value = Int(words[1]) else { throw .malformed("set needs an integer, got \(words[1].prefix(40))") }
            self = .set(value)
        case ("pid", 2):
            guard let pid = Int32(words[1]), pid > 0 else {
                throw .malformed("pid needs a positive process id, got \(words[1].prefix(40))")
            }
            self = .declarePID(pid)
        case ("get", _), ("incr", _), ("reset", _), ("lock", _), ("unlock", _), ("set", _),
             ("pid", _), ("holder", _), ("releases", _), ("released", _):
            throw .malformed("wrong number of arguments for \(op)")
        default:
            throw .malformed("unknown operation \(String(op.prefix(40)).debugDescription)")
        }
    }

    /// The payload text the client sends.
    var text: String {
        switch self {
        case .get: return "get"
        case .set(let value): return "set \(value)"
        case .incr: return "incr"
        case .reset: return "reset"
        case .lock: return "lock"
        case .unlock: return "unlock"
        case .declarePID(let pid): return "pid \(pid)"
        case .holder: return "holder"
        case .releases: return "releases"
        case .released: return "released"
        }
    }
}

enum ManagerRequestError: Error, Equatable {
    case malformed(String)

    var reason: String {
        switch self {
        case .malformed(let reason): return reason
        }
    }
}

/// A reply the server sends to an authenticated client.
enum ManagerReply: Equatable, Sendable {
    case ok
    case value(Int)
    case granted
    case error(String)

    var text: String {
        switch self {
        case .ok: return "ok"
        case .value(let value): return "ok \(value)"
        case .granted: return ManagerProtocol.granted
        case .error(let reason): return "error \(reason)"
        }
    }

    /// Parses a reply payload; anything unrecognised becomes an `.error` describing it.
    init(parsing text: String) {
        if text == "ok" {
            self = .ok
        } else if text == ManagerProtocol.granted {
            self = .granted
        } else if text.hasPrefix("ok "), let value = Int(text.dropFirst(3)) {
            self = .value(value)
        } else if text.hasPrefix("error ") {
            self = .error(String(text.dropFirst(6)))
        } else {
            self = .error("unexpected reply \(text.prefix(60).debugDescription)")
        }
    }
}
