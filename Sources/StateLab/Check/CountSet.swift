/// The counts that ok increments of one counter returned, to find the ones
/// returned twice. One byte per count value, in pages allocated only where
/// counts fall: about 1 MB per million counts, however often they repeat.
struct CountSet: Sendable {
    static let pageSize = 1 << 16
    /// The byte per count: 0 not seen; 1...0xFD the first answerer's `PidTable`
    /// index + 1; 0xFE seen once from an unknown answerer; 0xFF seen twice or more.
    private var pages: [Int: [UInt8]] = [:]

    enum Sighting: Equatable {
        case first
        /// The second time: who returned it the first time, when known.
        case second(firstPidIndex: UInt8?)
        case again
    }

    mutating func insert(_ count: Int, pidIndex: UInt8?) -> Sighting {
        let page = count >> 16
        let slot = count & (Self.pageSize - 1)
        if pages[page] == nil { pages[page] = [UInt8](repeating: 0, count: Self.pageSize) }
        let previous = pages[page]![slot]
        switch previous {
        case 0:
            pages[page]![slot] = pidIndex.map { $0 + 1 } ?? 0xFE
            return .first
        case 0xFF:
            return .again
        default:
            pages[page]![slot] = 0xFF
            return .second(firstPidIndex: previous == 0xFE ? nil : previous - 1)
        }
    }
}

/// Worker pids as small indexes, so a count's first answerer fits in a byte.
/// Past 253 pids the answerer is remembered as unknown (nil).
struct PidTable: Sendable {
    private var indexes: [Int32: UInt8] = [:]
    private var pids: [Int32] = []

    mutating func index(of pid: Int32?) -> UInt8? {
        guard let pid else { return nil }
        if let index = indexes[pid] { return index }
        guard pids.count < 0xFD else { return nil }
        let index = UInt8(pids.count)
        indexes[pid] = index
        pids.append(pid)
        return index
    }

    func pid(at index: UInt8?) -> Int32? {
        guard let index, Int(index) < pids.count else { return nil }
        return pids[Int(index)]
    }
}

/// The few lowest duplicated counts, with every pid that returned each one.
/// A count joins when it is returned the second time, and only then; it can
/// be pushed out by a lower one. So the final list is the lowest duplicated
/// counts, each with all its answerers.
struct WitnessList: Sendable {
    struct Entry: Sendable {
        var epoch: Int
        var count: Int
        var pids: [Int32]
    }

    private(set) var entries: [Entry] = []

    mutating func secondSighting(epoch: Int, count: Int, first: Int32?, second: Int32?) {
        let entry = Entry(epoch: epoch, count: count, pids: [first, second].compactMap { $0 })
        if entries.count < Checker.witnessCap {
            entries.append(entry)
        } else if let highest = entries.indices.max(by: { Self.key(entries[$0]) < Self.key(entries[$1]) }),
                  Self.key(entry) < Self.key(entries[highest]) {
            entries[highest] = entry
        } else {
            return
        }
        entries.sort { Self.key($0) < Self.key($1) }
    }

    mutating func laterSighting(epoch: Int, count: Int, pid: Int32?) {
        guard let pid, let index = entries.firstIndex(where: { $0.epoch == epoch && $0.count == count }) else { return }
        entries[index].pids.append(pid)
    }

    private static func key(_ entry: Entry) -> (Int, Int) { (entry.epoch, entry.count) }
}
