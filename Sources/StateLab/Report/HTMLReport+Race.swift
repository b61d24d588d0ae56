import Foundation

/// A witnessed lost update drawn as Jepsen draws a history: one column per
/// worker, time flowing down, each operation a box from its send to its
/// answer, and inside it, when the worker said, the moment it read and the
/// moment it wrote.
extension HTMLReport {
    /// Races drawn per run at most.
    static let raceLimit = 3

    static let outsideViewNote = "This app did not say when it read or wrote, so each box is only a request from its send to its answer (the outside view)."

    /// The run's witnessed races, or why there is none to draw.
    static func races(_ run: RunResult, evidence: RunEvidence, colors: PidColors) -> String {
        var html = "<h3>Races</h3>"
        guard !evidence.races.isEmpty else {
            let why = run.check.duplicates == 0
                ? "No race was witnessed: no two acknowledged increments returned the same count."
                : "Duplicates were found (see the witnesses below), but no timeline of them was kept."
            return html + "<p class=\"no-races\">\(escape(why))</p>"
        }
        if !evidence.insideView { html += "<p class=\"outside-view\">\(escape(outsideViewNote))</p>" }
        for race in evidence.races.prefix(raceLimit) { html += raceFigure(race, colors: colors) }
        if evidence.races.count > raceLimit {
            html += "<p class=\"caption\">\(evidence.races.count - raceLimit) more witnessed \(evidence.races.count - raceLimit == 1 ? "race is" : "races are") not drawn.</p>"
        }
        return html
    }

    /// The seconds a race timeline shows: all its operations, or, when some
    /// run far beyond the colliding ones, the colliding ones and as much again
    /// on each side, so that the colliding boxes are tall enough to read.
    static func raceWindow(_ race: RaceTrace) -> (start: Double, end: Double) {
        let all = (race.ops.map(\.start).min() ?? 0, race.ops.map(\.end).max() ?? 0)
        let colliding = race.colliding.isEmpty ? race.ops : race.colliding
        guard let first = colliding.map(\.start).min(), let last = colliding.map(\.end).max() else { return all }
        let span = max(last - first, 1e-6)
        guard all.1 - all.0 > 4 * span else { return all }
        return (max(all.0, first - span), min(all.1, last + span))
    }

    /// Operations placed side by side where one worker answered several at once: each in the first
    /// lane where it overlaps nothing already placed, in the order given (the colliding ones first,
    /// so they take the leftmost lanes).
    static func lanes(_ ops: [RaceOp]) -> [Int] {
        var placed: [[(start: Double, end: Double)]] = []
        return ops.map { op in
            if let free = placed.firstIndex(where: { lane in lane.allSatisfy { $0.end <= op.start || $0.start >= op.end } }) {
                placed[free].append((op.start, op.end))
                return free
            }
            placed.append([(op.start, op.end)])
            return placed.count - 1
        }
    }

    static func raceFigure(_ race: RaceTrace, colors: PidColors) -> String {
        let window = raceWindow(race)
        // What the window shows, the colliding operations first: they get the leftmost columns and lanes.
        let ops = race.ops.filter { $0.end >= window.start && $0.start <= window.end }
            .sorted { ($0.colliding ? 0 : 1, $0.start) < ($1.colliding ? 0 : 1, $1.start) }
        let span = max(window.end - window.start, 1e-6)
        // Tall enough that the shortest colliding box is about 56 px, within 320 to 900 px.
        let shortest = race.colliding.map { max($0.end - $0.start, span / 1000) }.min() ?? span
        let plotHeight = min(900, max(320, 56 * span / shortest))
        let axisWidth = 84.0
        let laneWidth = 184.0
        let boxWidth = 130.0
        let top = 44.0
        let y = SVG.Scale(lower: window.start, upper: window.end, from: top, to: top + plotHeight)

        // Columns: one per pid, the colliding ones' first (unknown last), as wide as its most overlapping operations need.
        var pids: [Int32?] = []
        for op in ops where !pids.contains(op.pid) && (op.pid != nil || op.colliding) { pids.append(op.pid) }
        if ops.contains(where: { $0.pid == nil }) && !pids.contains(nil) { pids.append(nil) }
        var columnX: [Int32?: Double] = [:]
        var lane: [Int] = Array(repeating: 0, count: ops.count)
        var x = axisWidth
        var headers = ""
        for pid in pids {
            let indices = ops.indices.filter { ops[$0].pid == pid }
            for (index, assigned) in zip(indices, lanes(indices.map { ops[$0] })) { lane[index] = assigned }
            let width = laneWidth * Double((indices.map { lane[$0] }.max() ?? 0) + 1)
            columnX[pid] = x
            headers += SVG.text(pid.map { "pid \($0)" } ?? "unknown pid", x: x + width / 2, y: 18, anchor: "middle", className: "pid-head")
                + "<rect class=\"pid-bar \(colors.className(pid))\" x=\"\(SVG.number(x + 8))\" y=\"26\" width=\"\(SVG.number(width - 16))\" height=\"3\"/>"
                + "<path class=\"column\" d=\"M\(SVG.number(x)) \(SVG.number(top))V\(SVG.number(top + plotHeight))\"/>"
            x += width
        }
        let width = x + 12
        let height = top + plotHeight + 16

        // Time down the left, in ms from the window's start.
        let ticks = SVG.ticks(0, span * 1000, count: 8)
        var axis = ""
        for tick in ticks.values where tick <= span * 1000 + ticks.step * 1e-6 {
            let at = y(window.start + tick / 1000)
            axis += "<path class=\"grid\" d=\"M\(SVG.number(axisWidth)) \(SVG.number(at))H\(SVG.number(width - 12))\"/>"
                + SVG.text("+\(SVG.tickLabel(tick, step: ticks.step)) ms", x: axisWidth - 6, y: at + 4, anchor: "end")
        }

        var boxes = ""
        for (index, op) in ops.enumerated() {
            let left = (columnX[op.pid] ?? axisWidth) + laneWidth * Double(lane[index]) + 8
            boxes += opBox(op, left: left, width: boxWidth, y: y)
        }

        let label = "Timeline of a lost update: \(race.sentence)"
        let svg = "<svg class=\"race\" viewBox=\"0 0 \(SVG.number(width)) \(SVG.number(height))\" width=\"\(SVG.number(width))\" role=\"img\" aria-label=\"\(escape(label))\">"
            + "<g class=\"tick\">\(axis)</g>\(headers)\(boxes)</svg>"
        let when = "Time flows down, in milliseconds from \(String(format: "%.6f", window.start)) s into the run; each box is one increment, from its send to its answer, labelled with the count it returned."
        return "<figure class=\"race-box\" data-count=\"\(race.count)\"><div class=\"race-scroll\">\(svg)</div>"
            + "<figcaption><p class=\"race-sentence\">\(escape(race.sentence))</p><p class=\"caption\">\(escape(when))</p></figcaption></figure>\n"
    }

