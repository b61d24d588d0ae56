import Foundation

/// `redis://host[:port][/db]`, the form `--redis-url` takes.
///
/// Only what statelab can use is accepted: no TLS (`rediss://`), no
/// credentials, no query options. Each rejection says what was wrong.
public struct RedisURL: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var database: Int

    public static let defaultPort = 6379

    public init(host: String, port: Int = RedisURL.defaultPort, database: Int = 0) {
        self.host = host
        self.port = port
        self.database = database
    }

    public init(parsing text: String) throws {
        func bad(_ why: String) -> StoreError { StoreError("invalid Redis URL \"\(text)\": \(why)") }

        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard let schemeEnd = trimmed.range(of: "://") else {
            throw bad("expected redis://host:port[/db]")
        }
        let scheme = trimmed[..<schemeEnd.lowerBound].lowercased()
        if scheme == "rediss" { throw bad("TLS (rediss://) is not supported; use redis://") }
        guard scheme == "redis" else { throw bad("scheme must be redis://, not \(scheme)://") }

        var rest = trimmed[schemeEnd.upperBound...]
        if rest.contains("?") || rest.contains("#") { throw bad("query options are not supported") }
        if rest.contains("@") { throw bad("credentials are not supported; run redis-server without a password on loopback") }

        var databasePart: Substring?
        if let slash = rest.firstIndex(of: "/") {
            databasePart = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }

        // Host: a bracketed IPv6 literal, or everything before the last ':'.
        var hostPart: Substring
        var portPart: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw bad("unclosed [ in IPv6 host") }
            hostPart = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw bad("expected :port after ]") }
                portPart = after.dropFirst()
            }
        } else if let colon = rest.lastIndex(of: ":") {
            hostPart = rest[..<colon]
            portPart = rest[rest.index(after: colon)...]
            if hostPart.contains(":") { throw bad("write an IPv6 host in brackets, like redis://[::1]:6379") }
        } else {
            hostPart = rest
        }
        guard !hostPart.isEmpty else { throw bad("missing host") }
        guard hostPart.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == ":" || $0 == "_" }) else {
            throw bad("host \"\(hostPart)\" has characters a host name cannot have")
        }

        var port = Self.defaultPort
        if let portPart {
            guard !portPart.isEmpty, portPart.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int(portPart), (1...65_535).contains(value) else {
                throw bad("port must be a number from 1 to 65535, not \"\(portPart)\"")
            }
            port = value
        }

        var database = 0
        if let databasePart, !databasePart.isEmpty {
            guard databasePart.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int(databasePart), value >= 0, value < 1 << 20 else {
                throw bad("database must be a non-negative number, not \"\(databasePart)\"")
            }
            database = value
        }

        self.init(host: String(hostPart), port: port, database: database)
    }

    public var description: String {
        let hostText = host.contains(":") ? "[\(host)]" : host
        return "redis://\(hostText):\(port)" + (database == 0 ? "" : "/\(database)")
    }
}
