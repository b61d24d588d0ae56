/// Columns aligned for a terminal. Widths are measured before colour is
/// added, so escape codes never shift a column.
struct TextTable {
    enum Alignment { case left, right }

    struct Column {
        var title: String
        var alignment: Alignment
    }

    struct Cell {
        var text: String
        var color: TerminalColor?

        init(_ text: String, color: TerminalColor? = nil) {
            self.text = text
            self.color = color
        }
    }

    enum Row {
        case cells([Cell])
        /// Leading cells, then one text that runs across the remaining columns
        /// (a skipped run's reason); it does not widen any column.
        case spanning([Cell], String)
    }

    var columns: [Column]
    var rows: [Row] = []
    var gap = "  "

    init(columns: [Column]) {
        self.columns = columns
    }

    mutating func append(_ row: Row) {
        rows.append(row)
    }

    /// One line per row under a header line, without trailing spaces.
    func lines(color: Bool) -> [String] {
        var widths = columns.map(\.title.count)
        for row in rows {
            let cells: [Cell]
            switch row {
            case .cells(let all): cells = all
            case .spanning(let leading, _): cells = leading
            }
            for (index, cell) in cells.enumerated() where index < widths.count {
                widths[index] = max(widths[index], cell.text.count)
            }
        }

        let header = zip(columns, widths).map { column, width in
            pad(column.title, to: width, column.alignment)
        }
        var lines = [TerminalColor.bold.paint(join(header), enabled: color)]
        for row in rows {
            switch row {
            case .cells(let cells):
                lines.append(join(render(cells, widths: widths, color: color)))
            case .spanning(let leading, let text):
                lines.append(join(render(leading, widths: widths, color: color) + [text]))
            }
        }
        return lines
    }

    private func render(_ cells: [Cell], widths: [Int], color: Bool) -> [String] {
        cells.enumerated().map { index, cell in
            let alignment = index < columns.count ? columns[index].alignment : .left
            let width = index < widths.count ? widths[index] : 0
            // Paint the text only, so the padding stays plain.
            let shown = cell.color?.paint(cell.text, enabled: color) ?? cell.text
            return pad(shown, visibleCount: cell.text.count, to: width, alignment)
        }
    }

    private func join(_ cells: [String]) -> String {
        var line = cells.joined(separator: gap)
        while line.last == " " { line.removeLast() }
        return line
    }

    private func pad(_ text: String, visibleCount: Int? = nil, to width: Int, _ alignment: Alignment) -> String {
        let fill = String(repeating: " ", count: max(0, width - (visibleCount ?? text.count)))
        return alignment == .left ? text + fill : fill + text
    }
}