    /// One operation: its box (cut at the window's edges, then dashed), the
    /// count it returned at its answer, and the worker's read and write inside it.
    /// Counts are written as the race's sentence writes them, without separators.
    static func opBox(_ op: RaceOp, left: Double, width: Double, y: SVG.Scale) -> String {
        let top = y(max(op.start, y.lower))
        let bottom = max(y(min(op.end, y.upper)), top + 2)
        let clipped = op.start < y.lower || op.end > y.upper
        var attributes = [("class", op.colliding ? "op colliding" : "op"), ("data-pid", op.pid.map(String.init) ?? "unknown"),
                          ("data-outcome", op.outcome.rawValue)]
        if let count = op.count { attributes.append(("data-count", String(count))) }
        if let read = op.readValue { attributes.append(("data-read-value", String(read))) }
        var content = SVG.title(opDescription(op))
        content += "<rect class=\"\(clipped ? "box clipped" : "box")\" x=\"\(SVG.number(left))\" y=\"\(SVG.number(top))\" width=\"\(SVG.number(width))\" height=\"\(SVG.number(bottom - top))\" rx=\"3\"/>"
        if let readAt = op.readAt, y.contains(readAt) {
            let at = y(readAt)
            content += "<path class=\"read-mark\" d=\"M\(SVG.number(left)) \(SVG.number(at))h\(SVG.number(width))\"/>"
                + SVG.text("read \(op.readValue.map(String.init) ?? "?")", x: left + 4, y: at - 3, className: "mark-label read-label")
        }
        if let wroteAt = op.wroteAt, y.contains(wroteAt) {
            let at = y(wroteAt)
            content += "<path class=\"write-mark\" d=\"M\(SVG.number(left)) \(SVG.number(at))h\(SVG.number(width))\"/>"
                + SVG.text("wrote" + (op.count.map { " \($0)" } ?? ""), x: left + width - 4, y: at + 11,
                           anchor: "end", className: "mark-label write-label")
        }
        // An answer past the window's end is drawn at the end, and says so.
        let returned = (op.count.map { "→ \($0)" } ?? op.outcome.rawValue) + (op.end > y.upper ? " (later)" : "")
        content += SVG.text(returned, x: left + width + 5, y: bottom, className: op.colliding ? "count colliding-count" : "count")
        return SVG.element("g", attributes, content: content)
    }

    /// "pid 123: sent at 1.234567 s, answered at 1.234890 s (0.323 ms), ok, count 42; read 41 at 1.234600 s; wrote at 1.234700 s".
    static func opDescription(_ op: RaceOp) -> String {
        let seconds = { (value: Double) in String(format: "%.6f s", value) }
        var text = "\(op.pid.map { "pid \($0)" } ?? "unknown pid"): sent at \(seconds(op.start)), answered at \(seconds(op.end)) "
            + "(\(ReportNumbers.millis((op.end - op.start) * 1000)) ms), \(op.outcome.rawValue)"
        if let count = op.count { text += ", count \(count)" }
        if let readAt = op.readAt { text += "; read \(op.readValue.map(String.init) ?? "?") at \(seconds(readAt))" }
        if let wroteAt = op.wroteAt { text += "; wrote at \(seconds(wroteAt))" }
        return text
    }
}
