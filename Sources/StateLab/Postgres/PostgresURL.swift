import Foundation

/// `postgres://user[:password]@host[:port][/database]`, the form
/// `--postgres-url` takes (`postgresql://` too). The database defaults to the
/// user name, as with libpq. Only what statelab can use is accepted: no TLS
/// settings or other query options. The password never appears in
/// `description` or in errors.
public struct PostgresURL: Sendable, Equatable, Codable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String

    public static let defaultPort = 5432

    public init(host: String, port: Int = PostgresURL.defaultPort, user: String, password: String?, database: String) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
    }

    public init(parsing text: String) throws {
        func bad(_ why: String) -> StoreError {
            StoreError("invalid PostgreSQL URL \"\(Self.masked(text))\": \(why)")
        }
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard let schemeEnd = trimmed.range(of: "://") else {
            throw bad("expected postgres://user:password@host:port/database")
        }
        let scheme = trimmed[..<schemeEnd.lowerBound].lowercased()
        guard scheme == "postgres" || scheme == "postgresql" else {
            throw bad("scheme must be postgres://, not \(scheme)://")
        }
        var rest = trimmed[schemeEnd.upperBound...]
        if rest.contains("?") || rest.contains("#") {
            throw bad("query options are not supported (statelab connects without TLS); leave out everything after '?'")
        }
        // Credentials end at the last '@': host, port and database never contain one, a password may.
        guard let at = rest.lastIndex(of: "@") else {
            throw bad("name the user: postgres://USER:PASSWORD@host:port/database")
        }
        let userInfo = rest[..<at]
        rest = rest[rest.index(after: at)...]
        let userPart: Substring
        var password: String?
        if let colon = userInfo.firstIndex(of: ":") {
            userPart = userInfo[..<colon]
            guard let secret = userInfo[userInfo.index(after: colon)...].removingPercentEncoding else {
                throw bad("bad %-escape in the password")
            }
            password = secret.isEmpty ? nil : secret
        } else {
            userPart = userInfo
        }
        guard let user = userPart.removingPercentEncoding, !user.isEmpty else {
            throw bad("the user name is empty or has a bad %-escape")
        }

        let address = try ServerAddress(parsing: rest, defaultPort: Self.defaultPort,
                                        example: "postgres://user@[::1]:5432/db", bad: bad)
        let databasePart = address.path
        var database = user
        if let databasePart, !databasePart.isEmpty {
            guard let name = databasePart.removingPercentEncoding, !name.contains("/") else {
                throw bad("the database name has a bad %-escape or a '/'")
            }
            database = name
        }
        self.init(host: address.host, port: address.port, user: user, password: password, database: database)
    }

    /// The URL without its password.
    public var description: String {
        let hostText = host.contains(":") ? "[\(host)]" : host
        let credentials = password == nil ? user : "\(user):***"
        return "postgres://\(credentials)@\(hostText):\(port)/\(database)"
    }

    /// The full URL, password included, for an app statelab launches (`{postgres_url}`).
    public var secretText: String {
        func escape(_ part: String) -> String {
            part.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? part
        }
        let hostText = host.contains(":") ? "[\(host)]" : host
        let credentials = password.map { "\(escape(user)):\(escape($0))" } ?? escape(user)
        return "postgres://\(credentials)@\(hostText):\(port)/\(escape(database))"
    }

    /// `text` with the password (between the first ':' after the scheme and the last '@') replaced by ***.
    static func masked(_ text: String) -> String {
        guard let schemeEnd = text.range(of: "://"), let at = text.lastIndex(of: "@"), at > schemeEnd.upperBound,
              let colon = text[schemeEnd.upperBound..<at].firstIndex(of: ":")
        else { return text }
        return String(text[..<text.index(after: colon)]) + "***" + String(text[at...])
    }
}
