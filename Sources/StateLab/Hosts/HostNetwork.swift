import Foundation
import NIOConcurrencyHelpers
#if canImport(Glibc)
import Glibc
#endif

/// One namespaced host's network and mount namespaces, as open files that a
/// spawn joins (`SpawnOptions.namespaces`), and the process that holds them.
public final class HostNamespaces: @unchecked Sendable {
    public let network: Int32
    public let mount: Int32
    /// Sleeps in the namespaces until statelab stops it, or dies with statelab.
    public let holder: ChildProcess
    /// The directory that is the host's /tmp, as statelab sees it.
    public let privateTmp: String

    init(holder: ChildProcess, privateTmp: String) throws {
        self.holder = holder
        self.privateTmp = privateTmp
        let net = open("/proc/\(holder.pid)/ns/net", O_RDONLY | O_CLOEXEC)
        guard net >= 0 else { throw StoreError("cannot open /proc/\(holder.pid)/ns/net: \(String(cString: strerror(errno)))") }
        let mnt = open("/proc/\(holder.pid)/ns/mnt", O_RDONLY | O_CLOEXEC)
        guard mnt >= 0 else {
            Glibc.close(net)
            throw StoreError("cannot open /proc/\(holder.pid)/ns/mnt: \(String(cString: strerror(errno)))")
        }
        network = net
        mount = mnt
    }

    /// A path under the host's /tmp as statelab sees it (a real path, not
    /// /proc/PID/root: SQLite resolves that link, to statelab's own /tmp).
    public func outside(_ path: String) -> String {
        guard path.hasPrefix("/tmp/") else { return path }
        return privateTmp + path.dropFirst(4)
    }

    func close() {
        holder.send(SIGKILL)
        holder.wait(timeout: 5)
        Glibc.close(network)
        Glibc.close(mount)
    }
}

/// Where a host is on statelab's private network.
public struct HostAddress: Sendable, Equatable {
    /// 0-based; the store host has none.
    public var index: Int?
    public var address: String
    public var namespaces: HostNamespaces

    public static func == (a: HostAddress, b: HostAddress) -> Bool { a.index == b.index && a.address == b.address }
}

/// statelab's own "machines" on this one: each host a network namespace (its
/// own stack, one veth on a private bridge, an address in 198.18.0.0/15, the
/// range set aside for benchmarks) and a mount namespace (its own /tmp and
/// /dev/shm; statelab's control directory is bound in at the same path).
/// statelab's own shm strategy passes its segment to the workers as an open
/// descriptor (unlinked), so each host's supervisor has its own; the host's
/// /dev/shm is for apps that name their segments.
///
/// Links are named after statelab's pid (`slb<pid>n<k>` the bridge,
/// `slv<pid>x<j>` a veth's outer end); a run sweeps the links of a statelab
/// that is gone. The namespaces are held by processes that die with statelab
/// (PR_SET_PDEATHSIG), so a kill -9 leaves at most the bridge, which the next
/// run removes.
public final class HostNetwork: @unchecked Sendable {
    public let bridge: String
    /// The bridge's address: statelab itself (and the load balancer) on the host network.
    public let gateway: String
    public let prefixLength = HostSubnet.prefixLength
    public private(set) var hosts: [HostAddress] = []
    public private(set) var store: HostAddress?
    private var veths: [String] = []
    private let subnet: HostSubnet
    private let control: String
    private let closed = NIOLockedValueBox(false)

    private static let sequence = NIOLockedValueBox(0)

    /// Why `--hosts` cannot run here, with the fix; nil when it can.
    public static func availability() -> String? {
        if geteuid() != 0 {
            return "--hosts needs root (network namespaces, veth links and mounts): run statelab as root, or leave out --hosts"
        }
        for tool in ["ip", "unshare", "mount"] where ChildProcess.which(tool) == nil {
            return "--hosts needs `\(tool)`, which is not on PATH: install iproute2 and util-linux (apt-get install -y iproute2 util-linux)"
        }
        return nil
    }

