/// Where statelab starts a server (redis-server, PostgreSQL): on loopback, or
/// on the store host of a `--hosts` network, listening on its address.
public struct ServerPlacement: Sendable {
    public var host: String
    public var namespaces: HostNamespaces?
    /// The network its clients connect from (PostgreSQL lets it in), as CIDR.
    public var clients: String?

    public static let loopback = ServerPlacement(host: "127.0.0.1", namespaces: nil, clients: nil)

    public init(host: String, namespaces: HostNamespaces?, clients: String?) {
        self.host = host
        self.namespaces = namespaces
        self.clients = clients
    }
}
