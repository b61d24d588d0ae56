import Foundation

/// The machine's CPU time from the first line of /proc/stat, in clock ticks.
/// Two samples give how busy the machine was between them; a diagnosis uses
/// that to tell a server that waits (a latency floor) from one that works.
public struct CPUStat: Sendable, Equatable {
    /// Ticks spent on anything but idle and iowait, summed over every core.
    public var busy: UInt64
    /// All ticks, summed over every core.
    public var total: UInt64
    /// Cores listed (`cpuN` lines).
    public var cores: Int

    public init(busy: UInt64, total: UInt64, cores: Int) {
        self.busy = busy
        self.total = total
        self.cores = cores
    }

    /// The current sample, or nil where /proc/stat is not there or not understood.
    public static func read(path: String = "/proc/stat") -> CPUStat? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        return parse(text)
    }

    /// `cpu  user nice system idle iowait irq softirq steal guest guest_nice`;
    /// guest time is already inside user and nice, so it is not added again.
    public static func parse(_ text: String) -> CPUStat? {
        let lines = text.split(separator: "\n")
        guard let first = lines.first, first.hasPrefix("cpu ") else { return nil }
        let ticks = first.split(separator: " ").dropFirst().prefix(8).compactMap { UInt64($0) }
        guard ticks.count >= 4 else { return nil }
        let total = ticks.reduce(0, +)
        let idle = ticks[3] + (ticks.count > 4 ? ticks[4] : 0)
        let cores = lines.filter { $0.hasPrefix("cpu") && !$0.hasPrefix("cpu ") }.count
        return CPUStat(busy: total - idle, total: total, cores: max(cores, 1))
    }

    /// The share of all cores' time that was busy since `earlier` (0...1),
    /// or nil when no tick passed (the samples were too close together).
    public func busyFraction(since earlier: CPUStat) -> Double? {
        guard total > earlier.total, busy >= earlier.busy else { return nil }
        return min(1, Double(busy - earlier.busy) / Double(total - earlier.total))
    }
}

/// CPU ticks each process has used (user + system, all its threads), from
/// /proc/PID/stat. The machine-wide figure counts every other program on a
/// shared machine too; the answering worker's own ticks do not.
public enum ProcessCPU {
    /// Ticks per second of the figures in /proc (USER_HZ).
    public static var ticksPerSecond: Double {
        let ticks = sysconf(Int32(_SC_CLK_TCK))
        return ticks > 0 ? Double(ticks) : 100
    }

    /// Every process's ticks now; a process that is gone is left out.
    public static func snapshot(procPath: String = "/proc") -> [Int32: UInt64] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: procPath) else { return [:] }
        var ticks: [Int32: UInt64] = [:]
        for name in names {
            guard let pid = Int32(name), let used = self.ticks(of: pid, procPath: procPath) else { continue }
            ticks[pid] = used
        }
        return ticks
    }

    public static func ticks(of pid: Int32, procPath: String = "/proc") -> UInt64? {
        guard let text = try? String(contentsOfFile: "\(procPath)/\(pid)/stat", encoding: .utf8) else { return nil }
        return parseStat(text)
    }

    /// utime and stime, the 14th and 15th fields; the name in parentheses
    /// may hold spaces, so fields are counted after its closing parenthesis.
    public static func parseStat(_ text: String) -> UInt64? {
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // fields[0] is the state (field 3), so utime (14) is fields[11].
        guard fields.count > 12, let user = UInt64(fields[11]), let system = UInt64(fields[12]) else { return nil }
        return user + system
    }
}