    /// Creates the bridge, `count` app hosts and, with `storeHost`, one more for the shared stores.
    /// On failure everything made so far is removed again.
    /// `visible`: directories the hosts must still see if they are under /tmp (an app's directory).
    public static func create(hosts count: Int, storeHost: Bool, control: String, visible: [String] = []) throws -> HostNetwork {
        if let reason = availability() { throw StoreError(reason) }
        sweepStale()
        let k = sequence.withLockedValue { value -> Int in value += 1; return value }
        let bridge = "slb\(getpid())n\(k)"
        let subnet = try HostSubnet.reserve { subnet in
            try IPTool.run(["link", "add", bridge, "type", "bridge"], log: control)
            do {
                try IPTool.run(["addr", "add", "\(subnet.address(1))/\(HostSubnet.prefixLength)", "dev", bridge], log: control)
            } catch {
                try? IPTool.run(["link", "del", bridge])
                throw error
            }
        }
        let network = HostNetwork(bridge: bridge, subnet: subnet, control: control,
                                  visible: visibleUnderTmp(visible, except: control))
        do {
            try IPTool.run(["link", "set", bridge, "up"], log: control)
            for index in 0..<count {
                network.hosts.append(try network.addHost(index: index, address: subnet.address(10 + index)))
            }
            if storeHost { network.store = try network.addHost(index: nil, address: subnet.address(2)) }
        } catch {
            network.close()
            throw error
        }
        return network
    }

    /// Directories under /tmp every host still sees (statelab's binary, the app's code).
    private let visible: [String]

    private init(bridge: String, subnet: HostSubnet, control: String, visible: [String]) {
        self.visible = visible
        self.bridge = bridge
        self.subnet = subnet
        self.control = control
        gateway = subnet.address(1)
    }

    /// The mounts every host gets, then a sleep that holds the namespaces.
    /// `$1` is statelab's control directory, `$2` the file that says it is
    /// ready, `$3` the directory that becomes the host's own /tmp; the rest
    /// are directories under /tmp the host must still see (statelab's
    /// binary, the app's directory, PATH entries: code, not state). Each is
    /// bound aside before the host's /tmp covers the machine's, then moved
    /// back to its own path on top of it.
    static let holderScript = """
        set -e
        ctl="$1"; marker="$2"; private="$3"; shift 3
        mount -t tmpfs -o mode=1777,size=256m statelab-host-shm /dev/shm
        mkdir /dev/shm/.statelab-keep
        i=0
        for p in "$ctl" "$@"; do i=$((i+1)); mkdir /dev/shm/.statelab-keep/$i; mount --bind "$p" /dev/shm/.statelab-keep/$i; done
        mount --bind "$private" /tmp
        i=0
        for p in "$ctl" "$@"; do i=$((i+1)); mkdir -p "$p"; mount --move /dev/shm/.statelab-keep/$i "$p"; done
        rm -rf /dev/shm/.statelab-keep
        ip link set lo up
        : > "$ctl/$marker"
        exec sleep infinity
        """

