import CSupport
import Foundation
import NIOConcurrencyHelpers
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// Which worker accepted a connection to an app on this machine, found
/// without the app's help: the server side of the connection (the socket
/// whose peer is the client's own address and port), its inode, and the
/// process whose /proc/PID/fd holds that inode.
///
/// The socket is found by one exact NETLINK_SOCK_DIAG lookup of the address
/// quadruple (the kernel's table behind /proc/net/tcp and tcp6, as `ss` reads
/// it): a read of /proc/net/tcp costs in proportion to every socket on the
/// machine, and an app that closes each connection (gunicorn's sync workers)
/// leaves thousands in TIME_WAIT. A connection still in the accept queue has
/// no inode yet; `poll` says so and the caller asks again.
///
/// It never guesses: a connection it cannot place (another network
/// namespace, a process whose descriptors it may not read) is unknown, with
/// the reason kept for the report.
public final class SocketOwners: Sendable, Equatable {
    public static func == (lhs: SocketOwners, rhs: SocketOwners) -> Bool { lhs === rhs }

    /// The processes that may hold the server side.
    public enum Scope: Sendable {
        /// The processes of a launched command's process group.
        case group(Int32)
        /// Any process on this machine (an app at a URL); those found before are searched first.
        case anyProcess
    }

    public enum Lookup: Sendable, Equatable {
        case pid(Int32)
        /// The worker has not accepted the connection yet: ask again shortly.
        case notYet
        /// It cannot be told, and why.
        case unknown(String)
    }

    public let scope: Scope
    private let state = NIOLockedValueBox(State())

    private struct State {
        /// Pids found holding a connection: searched first.
        var owners: [Int32] = []
        /// The descriptor each owner last held a connection on: a worker that accepts one
        /// connection at a time (gunicorn's sync workers) gets the same number each time.
        var hints: [Int32: String] = [:]
        var firstProblem: String?
        var lookups = 0
        var found = 0
        /// Pids found holding a connection that are reverse proxies, with their names.
        var proxies: [Int32: String] = [:]
    }

    /// Programs that accept a connection only to pass it on to a worker
    /// behind them: /proc names them, not the worker, so their connections
    /// are left to the answers (X-Worker-Pid, a pid field).
    static let proxyPrograms: Set<String> = ["nginx", "haproxy", "envoy", "caddy", "traefik", "varnishd", "h2o"]

    /// The first reverse proxy found holding a connection, as "nginx (pid 123)".
    public var proxy: String? {
        state.withLockedValue { state in state.proxies.min { $0.key < $1.key }.map { "\($0.value) (pid \($0.key))" } }
    }

    /// `pid` as a lookup's answer: the worker, or unknown when it is a reverse proxy.
    private func named(_ pid: Int32) -> Lookup {
        // The app's own group (a launched command) is taken as it is: it may be nginx or h2o itself.
        guard case .anyProcess = scope else { return .pid(pid) }
        if let proxy = state.withLockedValue({ $0.proxies[pid] }) { return Self.proxied(proxy, pid) }
        let program = ProcFile.read("/proc/\(pid)/comm")?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        guard Self.proxyPrograms.contains(program) else { return .pid(pid) }
        state.withLockedValue { $0.proxies[pid] = program }
        return Self.proxied(program, pid)
    }

    private static func proxied(_ program: String, _ pid: Int32) -> Lookup {
        .unknown("a reverse proxy (\(program), pid \(pid)) holds the connection; the worker behind it is the one its answer names")
    }

    public init(scope: Scope) { self.scope = scope }

    /// The first reason a connection could not be placed, if one could not.
    public var problem: String? { state.withLockedValue { $0.firstProblem } }

    /// Connections placed, and connections asked about.
    public var counts: (found: Int, lookups: Int) { state.withLockedValue { ($0.found, $0.lookups) } }

    /// One look at the connection from `client` (this process's side) to
    /// `server`; cheap enough for an event loop (one netlink round trip, and
    /// a scan of the candidates' descriptors once the socket has an inode).
    public func poll(server: SocketAddress, client: SocketAddress) -> Lookup {
        guard let serverPort = server.port, let clientPort = client.port,
              let serverIP = Self.addressBytes(server), let clientIP = Self.addressBytes(client),
              serverIP.count == clientIP.count else {
            return .unknown("the connection's addresses are not TCP addresses")
        }
        let family = serverIP.count == 16 ? AF_INET6 : AF_INET
        let inode = serverIP.withUnsafeBufferPointer { serverBytes in
            clientIP.withUnsafeBufferPointer { clientBytes in
                sl_tcp_socket_inode(family, serverBytes.baseAddress, UInt16(serverPort), clientBytes.baseAddress, UInt16(clientPort))
            }
        }
        if inode == 0 { return .notYet }
        if inode == -Int64(ENOENT) {
            return .unknown("the server side of the connection is not in this machine's socket table (an app in another network namespace or container?)")
        }
        if inode < 0 { return .unknown("the kernel's socket table could not be asked: \(String(cString: strerror(Int32(-inode))))") }
        return holder(of: UInt64(inode))
    }

    /// Names the worker holding `channel`'s server side, on the channel's event loop: asks now,
    /// then again with a growing wait (20 µs doubling to 1 ms: the worker that accepted the
    /// connection waits for the request's last byte meanwhile) while no worker has accepted it,
    /// for at most `bound` nanoseconds. `done` gets the outcome, recorded for the counts, unless
    /// `stillWanted` says the caller has moved on meanwhile (then nothing is recorded).
    func place(_ channel: Channel, bound: UInt64, stillWanted: @escaping @Sendable () -> Bool,
               done: @escaping @Sendable (Lookup) -> Void) {
        let addresses = channel.remoteAddress.flatMap { server in channel.localAddress.map { (server, $0) } }
        let eventLoop = channel.eventLoop
        place(addresses, since: MonotonicClock.now(), wait: 20_000, bound: bound,
              later: { wait, again in eventLoop.scheduleTask(in: .nanoseconds(wait)) { again() } },
              stillWanted: stillWanted, done: done)
    }

