import Foundation

/// An http URL on this machine (127.x, localhost, ::1): where statelab may
/// send load. `--url` and a scenario's `target: {url}` both parse with this.
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
        let bare = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        guard bare == "localhost" || bare.hasPrefix("127.") || bare == "::1" else { return .failure(.notLoopback(host: host)) }
        return .success(LoopbackURL(host: bare == "localhost" ? "127.0.0.1" : bare, port: components.port ?? 80))
    }

    /// "http://127.0.0.1:8000", "http://[::1]:8000".
    public var description: String { "http://\(host.contains(":") ? "[\(host)]" : host):\(port)" }
}
