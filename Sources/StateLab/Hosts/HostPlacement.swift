/// One app host of a `--hosts` network, as its supervisor needs it: the
/// namespaces its workers (and manager) join, the address they listen on,
/// and statelab's control directory, bound into every host at the same path,
/// where the host's run directory goes. The app's state (SQLite file,
/// manager socket, shm segment) stays on the host's own /tmp and /dev/shm.
public struct HostPlacement: Sendable, Equatable {
    /// 0-based; "host 1" in words.
    public var index: Int
    public var address: String
    public var namespaces: HostNamespaces
    public var control: String

    public init(index: Int, address: String, namespaces: HostNamespaces, control: String) {
        self.index = index
        self.address = address
        self.namespaces = namespaces
        self.control = control
    }

    public var name: String { "host \(index + 1)" }

    /// Where a host's app listens: the port is its own on its own stack, so every host uses the same.
    public static let appPort = 8000
    /// Where the app's own state goes, as the host sees it.
    public static let stateDirectory = "/tmp"

    public static func == (a: HostPlacement, b: HostPlacement) -> Bool {
        a.index == b.index && a.address == b.address && a.namespaces === b.namespaces && a.control == b.control
    }
}