    /// The directories under /tmp a host must still see: for each of `paths`
    /// (and statelab's binary, its working directory, PATH's entries) under
    /// /tmp, the top directory it is in. Everything else under /tmp is the host's own.
    static func visibleUnderTmp(_ paths: [String], except control: String) -> [String] {
        let candidates = paths + [ChildProcess.currentExecutable, FileManager.default.currentDirectoryPath]
            + (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        var found: [String] = []
        for path in candidates {
            let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
            guard absolute.hasPrefix("/tmp/"), let top = absolute.dropFirst(5).split(separator: "/").first else { continue }
            let directory = "/tmp/" + top
            var isDirectory: ObjCBool = false
            guard directory != control, !found.contains(directory),
                  FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else { continue }
            found.append(directory)
        }
        return found
    }

    private func addHost(index: Int?, address: String) throws -> HostAddress {
        let name = index.map { "host-\($0 + 1)" } ?? "store"
        let marker = "\(name).ready"
        let privateTmp = control + "/\(name)-tmp"
        guard mkdir(privateTmp, 0o700) == 0, chmod(privateTmp, 0o1777) == 0 else {
            throw StoreError("cannot make \(privateTmp): \(String(cString: strerror(errno)))")
        }
        guard let unshare = ChildProcess.which("unshare") else { throw StoreError("unshare not found") }
        let holder = try ChildProcess.spawn(
            executable: unshare,
            arguments: ["--net", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", Self.holderScript,
                        "statelab-host", control, marker, privateTmp] + visible,
            outputFile: control + "/\(name).log")
        let deadline = MonotonicClock.now() + 20_000_000_000
        while access(control + "/" + marker, F_OK) != 0 {
            guard holder.isRunning, MonotonicClock.now() < deadline else {
                holder.stop(signal: SIGKILL)
                let log = LogTail.read(control + "/\(name).log")
                throw StoreError("\(name)'s namespaces could not be set up\(log.isEmpty ? "" : ": \(log)")")
            }
            usleepChecked(5_000)
        }
        let namespaces: HostNamespaces
        do {
            namespaces = try HostNamespaces(holder: holder, privateTmp: privateTmp)
        } catch {
            holder.stop(signal: SIGKILL)
            throw error
        }
        do {
            let j = Self.sequence.withLockedValue { value -> Int in value += 1; return value }
            let veth = "slv\(getpid())x\(j)"
            try IPTool.run(["link", "add", veth, "type", "veth", "peer", "name", HostSubnet.innerLink,
                            "netns", String(holder.pid)], log: control)
            veths.append(veth)
            try IPTool.run(["link", "set", veth, "master", bridge, "up"], log: control)
            try IPTool.run(["addr", "add", "\(address)/\(HostSubnet.prefixLength)", "dev", HostSubnet.innerLink], in: namespaces, log: control)
            try IPTool.run(["link", "set", HostSubnet.innerLink, "up"], in: namespaces, log: control)
        } catch {
            namespaces.close()
            throw error
        }
        return HostAddress(index: index, address: address, namespaces: namespaces)
    }

    /// Stops the namespaces' holders and removes the links. Idempotent.
    public func close() {
        let first = closed.withLockedValue { done in defer { done = true }; return !done }
        guard first else { return }
        for host in hosts + (store.map { [$0] } ?? []) { host.namespaces.close() }
        // A veth goes with its namespace; one whose namespace is still held elsewhere is removed here.
        for veth in veths where FileManager.default.fileExists(atPath: "/sys/class/net/\(veth)") {
            try? IPTool.run(["link", "del", veth])
        }
        try? IPTool.run(["link", "del", bridge])
    }

    deinit { close() }

    /// Removes the bridges and veths of statelab processes that are gone, and
    /// nothing else: only names statelab makes (`slb<pid>n<k>`, `slv<pid>x<j>`)
    /// whose pid no longer runs.
    public static func sweepStale() {
        for link in staleLinks() { try? IPTool.run(["link", "del", link.name]) }
    }

    /// Links of statelab's naming whose pid no longer runs.
    static func staleLinks() -> [(name: String, pid: Int32)] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/sys/class/net") else { return [] }
        return names.sorted().compactMap { name in
            guard let pid = ownerPID(ofLink: name), pid != getpid(), kill(pid, 0) == -1, errno == ESRCH else { return nil }
            return (name, pid)
        }
    }

