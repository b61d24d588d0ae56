/// What the workers' reads say the store holds: a shared counter's highest
/// read (a lower read is a worker that answered before the last increment),
/// or the per-worker counters summed. Nil with no read. The checker, the
/// fault runner's reads around a restart and the dashboard's live figure all
/// use this one rule. With `--hosts` and a store on each host, each host's
/// counter is its highest read, and the hosts' counters are summed.
public enum StoreCount {
    public static func of(_ values: [Int], shared: Bool) -> Int? {
        guard !values.isEmpty else { return nil }
        return shared ? values.max() : values.reduce(0, +)
    }

    /// Each host's highest read, summed over the hosts; nil with no read.
    public static func perHost(_ reads: [ReadRecord]) -> Int? {
        guard !reads.isEmpty else { return nil }
        var highest: [Int: Int] = [:]
        for read in reads { highest[read.host ?? -1] = max(highest[read.host ?? -1] ?? .min, read.value) }
        return highest.values.reduce(0, +)
    }
}
