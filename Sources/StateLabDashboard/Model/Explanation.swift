/// The verdict's plain-words line, derived from the numbers alone.
public struct Explanation: Sendable, Equatable {
    public var text: String
    public var role: ColorRole

    public init(text: String, role: ColorRole) {
        self.text = text
        self.role = role
    }
}

extension DashboardModel {
    /// What is happening, in one sentence. Order matters: an unshared counter
    /// explains everything else, then a witnessed loss, then any disagreement.
    public var explanation: Explanation {
        // First: with no store to read, "every acknowledged increment is in the store" would be a guess.
        if workers.contains(where: { $0.status == .storeDown }) {
            return Explanation(text: "the store is down: increments fail with 503 until U starts it again", role: .bad)
        }
        let hasData = totals.acknowledged > 0 || workers.contains { $0.currentRead != nil }
        guard hasData else {
            return Explanation(text: "no increments yet: press space to fire a burst", role: .muted)
        }
        if let (high, low) = divergence, !settings.strategy.isShared {
            return Explanation(
                text: "each worker has its own counter: worker \(high.index) says \(high.currentRead!), worker \(low.index) says \(low.currentRead!)",
                role: .bad)
        }
        if totals.lost > 0 {
            guard let witness = totals.witnesses.first else {
                return Explanation(text: "\(totals.lost) acknowledged increments are missing from the store", role: .bad)
            }
            return Explanation(text: Self.describe(witness), role: .bad)
        }
        if let (high, low) = divergence {
            return Explanation(
                text: "workers disagree: worker \(high.index) says \(high.currentRead!), worker \(low.index) says \(low.currentRead!)",
                role: .warn)
        }
        if let store = totals.storeValue, store > totals.acknowledged + totals.indeterminate {
            return Explanation(text: "the store holds \(store - totals.acknowledged) more than was acknowledged", role: .warn)
        }
        if let store = totals.storeValue, store > totals.acknowledged {
            return Explanation(text: "every acknowledged increment is in the store, and \(store - totals.acknowledged) uncertain ones applied", role: .good)
        }
        return Explanation(text: "every acknowledged increment is in the store", role: .good)
    }

    /// "workers 2 and 3 both read 41 and wrote 42: one increment lost"
    static func describe(_ witness: WorkerWitness) -> String {
        let read = witness.count - 1
        let distinct = witness.workers.reduce(into: [Int]()) { if !$0.contains($1) { $0.append($1) } }
        let lost = witness.workers.count - 1
        let lostWords = lost == 1 ? "one increment lost" : "\(lost) increments lost"
        switch distinct.count {
        case 0:
            return "two increments both read \(read) and wrote \(witness.count): one increment lost"
        case 1:
            let times = witness.workers.count == 2 ? "twice" : "\(witness.workers.count) times"
            return "worker \(distinct[0]) read \(read) \(times) and wrote \(witness.count) \(times): \(lostWords)"
        default:
            let names = distinct.dropLast().map(String.init).joined(separator: ", ") + " and \(distinct.last!)"
            let both = distinct.count == 2 ? "both" : "all"
            return "workers \(names) \(both) read \(read) and wrote \(witness.count): \(lostWords)"
        }
    }
}
