import StateLab

/// A witnessed lost update laid out as a sequence diagram: one column per
/// colliding operation (its worker's pid), one row per event in time order.
/// It only arranges what the `RaceTrace` holds; the words that judge the race
/// are the trace's own `sentence`.
struct RaceDiagram: Equatable {
    enum Kind: Int, Comparable {
        case sent, read, wrote, answered

        static func < (lhs: Kind, rhs: Kind) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    struct Event: Equatable {
        /// Seconds since the first event drawn.
        var offset: Double
        var column: Int
        var kind: Kind
        var label: String
    }

    /// The colliding operations drawn, one per column, by send.
    let ops: [RaceOp]
    /// Column titles: "pid 41002" ("pid 41002 #2" for a second operation of the same pid).
    let titles: [String]
    /// Every event drawn, in time order.
    let events: [Event]
    /// Colliding operations left out for want of columns.
    let hiddenOps: Int
    /// Drawn operations whose worker did not say when it read or wrote.
    let silentOps: Int

    /// `columns` caps the operations drawn; `rows` caps the events and `labelWidth` their
    /// labels: the sends and answers go first when there is no room for them (the reads and
    /// writes are the point), unless the workers said nothing else.
    init(_ race: RaceTrace, columns: Int, rows: Int, labelWidth: Int) {
        let colliding = race.colliding.sorted { ($0.start, $0.end) < ($1.start, $1.end) }
        ops = Array(colliding.prefix(max(1, columns)))
        hiddenOps = colliding.count - ops.count
        silentOps = ops.filter { $0.readAt == nil && $0.wroteAt == nil }.count
        var seen: [Int32?: Int] = [:]
        titles = ops.map { op in
            seen[op.pid, default: 0] += 1
            let name = op.pid.map { "pid \($0)" } ?? "pid ?"
            return seen[op.pid]! > 1 ? "\(name) #\(seen[op.pid]!)" : name
        }
        let all = Self.events(of: ops)
        let inside = all.filter { $0.kind == .read || $0.kind == .wrote }
        let roomy = all.count <= rows && all.allSatisfy { $0.label.count <= labelWidth }
        let chosen = roomy || inside.isEmpty ? all : inside
        let origin = chosen.map(\.offset).min() ?? 0
        events = chosen.map { Event(offset: $0.offset - origin, column: $0.column, kind: $0.kind, label: $0.label) }
    }

    /// The widest label of a read, a write or a column title: what a column must hold.
    static func coreWidth(of race: RaceTrace) -> Int {
        let ops = race.colliding
        let titles = ops.map { $0.pid.map { "pid \($0)" } ?? "pid ?" }.map { $0.count + 3 }
        let labels = events(of: ops).filter { $0.kind == .read || $0.kind == .wrote }.map(\.label.count)
        return (titles + labels).max() ?? 0
    }

    /// Each operation's events at their absolute times, sorted by time; within
    /// one operation always sent, read, wrote, answered.
    private static func events(of ops: [RaceOp]) -> [Event] {
        var events: [Event] = []
        for (column, op) in ops.enumerated() {
            let count = op.count.map(Format.count)
            let steps: [(Double?, Kind, String)] = [
                (op.start, .sent, "sent"),
                (op.readAt, .read, op.readValue.map { "read \(Format.count($0))" } ?? "read"),
                (op.wroteAt, .wrote, count.map { "wrote \($0)" } ?? "wrote"),
                (op.end, .answered, count.map { "answered \($0)" } ?? "answered"),
            ]
            var last = -Double.infinity
            for case let (time?, kind, label) in steps {
                // Never out of order within one request, whatever the clocks' rounding.
                last = max(last, time)
                events.append(Event(offset: last, column: column, kind: kind, label: label))
            }
        }
        return events.sorted { ($0.offset, $0.kind, $0.column) < ($1.offset, $1.kind, $1.column) }
    }

    /// Whether operation `column` was in flight (sent, not yet answered) at `offset`: its lifeline.
    func inFlight(_ column: Int, at offset: Double) -> Bool {
        guard let first = events.first(where: { $0.column == column }),
              let last = events.last(where: { $0.column == column }) else { return false }
        return offset > first.offset && offset < last.offset
    }
}
