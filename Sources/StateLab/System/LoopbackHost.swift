import NIOConcurrencyHelpers
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// Where statelab may send anything: an address on this machine. A host is
/// accepted only as a numeric literal in 127.0.0.0/8, `::1` (or an IPv4-mapped
/// 127.x), or the word `localhost`, which means 127.0.0.1 without asking any
/// resolver. Names are never resolved: `127.evil.test` or `127.0.0.1.nip.io`
/// look like loopback and resolve anywhere, so a name is refused even when
/// the resolver would say 127.0.0.1.
///
/// Parsing a URL checks this once; every connect checks it again on the exact
/// address it is about to use (`address(host:port:)`), so no path from a
/// string to a socket can skip it. Two exceptions, both made by statelab or
/// the user and never by input: a host of this statelab's own `--hosts`
/// network while its link exists, and one address the user named with
/// `--allow-remote`.
public enum LoopbackHost {
    public struct Refusal: Error, Equatable, CustomStringConvertible {
        public let host: String
        /// `--allow-remote` was given something that is not one numeric address.
        public var remote = false

        public init(host: String, remote: Bool = false) {
            self.host = host
            self.remote = remote
        }

        public var description: String {
            if remote {
                return "--allow-remote '\(host)' is not one host's numeric address; name the host as an IPv4 or IPv6 address (names are not resolved: statelab never asks a resolver)"
            }
            return "host '\(host)' is not a loopback address; statelab connects only to 127.0.0.0/8, ::1 or localhost, written as such (names are not resolved), or to a host of its own --hosts network while it exists; to load a host off this machine, name it with --allow-remote \(host)"
        }
    }

    /// The host as a numeric address text ("localhost" becomes "127.0.0.1"),
    /// or nil when it is not a loopback literal. Brackets around IPv6 are allowed.
    public static func literal(_ host: String) -> String? {
        var bare = Substring(host)
        if bare.hasPrefix("["), bare.hasSuffix("]") { bare = bare.dropFirst().dropLast() }
        if bare.lowercased() == "localhost" { return "127.0.0.1" }
        guard let address = numeric(String(bare), port: 0), isPermitted(address) else { return nil }
        return String(bare)
    }

    /// The socket address to connect to, checked as loopback right before use.
    public static func address(host: String, port: Int) throws(Refusal) -> SocketAddress {
        guard let text = literal(host), (0...65_535).contains(port), let address = numeric(text, port: port), isPermitted(address) else {
            throw Refusal(host: host)
        }
        return address
    }

    /// Loopback, or an IPv4 address on the subnet of one of statelab's own
    /// host-network links in this network namespace (`HostNetwork`): a host
    /// statelab made, which only its own bridge and veths reach.
    public static func isPermitted(_ address: SocketAddress) -> Bool {
        if isLoopback(address) { return true }
        if let text = address.ipAddress, remote.withLockedValue({ $0.contains(text) }) { return true }
        guard case .v4(let v4) = address else { return false }
        return InterfaceAddresses.isStatelabHost(UInt32(bigEndian: v4.address.sin_addr.s_addr))
    }

    /// Addresses the user named with `--allow-remote`, as inet_ntop writes them.
    private static let remote = NIOLockedValueBox<Set<String>>([])

    /// Lets statelab connect to one address off this machine, named by the
    /// user (`--allow-remote HOST`): a numeric address only (no resolver is
    /// asked), and not a range. Throws with the fix for anything else.
    public static func allowRemote(_ host: String) throws(Refusal) {
        var bare = Substring(host)
        if bare.hasPrefix("["), bare.hasSuffix("]") { bare = bare.dropFirst().dropLast() }
        guard let address = numeric(String(bare), port: 0), let text = address.ipAddress,
              !isUnspecifiedOrBroadcast(address) else {
            throw Refusal(host: host, remote: true)
        }
        _ = remote.withLockedValue { $0.insert(text) }
    }

    /// Whether `host` is an address the user allowed (`--allow-remote`), not this machine's.
    public static func isRemote(_ host: String) -> Bool {
        var bare = Substring(host)
        if bare.hasPrefix("["), bare.hasSuffix("]") { bare = bare.dropFirst().dropLast() }
        guard let address = numeric(String(bare), port: 0), !isLoopback(address), let text = address.ipAddress else { return false }
        return remote.withLockedValue { $0.contains(text) }
    }

    /// 0.0.0.0, ::, 255.255.255.255 and multicast: never one host.
    private static func isUnspecifiedOrBroadcast(_ address: SocketAddress) -> Bool {
        guard let text = address.ipAddress else { return true }
        if text == "0.0.0.0" || text == "::" || text == "255.255.255.255" { return true }
        if case .v4(let v4) = address { return UInt32(bigEndian: v4.address.sin_addr.s_addr) >> 28 == 0xE }
        return text.lowercased().hasPrefix("ff")
    }

    /// True for 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104.
    public static func isLoopback(_ address: SocketAddress) -> Bool {
        switch address {
        case .v4(let v4):
            return UInt32(bigEndian: v4.address.sin_addr.s_addr) >> 24 == 127
        case .v6(let v6):
            let bytes = withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
            if bytes[0..<15].allSatisfy({ $0 == 0 }) && bytes[15] == 1 { return true }
            return bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF && bytes[12] == 127
        case .unixDomainSocket:
            return false
        }
    }

    /// The same check (`isPermitted`) on a raw address from the C library.
    static func isPermitted(_ address: UnsafePointer<sockaddr>) -> Bool {
        switch Int32(address.pointee.sa_family) {
        case AF_INET:
            return address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                isPermitted(SocketAddress($0.pointee, host: ""))
            }
        case AF_INET6:
            return address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
                isPermitted(SocketAddress($0.pointee, host: ""))
            }
        default:
            return false
        }
    }

    /// A numeric address only (inet_pton): no resolver is ever asked.
    private static func numeric(_ text: String, port: Int) -> SocketAddress? {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 < 0x80 }) else { return nil }
        return try? SocketAddress(ipAddress: text, port: port)
    }
}
