import Foundation

/// `redis://[[user]:password@]host[:port][/db]`, the form `--redis-url` takes.
///
/// Every connection sends `AUTH [user] password` first when the URL has a
/// password, then `SELECT db` when db is not 0. Only what statelab can use is
/// accepted: no TLS (`rediss://`), no query options. Each rejection says what
/// was wrong. The password never appears in `description` or in errors.
public struct RedisURL: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var database: Int
    /// An ACL user (Redis 6+); nil is the default user.
    public var username: String?
    public var password: String?

    public static let defaultPort = 6379

    public init(host: String, port: Int = RedisURL.defaultPort, database: Int = 0,
                username: String? = nil, password: String? = nil) {
        self.host = host
        self.port = port
        self.database = database
        self.username = username
        self.password = password
    }

    public init(parsing text: String) throws {
        func bad(_ why: String) -> StoreError { StoreError("invalid Redis URL \"\(Self.masked(text))\": \(why)") }

        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard let schemeEnd = trimmed.range(of: "://") else {
            throw bad("expected redis://host:port[/db]")
        }
        let scheme = trimmed[..<schemeEnd.lowerBound].lowercased()
        if scheme == "rediss" { throw bad("TLS (rediss://) is not supported; use redis://") }
        guard scheme == "redis" else { throw bad("scheme must be redis://, not \(scheme)://") }

        var rest = trimmed[schemeEnd.upperBound...]
        // Credentials end at the last '@': host, port and db never contain one, a password may.
        var username: String?
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let userInfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            guard let colon = userInfo.firstIndex(of: ":") else {
                throw bad("write the password after a colon: redis://:PASSWORD@host or redis://USER:PASSWORD@host")
            }
            guard let user = userInfo[..<colon].removingPercentEncoding,
                  let secret = userInfo[userInfo.index(after: colon)...].removingPercentEncoding
            else { throw bad("bad %-escape in the user name or password") }
            guard !secret.isEmpty else { throw bad("the password after ':' is empty; leave out the credentials for a server without one") }
            username = user.isEmpty ? nil : user
            password = secret
        }
        if rest.contains("?") || rest.contains("#") { throw bad("query options are not supported") }

        let address = try ServerAddress(parsing: rest, defaultPort: Self.defaultPort,
                                        example: "redis://[::1]:6379", bad: bad)
        let databasePart = address.path

        var database = 0
        if let databasePart, !databasePart.isEmpty {
            guard databasePart.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int(databasePart), value >= 0, value < 1 << 20 else {
                throw bad("database must be a non-negative number, not \"\(databasePart)\"")
            }
            database = value
        }

        self.init(host: address.host, port: address.port, database: database, username: username, password: password)
    }

    /// `text` with its credentials masked, for errors about a URL that did not parse.
    static func masked(_ text: String) -> String {
        guard let schemeEnd = text.range(of: "://"), let at = text.lastIndex(of: "@"), at >= schemeEnd.upperBound else { return text }
        return text[..<schemeEnd.upperBound] + "***" + text[at...]
    }

    /// The URL with the password masked, for messages and reports.
    public var description: String {
        let hostText = host.contains(":") ? "[\(host)]" : host
        let credentials = password == nil ? "" : "\(username ?? ""):***@"
        return "redis://\(credentials)\(hostText):\(port)" + (database == 0 ? "" : "/\(database)")
    }
}
