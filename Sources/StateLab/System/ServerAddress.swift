/// The `host[:port][/path]` part of a server URL (after the credentials), as
/// redis:// and postgres:// URLs write it: a bracketed IPv6 literal, an IPv4
/// literal or localhost (loopback only),
/// an optional port, and what follows the first '/'.
struct ServerAddress {
    var host: String
    var port: Int
    /// After the first '/', nil when there is none.
    var path: Substring?

    /// "127.0.0.1:6379", "[::1]:6379": a host and port as messages show them.
    static func text(host: String, port: Int) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// `bad` makes the error for one reason; `example` is the scheme's URL
    /// with an IPv6 host (redis://[::1]:6379).
    init(parsing text: Substring, defaultPort: Int, example: String, bad: (String) -> StoreError) throws {
        var rest = text
        if let slash = rest.firstIndex(of: "/") {
            path = rest[rest.index(after: slash)...]
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
            if hostPart.contains(":") { throw bad("write an IPv6 host in brackets, like \(example)") }
        } else {
            hostPart = rest
        }
        guard !hostPart.isEmpty else { throw bad("missing host") }
        guard hostPart.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == ":" || $0 == "_" }) else {
            throw bad("host \"\(hostPart)\" has characters a host name cannot have")
        }
        host = String(hostPart)
        port = defaultPort
        if let portPart {
            guard !portPart.isEmpty, portPart.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int(portPart),
                  (1...65_535).contains(value) else {
                throw bad("port must be a number from 1 to 65535, not \"\(portPart)\"")
            }
            port = value
        }
        // Servers statelab is pointed at are on this machine too (LoopbackHost says why no name is resolved).
        guard LoopbackHost.literal(host) != nil else {
            throw bad("host \"\(host)\" is not a loopback address; write 127.0.0.1, [::1] or localhost (names are never resolved)")
        }
    }
}
