/// How the workers of an app share its one port.
public enum ListenMode: String, Sendable, Codable, CaseIterable {
    /// Every worker binds the port with SO_REUSEPORT and has its own accept
    /// queue (`gunicorn --reuse-port`): the kernel hashes each new connection
    /// to one queue, so keep-alive connections spread about evenly.
    case reuseport
    /// The supervisor binds and listens once; every worker inherits that socket
    /// and accepts from it (uvicorn, gunicorn's default): the worker that wakes
    /// first takes the connection, so the share can be far from even.
    case shared

    /// The fd number the listening socket has in a worker, in `shared` mode
    /// (3 is the shm segment's).
    public static let inheritedFD: Int32 = 4
}
