/// What the workers' reads say the store holds: a shared counter's highest
/// read (a lower read is a worker that answered before the last increment),
/// or the per-worker counters summed. Nil with no read. The checker, the
/// fault runner's reads around a restart and the dashboard's live figure all
/// use this one rule.
public enum StoreCount {
    public static func of(_ values: [Int], shared: Bool) -> Int? {
        guard !values.isEmpty else { return nil }
        return shared ? values.max() : values.reduce(0, +)
    }
}