    /// The same for a load connection's own socket, on its `LoadLoop`.
    func place(server: SocketAddress, client: SocketAddress?, on loop: LoadLoop, bound: UInt64,
               stillWanted: @escaping @Sendable () -> Bool, done: @escaping @Sendable (Lookup) -> Void) {
        place(client.map { (server, $0) }, since: MonotonicClock.now(), wait: 20_000, bound: bound,
              later: { wait, again in loop.schedule(in: UInt64(wait), again) },
              stillWanted: stillWanted, done: done)
    }

    private func place(_ addresses: (server: SocketAddress, client: SocketAddress)?, since start: UInt64, wait: Int64, bound: UInt64,
                       later: @escaping @Sendable (Int64, @escaping @Sendable () -> Void) -> Void,
                       stillWanted: @escaping @Sendable () -> Bool, done: @escaping @Sendable (Lookup) -> Void) {
        guard stillWanted() else { return }
        var lookup = Lookup.unknown("the connection has no addresses")
        if let addresses { lookup = poll(server: addresses.server, client: addresses.client) }
        if lookup == .notYet, MonotonicClock.now() &- start < bound {
            later(wait) {
                self.place(addresses, since: start, wait: min(wait * 2, 1_000_000), bound: bound, later: later,
                           stillWanted: stillWanted, done: done)
            }
            return
        }
        done(finished(lookup))
    }

    /// What a lookup that kept seeing `.notYet` until its bound says.
    public static let gaveUp = Lookup.unknown(
        "no process of the app was seen holding the connection in time (a worker busy past the bound, or one /proc cannot see)")

    /// Records how a lookup ended, for the report's counts and its one note; `.notYet` counts as given up.
    @discardableResult
    public func finished(_ lookup: Lookup) -> Lookup {
        let lookup = lookup == .notYet ? Self.gaveUp : lookup
        state.withLockedValue { state in
            state.lookups += 1
            switch lookup {
            case .pid: state.found += 1
            case .unknown(let reason): if state.firstProblem == nil { state.firstProblem = reason }
            case .notYet: break
            }
        }
        return lookup
    }

    /// The process holding socket `inode`, among the scope's candidates.
    private func holder(of inode: UInt64) -> Lookup {
        let (known, hints) = state.withLockedValue { ($0.owners, $0.hints) }
        let wanted = Array("socket:[\(inode)]".utf8)
        // One readlink per known worker first, at the descriptor it last used.
        for pid in known {
            if let fd = hints[pid], Self.link("/proc/\(pid)/fd/\(fd)") == wanted { return named(pid) }
        }
        var unreadable = 0
        for pid in known {
            if let fd = Self.descriptor(of: pid, holding: wanted, unreadable: &unreadable) {
                state.withLockedValue { $0.hints[pid] = fd }
                return named(pid)
            }
        }
        let candidates: [Int32]
        switch scope {
        case .group(let group): candidates = ProcessTree.members(ofGroup: group).map(\.pid)
        case .anyProcess: candidates = Self.allPids()
        }
        for pid in candidates where !known.contains(pid) {
            guard let fd = Self.descriptor(of: pid, holding: wanted, unreadable: &unreadable) else { continue }
            state.withLockedValue { state in
                state.owners.append(pid)
                state.hints[pid] = fd
            }
            return named(pid)
        }
        // Accepted, then closed in between (its inode gone with it), or held where we cannot look.
        if unreadable > 0 {
            return .unknown("the process holding the connection could not be read (/proc/PID/fd of \(unreadable) process(es) is not readable: another user's?)")
        }
        return .notYet
    }

    private static func allPids() -> [Int32] {
        guard let directory = opendir("/proc") else { return [] }
        defer { closedir(directory) }
        var pids: [Int32] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if let pid = Int32(name) { pids.append(pid) }
        }
        return pids
    }

    /// The descriptor of `pid` whose link is `wanted` ("socket:[inode]"), or nil; counts a
    /// /proc/PID/fd it may not read.
    static func descriptor(of pid: Int32, holding wanted: [UInt8], unreadable: inout Int) -> String? {
        let path = "/proc/\(pid)/fd"
        guard let directory = opendir(path) else {
            if errno == EACCES || errno == EPERM { unreadable += 1 }
            return nil
        }
        defer { closedir(directory) }
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard let first = name.utf8.first, first >= UInt8(ascii: "0"), first <= UInt8(ascii: "9") else { continue }
            if link(path + "/" + name) == wanted { return name }
        }
        return nil
    }

    /// What a symbolic link points to, as bytes (up to 64: a socket link is shorter).
    static func link(_ path: String) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: 64)
        let length = path.withCString { linkPath in
            buffer.withUnsafeMutableBufferPointer { bytes in
                bytes.baseAddress!.withMemoryRebound(to: CChar.self, capacity: bytes.count) { readlink(linkPath, $0, bytes.count) }
            }
        }
        return length > 0 ? Array(buffer.prefix(length)) : nil
    }

    /// The 4 or 16 bytes of an IP address, in network order.
    static func addressBytes(_ address: SocketAddress) -> [UInt8]? {
        switch address {
        case .v4(let v4):
            return withUnsafeBytes(of: v4.address.sin_addr.s_addr) { Array($0) }
        case .v6(let v6):
            return withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
        default:
            return nil
        }
    }
}