    /// The pid in a link name of statelab's (`slb123n4`, `slv123x5`), or nil for any other name.
    public static func ownerPID(ofLink name: String) -> Int32? {
        let bytes = Array(name.utf8)
        guard bytes.count > 4, bytes[0] == UInt8(ascii: "s"), bytes[1] == UInt8(ascii: "l"),
              bytes[2] == UInt8(ascii: "b") || bytes[2] == UInt8(ascii: "v") else { return nil }
        let separator: UInt8 = bytes[2] == UInt8(ascii: "b") ? UInt8(ascii: "n") : UInt8(ascii: "x")
        guard let split = bytes[3...].firstIndex(of: separator), split > 3, split < bytes.count - 1 else { return nil }
        let isDigit = { (b: UInt8) in b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }
        guard bytes[3..<split].allSatisfy(isDigit), bytes[(split + 1)...].allSatisfy(isDigit) else { return nil }
        return Int32(String(decoding: bytes[3..<split], as: UTF8.self))
    }
}

/// A /27 of 198.18.0.0/15 (RFC 2544's benchmark range) that nothing on this
/// machine routes yet: .1 the bridge, .2 the store host, .10 on the app hosts.
struct HostSubnet: Sendable {
    static let prefixLength = 27
    /// The name of a host's own end of its veth, inside its namespace.
    static let innerLink = "slh0"
    static let rangeBase: UInt32 = 0xC612_0000  // 198.18.0.0
    static let rangeSlots = 1 << (prefixLength - 15)  // /27s in a /15: 4096

    let base: UInt32

    func address(_ offset: Int) -> String { Self.text(base + UInt32(offset)) }

    static func text(_ value: UInt32) -> String {
        "\(value >> 24).\((value >> 16) & 0xff).\((value >> 8) & 0xff).\(value & 0xff)"
    }

    /// Picks a free /27 and runs `claim` (which puts its first address on a
    /// link) under a lock file, so two statelab processes never take the same one.
    static func reserve(_ claim: (HostSubnet) throws -> Void) throws -> HostSubnet {
        let lock = try HostLock.acquire()
        defer { close(lock) }
        let taken = RouteTable.prefixes()
        let start = Int(getpid()) &* 7 % rangeSlots
        for step in 0..<rangeSlots {
            let base = rangeBase + UInt32((start + step) % rangeSlots) << UInt32(32 - prefixLength)
            let mask: UInt32 = ~0 << UInt32(32 - prefixLength)
            let overlaps = taken.contains { prefix in
                let shorter = min(prefix.mask, mask)
                return prefix.network & shorter == base & shorter
            }
            if overlaps { continue }
            let subnet = HostSubnet(base: base)
            try claim(subnet)
            return subnet
        }
        throw StoreError("no free /\(prefixLength) left in 198.18.0.0/15 for statelab's hosts: remove old bridges (ip link show type bridge)")
    }
}

/// One statelab process at a time picks a subnet: the lock is an abstract
/// Unix socket name (bound by one process only, released when it closes or
/// dies), so no lock file is left in the temp dir.
enum HostLock {
    static let name = "statelab-hosts-subnet-lock"

    /// The bound socket; close it to let go. Waits at most 30 s.
    static func acquire() throws -> Int32 {
        let deadline = MonotonicClock.now() + 30_000_000_000
        while true {
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw StoreError("socket: \(String(cString: strerror(errno)))") }
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(name.utf8)
            withUnsafeMutableBytes(of: &address.sun_path) { path in
                path[0] = 0  // abstract: no file
                for (offset, byte) in bytes.enumerated() { path[offset + 1] = byte }
            }
            let length = socklen_t(MemoryLayout<sa_family_t>.size + 1 + bytes.count)
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
            }
            if bound == 0 { return fd }
            let reason = errno
            close(fd)
            guard reason == EADDRINUSE, MonotonicClock.now() < deadline else {
                throw StoreError("cannot take the hosts' subnet lock: \(String(cString: strerror(reason)))")
            }
            usleepChecked(10_000)
        }
    }
}

/// Every IPv4 prefix this network namespace routes: interface addresses and the main routing table.
enum RouteTable {
    struct Prefix { var network: UInt32; var mask: UInt32 }

