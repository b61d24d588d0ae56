import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What /proc says about a launched app: its processes, and which of them
/// serve its port.
///
/// A worker is found by what it holds, not by its name: the processes of the
/// app's group that hold the listening socket. A pre-fork master (uvicorn,
/// gunicorn) holds it too, so a worker is a holder none of whose children hold
/// it (a leaf holder); helpers such as a resource tracker hold no listening
/// socket and are never counted.
public enum ProcessTree {
    /// One line of /proc/PID/stat, the fields statelab uses.
    public struct Entry: Sendable, Equatable {
        public var pid: Int32
        public var parent: Int32
        public var group: Int32
        /// R, S, D, T, Z ...; Z and X are gone for every purpose here.
        public var state: Character

        public var isLive: Bool { state != "Z" && state != "X" }
    }

    // MARK: Parsing (pure, tested on text)

    /// Parses "pid (comm) S ppid pgrp ...". The command name may hold spaces
    /// and parentheses, so the fields are counted from the last ")".
    static func parseStat(_ text: some StringProtocol) -> Entry? {
        guard let open = text.firstIndex(of: "("), let close = text.lastIndex(of: ")"),
              let pid = Int32(text[..<open].trimmingCharacters(in: .whitespaces))
        else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count >= 3, let state = fields[0].first,
              let parent = Int32(fields[1]), let group = Int32(fields[2])
        else { return nil }
        return Entry(pid: pid, parent: parent, group: group, state: state)
    }

    /// The inodes of the sockets listening on `port` in a /proc/net/tcp or
    /// tcp6 table. Any local address counts: an app told 127.0.0.1 may still
    /// bind the wildcard, and the holders are filtered by process group anyway.
    static func listeningInodes(inTable text: some StringProtocol, port: Int) -> Set<UInt64> {
        var inodes = Set<UInt64>()
        for line in text.split(separator: "\n").dropFirst() {
            // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 10, fields[3] == "0A",  // TCP_LISTEN
                  let colon = fields[1].lastIndex(of: ":"),
                  let localPort = Int(fields[1][fields[1].index(after: colon)...], radix: 16),
                  localPort == port,
                  let inode = UInt64(fields[9]), inode != 0
            else { continue }
            inodes.insert(inode)
        }
        return inodes
    }

    /// The inode in a /proc/PID/fd link such as "socket:[12345]".
    static func socketInode(fromLink link: some StringProtocol) -> UInt64? {
        guard link.hasPrefix("socket:["), link.hasSuffix("]") else { return nil }
        return UInt64(link.dropFirst("socket:[".count).dropLast())
    }

    /// The holders none of whose children is a holder, sorted.
    static func leafHolders(_ holders: Set<Int32>, among entries: [Entry]) -> [Int32] {
        let parentsOfHolders = Set(entries.filter { holders.contains($0.pid) }.map(\.parent))
        return holders.filter { !parentsOfHolders.contains($0) }.sorted()
    }

    // MARK: Reading /proc

    public static func entry(of pid: Int32) -> Entry? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return nil }
        return parseStat(text)
    }

    /// Every thread of `pid` is stopped (state T or t): a SIGSTOP has taken
    /// effect, which `kill` returning does not promise.
    public static func isStopped(_ pid: Int32) -> Bool {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        guard !tasks.isEmpty else { return false }
        return tasks.allSatisfy { task in
            guard let text = try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/stat", encoding: .utf8),
                  let entry = parseStat(text) else { return true }  // a thread that ended meanwhile
            return entry.state == "T" || entry.state == "t"
        }
    }

    /// Every process /proc shows now (those that vanish while it is read are left out).
    public static func all() -> [Entry] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return names.compactMap(Int32.init).compactMap(entry(of:))
    }

    /// The live processes of process group `group`.
    public static func members(ofGroup group: Int32) -> [Entry] {
        all().filter { $0.group == group && $0.isLive }
    }

    /// Sockets listening on `port`, IPv4 and IPv6 (the tables read whole: see `ProcFile`).
    /// `inNamespaceOf`: a process whose network namespace to look in (a
    /// --hosts host's), not this one's.
    public static func listeningInodes(port: Int, inNamespaceOf pid: Int32? = nil) -> Set<UInt64> {
        var inodes = Set<UInt64>()
        let root = pid.map { "/proc/\($0)/net" } ?? "/proc/net"
        for table in [root + "/tcp", root + "/tcp6"] {
            guard let text = ProcFile.read(table) else { continue }
            inodes.formUnion(listeningInodes(inTable: text, port: port))
        }
        return inodes
    }

    /// The inodes of the sockets `pid` has open (empty when it is gone or not ours to read).
    public static func socketInodes(of pid: Int32) -> Set<UInt64> {
        let directory = "/proc/\(pid)/fd"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var inodes = Set<UInt64>()
        for name in names {
            guard let link = try? FileManager.default.destinationOfSymbolicLink(atPath: directory + "/" + name),
                  let inode = socketInode(fromLink: link) else { continue }
            inodes.insert(inode)
        }
        return inodes
    }

    /// The workers of the app in process group `group` serving `port`: the
    /// live members holding a listening socket on it, leaf holders only.
    public static func workers(ofGroup group: Int32, port: Int, inNamespaceOf pid: Int32? = nil) -> [Int32] {
        let listening = listeningInodes(port: port, inNamespaceOf: pid)
        guard !listening.isEmpty else { return [] }
        let members = members(ofGroup: group)
        let holders = Set(members.filter { !socketInodes(of: $0.pid).isDisjoint(with: listening) }.map(\.pid))
        return leafHolders(holders, among: members)
    }
}
