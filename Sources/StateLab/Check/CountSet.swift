/// The counts that ok increments of one counter returned, to find the ones
/// returned twice. Two bits per count value (not seen, seen once, seen more),
/// in pages allocated only where counts fall: 16 KB per 65,536 values, about
/// 0.25 MB per million counts however often they repeat.
///
/// Who returned a count first matters only for the few witnesses shown, and
/// a lost update's two answers come close together, so the first answerers of
/// the most recent counts are kept in a small ring instead of per value.
struct CountSet: Sendable {
    static let pageBits = 16
    static let pageSize = 1 << pageBits
    static let recentCapacity = 4_096
    private var pages: [Int: [UInt64]] = [:]
    /// (count, first answerer's `PidTable` index) of recent first sightings, by count modulo the capacity.
    private var recent = [(count: Int, pidIndex: UInt8?)?](repeating: nil, count: recentCapacity)

    enum Sighting: Equatable {
        case first
        /// The second time: who returned it the first time, when still known.
        case second(firstPidIndex: UInt8?)
        case again
    }

    mutating func insert(_ count: Int, pidIndex: UInt8?) -> Sighting {
        let page = count >> Self.pageBits
        let slot = count & (Self.pageSize - 1)
        let word = slot >> 5, shift = UInt64((slot & 31) * 2)
        if pages[page] == nil { pages[page] = [UInt64](repeating: 0, count: Self.pageSize / 32) }
        let state = (pages[page]![word] >> shift) & 0b11
        let ring = Int(UInt(bitPattern: count) % UInt(Self.recentCapacity))
        switch state {
        case 0:
            pages[page]![word] |= 1 << shift
            recent[ring] = (count, pidIndex)
            return .first
        case 1:
            pages[page]![word] = (pages[page]![word] & ~(0b11 << shift)) | (2 << shift)
            let first = recent[ring].flatMap { $0.count == count ? $0.pidIndex : nil }
            return .second(firstPidIndex: first)
        default:
            return .again
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
        // A few workers are the rule: comparing them costs less than hashing.
        if pids.count <= 16 {
            if let index = pids.firstIndex(of: pid) { return UInt8(index) }
        } else if let index = indexes[pid] {
            return index
        }
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

/// A value per pid, found by comparing pids while there are at most 16 (a
/// few workers are the rule, and comparing them costs less than hashing each
/// answer's pid) and through a dictionary beyond.
struct PidMap<Value: Sendable>: Sendable {
    private var pids: [Int32] = []
    private var values: [Value] = []
    private var indexes: [Int32: Int] = [:]

    /// Changes `pid`'s value, made from `initial` at first.
    @inline(__always)
    mutating func update(_ pid: Int32, initial: @autoclosure () -> Value, _ change: (inout Value) -> Void) {
        change(&values[index(of: pid, initial: initial)])
    }

    private mutating func index(of pid: Int32, initial: () -> Value) -> Int {
        if pids.count <= 16 {
            if let index = pids.firstIndex(of: pid) { return index }
        } else if let index = indexes[pid] {
            return index
        }
        pids.append(pid)
        values.append(initial())
        if pids.count == 17 {
            indexes = Dictionary(uniqueKeysWithValues: pids.enumerated().map { ($1, $0) })
        } else if pids.count > 17 {
            indexes[pid] = pids.count - 1
        }
        return pids.count - 1
    }

    var dictionary: [Int32: Value] { Dictionary(uniqueKeysWithValues: zip(pids, values)) }
}

extension PidMap where Value == PidTally {
    mutating func update(_ pid: Int32, _ change: (inout PidTally) -> Void) { update(pid, initial: PidTally(), change) }
}