    static func prefixes() -> [Prefix] {
        var found: [Prefix] = []
        // /proc/net/route: Iface Destination Gateway Flags RefCnt Use Metric Mask ... (hex, host byte order of the kernel: little-endian here)
        if let text = try? String(contentsOfFile: "/proc/net/route", encoding: .utf8) {
            for line in text.split(separator: "\n").dropFirst() {
                let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
                guard fields.count >= 8, let destination = UInt32(fields[1], radix: 16), let mask = UInt32(fields[7], radix: 16),
                      mask != 0 else { continue }  // the default route covers everything and says nothing
                found.append(Prefix(network: UInt32(bigEndian: destination), mask: UInt32(bigEndian: mask)))
            }
        }
        for link in InterfaceAddresses.all() { found.append(Prefix(network: link.address & link.mask, mask: link.mask)) }
        return found
    }
}

/// IPv4 addresses of this network namespace's links, from getifaddrs.
enum InterfaceAddresses {
    struct Link { var name: String; var address: UInt32; var mask: UInt32; var up: Bool }

    static func all() -> [Link] {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return [] }
        defer { freeifaddrs(list) }
        var links: [Link] = []
        var cursor: UnsafeMutablePointer<ifaddrs>? = first
        while let entry = cursor {
            defer { cursor = entry.pointee.ifa_next }
            guard let address = entry.pointee.ifa_addr, address.pointee.sa_family == sa_family_t(AF_INET),
                  let netmask = entry.pointee.ifa_netmask else { continue }
            let value = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt32(bigEndian: $0.pointee.sin_addr.s_addr) }
            let mask = netmask.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt32(bigEndian: $0.pointee.sin_addr.s_addr) }
            links.append(Link(name: String(cString: entry.pointee.ifa_name), address: value, mask: mask,
                              up: entry.pointee.ifa_flags & UInt32(IFF_UP) != 0))
        }
        return links
    }

    /// True when `address` is on the subnet of one of this statelab's own
    /// links here (its own bridge, named after its pid; a host's veth inside
    /// one of its hosts): a namespaced host it made, reachable only over links
    /// it made. Another statelab's hosts are other machines to it (`--allow-remote`).
    static func isStatelabHost(_ address: UInt32) -> Bool {
        let ownBridge = "slb\(getpid())n"
        return all().contains { link in
            link.up && (link.name.hasPrefix(ownBridge) || link.name == HostSubnet.innerLink)
                && link.mask != 0 && link.address & link.mask == address & link.mask
                && address & link.mask != address  // not the network address itself
        }
    }
}

/// Runs `ip` with a bounded wait; its output goes to a log read into the error.
enum IPTool {
    /// `ip`'s output goes to `log`/ip.log (the hosts' control directory, so
    /// nothing is left behind), to be read into an error; to /dev/null without one.
    static func run(_ arguments: [String], in namespaces: HostNamespaces? = nil, log directory: String? = nil,
                    timeout: Double = 20) throws {
        guard let ip = ChildProcess.which("ip") else { throw StoreError("ip not found: install iproute2") }
        let log = directory.map { "\($0)/ip.log" }
        if let log { unlink(log) }
        let child = try ChildProcess.spawn(executable: ip, arguments: arguments, outputFile: log ?? "/dev/null",
                                           options: SpawnOptions(namespaces: namespaces))
        guard child.wait(timeout: timeout) else {
            child.stop(signal: SIGKILL)
            throw StoreError("ip \(arguments.joined(separator: " ")) did not finish within \(Int(timeout)) s")
        }
        guard child.exitCode == 0 else {
            let output = log.map { LogTail.read($0, lines: 3) } ?? ""
            let hint = output.contains("Operation not permitted")
                ? " (--hosts needs CAP_NET_ADMIN and CAP_SYS_ADMIN: in a container, run it with --cap-add NET_ADMIN --cap-add SYS_ADMIN, or --privileged)"
                : ""
            throw StoreError("ip \(arguments.joined(separator: " ")) failed\(output.isEmpty ? "" : ": \(output)")\(hint)")
        }
    }
}
