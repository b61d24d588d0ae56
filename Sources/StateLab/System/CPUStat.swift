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
