import Foundation

/// An http URL on this machine (a 127.x or ::1 literal, or localhost): where
/// statelab may send load. `--url` and a scenario's `target: {url}` both parse
/// with this; `LoopbackHost` says why names are not resolved.
public struct LoopbackURL: Sendable, Equatable, CustomStringConvertible {
    public enum Problem: Error, Equatable {
        case notHTTP
        case notLoopback(host: String)
    }

    public let host: String
    public let port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public static func parse(_ text: String) -> Result<LoopbackURL, Problem> {
        guard let components = URLComponents(string: text), components.scheme == "http",
              let host = components.host, !host.isEmpty else { return .failure(.notHTTP) }
        guard let literal = LoopbackHost.literal(host) else { return .failure(.notLoopback(host: host)) }
        let port = components.port ?? 80
        guard (1...65_535).contains(port) else { return .failure(.notHTTP) }
        return .success(LoopbackURL(host: literal, port: port))
    }

    /// "http://127.0.0.1:8000", "http://[::1]:8000".
    public var description: String { "http://\(host.contains(":") ? "[\(host)]" : host):\(port)" }
}
