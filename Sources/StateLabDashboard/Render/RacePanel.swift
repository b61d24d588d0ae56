import StateLab

/// The race view (`v`): the latest witnessed lost update as a small sequence
/// diagram, time running down, one column per colliding request, then the
/// race's own sentence. With none witnessed yet, it says so and why.
enum RacePanel {
    static let width = 78
    static let timeWidth = 10
    static let maximumColumnWidth = 22

    static func draw(_ model: DashboardModel, into screen: inout ScreenBuffer) {
        guard let race = model.race else {
            drawNone(model, into: &screen)
            return
        }
        // As many columns as hold a read, a write and a title whole; the box widens for
        // more of them when the screen allows.
        let colliding = race.colliding.count
        let widest = min(screen.width - 2, max(width, 4 + timeWidth + colliding * maximumColumnWidth)) - 4
        let columns = min(colliding, max(1, (widest - timeWidth) / (RaceDiagram.coreWidth(of: race) + 1)))
        let columnWidth = min(maximumColumnWidth, (widest - timeWidth) / columns)
        let innerWidth = min(widest, max(width - 4, timeWidth + columns * columnWidth))
        // The rows the box can spare for events: the screen's, less the borders, the column
        // titles, a blank line and the words under the diagram.
        let unbounded = RaceDiagram(race, columns: columns, rows: .max, labelWidth: columnWidth - 1)
        let spare = screen.height - 2 - 2 - 1 - 1 - notes(race, diagram: unbounded, width: innerWidth).count
        let diagram = RaceDiagram(race, columns: columns, rows: spare, labelWidth: columnWidth - 1)
        let lines = notes(race, diagram: diagram, width: innerWidth)
        let title = "race: \(colliding) increments each returned \(Format.count(race.count))"
        let inner = OverlayPanels.panel(width: innerWidth + 4, height: 2 + 1 + diagram.events.count + 1 + lines.count,
                                        title: title, on: &screen)
        let x = { (column: Int) in inner.column + timeWidth + column * columnWidth }
        let bottom = inner.row + inner.height

        screen.put("time", row: inner.row, column: inner.column, style: .dim)
        for (column, title) in diagram.titles.enumerated() {
            screen.put(title, row: inner.row, column: x(column), style: .bold, limit: columnWidth - 1)
        }
        var row = inner.row + 1
        for event in diagram.events where row < bottom {
            screen.put(Format.offset(event.offset), row: row, column: inner.column, style: .dim, limit: timeWidth - 1)
            for column in diagram.ops.indices where column != event.column && diagram.inFlight(column, at: event.offset) {
                screen.put("│", row: row, column: x(column), style: .dim)
            }
            screen.put(event.label, row: row, column: x(event.column), style: style(of: event.kind), limit: columnWidth - 1)
            row += 1
        }
        row += 1
        for line in lines where row < bottom {
            screen.put(line.text, row: row, column: inner.column, style: line.style, limit: inner.width)
            row += 1
        }
        closingHint(under: inner, on: &screen)
    }

    /// The reads and the writes stand out: a lost update is two reads of one value before the writes.
    private static func style(of kind: RaceDiagram.Kind) -> CellStyle {
        switch kind {
        case .sent, .answered: .plain
        case .read: .role(.accent, bold: true)
        case .wrote: .role(.bad, bold: true)
        }
    }

    private struct Line {
        var text: String
        var style: CellStyle
    }

    /// The race's sentence, then what the diagram leaves out, wrapped to the box.
    private static func notes(_ race: RaceTrace, diagram: RaceDiagram, width: Int) -> [Line] {
        var lines = Format.wrap(race.sentence, width: width).map { Line(text: $0, style: .bold) }
        var asides: [String] = []
        if diagram.silentOps == diagram.ops.count {
            asides.append("The app did not say when it read or wrote: each column is one request, from its send to its answer.")
        } else if diagram.silentOps > 0 {
            asides.append("For \(diagram.silentOps) of these requests the app did not say when it read or wrote: only their send and answer are drawn.")
        }
        if diagram.hiddenOps > 0 {
            asides.append("\(diagram.hiddenOps) more answered \(Format.count(race.count)) too (not drawn for want of room).")
        }
        let others = race.ops.count - race.colliding.count
        if others > 0 {
            asides.append(others == 1 ? "1 other increment was in flight meanwhile (not drawn)."
                                      : "\(others) other increments were in flight meanwhile (not drawn).")
        }
        for aside in asides { lines += Format.wrap(aside, width: width).map { Line(text: $0, style: .dim) } }
        return lines
    }

    /// No race witnessed: say so, and what to expect in this mode.
    private static func drawNone(_ model: DashboardModel, into screen: inout ScreenBuffer) {
        let innerWidth = min(width, screen.width - 2) - 4
        var paragraphs = ["No lost update has been witnessed yet."]
        let (lost, duplicates) = (model.totals.lost, model.totals.duplicates)
        if duplicates > 0 {
            paragraphs[0] = "No lost update was kept to draw: the check saw \(Format.count(duplicates)) answers repeat a count, but the requests around them were no longer in memory."
        } else if lost > 0 {
            paragraphs[0] = "No lost update has been witnessed yet: the check counts \(Format.count(lost)) lost, but no two acknowledged answers carried the same count, so there is no pair to draw."
        }
        if let expectation = expectation(model.settings) { paragraphs.append(expectation) }
        if model.settings.targetLabel != nil {
            paragraphs.append("Your app says nothing of its reads and writes: a race would be drawn as the requests' sends and answers.")
        }
        paragraphs.append("When two acknowledged increments return the same count, this view draws how they interleaved. Space fires a burst.")
        var lines: [Line] = []
        for (index, paragraph) in paragraphs.enumerated() {
            if !lines.isEmpty { lines.append(Line(text: "", style: .plain)) }
            lines += Format.wrap(paragraph, width: innerWidth).map { Line(text: $0, style: index == 0 ? .bold : .plain) }
        }
        let inner = OverlayPanels.panel(width: width, height: lines.count + 2, title: "race", on: &screen)
        for (offset, line) in lines.enumerated() where offset < inner.height {
            screen.put(line.text, row: inner.row + offset, column: inner.column, style: line.style, limit: inner.width)
        }
        closingHint(under: inner, on: &screen)
    }

    /// Why statelab's own app in a safe mode should never show one.
    static func expectation(_ settings: DashboardSettings) -> String? {
        guard settings.targetLabel == nil else { return nil }
        let how = settings.strategy.describe(settings.mode)
        switch settings.mode {
        case .naive: return nil
        case .atomic: return "In atomic mode none is expected: the store reads and adds in one step (\(how))."
        case .locked: return "In locked mode none is expected: each read and its write are done under one lock (\(how))."
        case .serializable: return "In serializable mode none is expected: a write that conflicts is refused and retried (\(how))."
        }
    }

    /// "any key closes" in the box's bottom border, so it costs no row.
    private static func closingHint(under inner: Rect, on screen: inout ScreenBuffer) {
        let hint = " any key closes "
        screen.put(hint, row: inner.row + inner.height, column: inner.column + inner.width - hint.count, style: .dim)
    }
}
