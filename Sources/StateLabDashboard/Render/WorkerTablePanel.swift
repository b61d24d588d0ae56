import StateLab

/// One row per worker: status, acknowledged, current read, gap to the truth, a bar.
enum WorkerTablePanel {
    /// Border, column titles, border: the rows come on top of this.
    static let chrome = 3

    private static let columns: [(title: String, width: Int, leftAligned: Bool)] = [
        ("worker", 6, true), ("pid", 8, true), ("status", 10, true),
        ("acked", 9, false), ("read", 9, false), ("gap", 8, false),
    ]
    /// A limit with nothing read: what each worker accepted and refused.
    private static let limitColumns: [(title: String, width: Int, leftAligned: Bool)] = [
        ("worker", 6, true), ("pid", 8, true), ("status", 10, true),
        ("accepted", 9, false), ("refused", 9, false), ("", 8, false),
    ]

    static func draw(_ model: DashboardModel, into screen: inout ScreenBuffer, at rect: Rect) {
        screen.box(row: rect.row, column: rect.column, width: rect.width, height: rect.height, title: "workers")
        let inner = rect.inside
        let visible = max(0, inner.height - 1)
        let barColumn = inner.column + columns.reduce(0) { $0 + $1.width + 1 } + 1
        let barWidth = max(0, inner.column + inner.width - barColumn)

        let limitOnly = model.workers.contains { $0.refused != nil }
        var x = inner.column
        for column in limitOnly ? limitColumns : columns {
            let title = column.leftAligned ? Format.padRight(column.title, column.width) : Format.padLeft(column.title, column.width)
            x = screen.put(title, row: inner.row, column: x, style: .dim) + 1
        }
        screen.put(limitOnly ? "accepted" : "read vs truth", row: inner.row, column: barColumn, style: .dim, limit: barWidth)

        guard !model.workers.isEmpty else {
            screen.put("no workers running", row: inner.row + 1, column: inner.column, style: .dim, limit: inner.width)
            return
        }
        // Scroll so the selected row is always on screen.
        let first = max(0, min(model.selectedWorker - visible + 1, model.workers.count - visible))
        let shown = model.workers.dropFirst(first).prefix(visible)
        let scale = limitOnly ? Double(max(1, model.workers.map(\.acknowledged).max() ?? 0))
            : Double(max(1, model.acknowledgedNow, model.workers.compactMap(\.currentRead).max() ?? 0))
        for (offset, worker) in shown.enumerated() {
            let row = inner.row + 1 + offset
            let selected = first + offset == model.selectedWorker
            drawRow(worker, model: model, selected: selected, row: row, inner: inner, barColumn: barColumn, barWidth: barWidth, scale: scale, screen: &screen)
        }
        let hidden = model.workers.count - shown.count
        if hidden > 0 {
            let note = " \(hidden) more: ↑↓ "
            screen.put(note, row: rect.row + rect.height - 1, column: rect.column + rect.width - 2 - note.count, style: .dim)
        }
    }

    private static func drawRow(_ worker: WorkerRow, model: DashboardModel, selected: Bool, row: Int, inner: Rect,
                                barColumn: Int, barWidth: Int, scale: Double, screen: inout ScreenBuffer) {
        func styled(_ style: CellStyle) -> CellStyle {
            var style = style
            style.reverse = selected
            return style
        }
        if selected { screen.put("▸", row: row, column: inner.column - 1, style: .bold) }
        let statusRole: ColorRole = switch worker.status {
        case .alive: .good
        case .dead: .bad
        case .restarting: .warn
        case .storeDown: .bad
        }
        if let refused = worker.refused {
            drawLimitRow(worker, refused: refused, style: styled, statusRole: statusRole, row: row, inner: inner,
                         barColumn: barColumn, barWidth: barWidth, scale: scale, screen: &screen)
            return
        }
        let gap = model.gap(of: worker)
        let gapRole: ColorRole = switch gap {
        case nil: .muted
        case 0?: .good
        case let value? where value < 0: .bad
        default: .warn
        }
        let cells: [(String, CellStyle)] = [
            (worker.host.map { "h\($0 + 1) w\(worker.index)" } ?? "w\(worker.index)", .bold),
            (String(worker.pid), .plain),
            (worker.status.rawValue, .role(statusRole)),
            (Format.count(worker.acknowledged), .plain),
            (worker.currentRead.map(Format.count) ?? "–", .plain),
            (gap.map(Format.signed) ?? "–", .role(gapRole, bold: gap != 0)),
        ]
        drawCells(cells, under: columns, style: styled, row: row, from: inner.column, screen: &screen)
        guard let read = worker.currentRead else { return }
        let (filled, empty) = Format.bar(Double(read) / scale, width: barWidth)
        let end = screen.put(filled, row: row, column: barColumn, style: .role(gapRole))
        screen.put(empty, row: row, column: end, style: .dim)
    }

    /// Each cell padded to its column's width, one space apart.
    private static func drawCells(_ cells: [(String, CellStyle)], under columns: [(title: String, width: Int, leftAligned: Bool)],
                                  style: (CellStyle) -> CellStyle, row: Int, from column: Int, screen: inout ScreenBuffer) {
        var x = column
        for (column, cell) in zip(columns, cells) {
            let text = column.leftAligned ? Format.padRight(cell.0, column.width) : Format.padLeft(cell.0, column.width)
            x = screen.put(text + " ", row: row, column: x, style: style(cell.1))
        }
    }

    /// A row of a limit with nothing read: accepted, refused, and a bar of what it accepted.
    private static func drawLimitRow(_ worker: WorkerRow, refused: Int, style: (CellStyle) -> CellStyle, statusRole: ColorRole,
                                     row: Int, inner: Rect, barColumn: Int, barWidth: Int, scale: Double,
                                     screen: inout ScreenBuffer) {
        let cells: [(String, CellStyle)] = [
            (worker.host.map { "h\($0 + 1) w\(worker.index)" } ?? "w\(worker.index)", .bold), (String(worker.pid), .plain), (worker.status.rawValue, .role(statusRole)),
            (Format.count(worker.acknowledged), .plain), (Format.count(refused), .plain), ("", .plain),
        ]
        drawCells(cells, under: limitColumns, style: style, row: row, from: inner.column, screen: &screen)
        let (filled, empty) = Format.bar(Double(worker.acknowledged) / scale, width: barWidth)
        let end = screen.put(filled, row: row, column: barColumn, style: .plain)
        screen.put(empty, row: row, column: end, style: .dim)
    }
}
