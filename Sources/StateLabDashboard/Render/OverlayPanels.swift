import StateLab

/// Boxes drawn over the panels: help, the pickers, the comparison, the race (`RacePanel`).
enum OverlayPanels {
    static func draw(_ model: DashboardModel, into screen: inout ScreenBuffer) {
        switch model.overlay {
        case .none: return
        case .help: drawHelp(into: &screen)
        case .strategyPicker(let cursor): drawStrategyPicker(model, cursor: cursor, into: &screen)
        case .modePicker(let cursor): drawModePicker(model, cursor: cursor, into: &screen)
        case .compare: drawCompare(model, into: &screen)
        case .race: RacePanel.draw(model, into: &screen)
        }
    }

    /// A cleared, bordered box centred on the screen.
    static func panel(width: Int, height: Int, title: String, on screen: inout ScreenBuffer) -> Rect {
        let width = min(width, screen.width - 2)
        let height = min(height, screen.height - 2)
        let rect = Rect(row: (screen.height - height) / 2, column: (screen.width - width) / 2, width: width, height: height)
        screen.fill(row: rect.row, column: rect.column, width: rect.width, height: rect.height)
        screen.box(row: rect.row, column: rect.column, width: rect.width, height: rect.height, title: title, style: .plain)
        return rect.inside
    }

    private static func drawHelp(into screen: inout ScreenBuffer) {
        let bindings = KeyBindings.table
        let inner = panel(width: 72, height: bindings.count + 4, title: "keys", on: &screen)
        for (offset, binding) in bindings.enumerated() {
            let row = inner.row + offset
            screen.put(Format.padRight(binding.keyNames, 12), row: row, column: inner.column, style: .role(.accent, bold: true))
            screen.put(binding.help, row: row, column: inner.column + 12, limit: inner.width - 12)
        }
        // On a short screen every row is a binding's: the hint goes in the bottom border.
        let hintRow = bindings.count < inner.height ? inner.row + inner.height - 1 : inner.row + inner.height
        let hint = bindings.count < inner.height ? "in pickers: ↑↓ move, enter choose, esc cancel · any key closes this"
            : " pickers: ↑↓ enter esc · any key closes this "
        screen.put(hint, row: hintRow, column: inner.column, style: .dim, limit: inner.width)
    }

    private static func drawStrategyPicker(_ model: DashboardModel, cursor: Int, into screen: inout ScreenBuffer) {
        let unavailableCount = Strategy.allCases.filter { model.unavailableStrategies[$0] != nil }.count
        let inner = panel(width: 78, height: Strategy.allCases.count + unavailableCount + 4, title: "strategy", on: &screen)
        var row = inner.row
        for (index, strategy) in Strategy.allCases.enumerated() {
            let reason = model.unavailableStrategies[strategy]
            drawOption(name: strategy.rawValue, detail: strategy.summary, reason: reason,
                       current: strategy == model.settings.strategy, highlighted: index == cursor,
                       row: row, inner: inner, screen: &screen)
            row += reason == nil ? 1 : 2
        }
        drawPickerHint(inner: inner, screen: &screen)
    }

    private static func drawModePicker(_ model: DashboardModel, cursor: Int, into screen: inout ScreenBuffer) {
        let strategy = model.settings.strategy
        let modes = model.pickableModes
        let unavailableCount = modes.filter { model.unavailableReason(for: $0) != nil }.count
        let inner = panel(width: 78, height: modes.count + unavailableCount + 4, title: "mode under \(strategy.rawValue)", on: &screen)
        var row = inner.row
        for (index, mode) in modes.enumerated() {
            let reason = model.unavailableReason(for: mode)
            drawOption(name: mode.rawValue, detail: reason == nil ? strategy.describe(mode) : "", reason: reason,
                       current: mode == model.settings.mode, highlighted: index == cursor,
                       row: row, inner: inner, screen: &screen)
            row += reason == nil ? 1 : 2
        }
        drawPickerHint(inner: inner, screen: &screen)
    }

    /// One picker line; an unavailable option gets a second line saying why.
    private static func drawOption(name: String, detail: String, reason: String?, current: Bool, highlighted: Bool,
                                   row: Int, inner: Rect, screen: inout ScreenBuffer) {
        let style = CellStyle(bold: current, dim: reason != nil, reverse: highlighted)
        let line = (current ? "● " : "  ") + Format.padRight(name, 13) + detail
        screen.put(Format.padRight(line, inner.width), row: row, column: inner.column, style: style)
        if let reason {
            screen.put("  unavailable: " + reason, row: row + 1, column: inner.column + 2, style: .role(.bad), limit: inner.width - 2)
        }
    }

    private static func drawPickerHint(inner: Rect, screen: inout ScreenBuffer) {
        screen.put("↑↓ move · enter choose · esc cancel", row: inner.row + inner.height - 1, column: inner.column, style: .dim, limit: inner.width)
    }

    private static func drawCompare(_ model: DashboardModel, into screen: inout ScreenBuffer) {
        guard let results = model.compare else {
            let inner = panel(width: 60, height: 5, title: "compare", on: &screen)
            screen.put("starting the comparison…", row: inner.row, column: inner.column)
            return
        }
        let title = "compare: \(Format.count(results.increments)) increments, \(results.mode.rawValue), every strategy"
        let inner = panel(width: 100, height: results.strategies.count + 5, title: title, on: &screen)
        let nameWidth = 9
        let figureWidth = 14
        let barWidth = max(4, (inner.width - nameWidth - 2 * figureWidth - 4) / 2)
        let lostColumn = inner.column + nameWidth
        let rateColumn = lostColumn + barWidth + figureWidth + 2
        screen.put("strategy", row: inner.row, column: inner.column, style: .dim)
        screen.put("lost updates", row: inner.row, column: lostColumn, style: .dim)
        screen.put("throughput (req/s)", row: inner.row, column: rateColumn, style: .dim)
        let maxLost = Double(max(1, results.rows.map(\.lost).max() ?? 0))
        let maxRate = max(1, results.rows.map(\.requestsPerSecond).max() ?? 0)
        for (offset, strategy) in results.strategies.enumerated() {
            let row = inner.row + 1 + offset
            screen.put(strategy.rawValue, row: row, column: inner.column, style: .bold)
            guard let result = results.row(for: strategy) else {
                screen.put(results.running ? "waiting…" : "not run", row: row, column: lostColumn, style: .dim)
                continue
            }
            if let reason = result.unavailableReason {
                screen.put("unavailable: " + reason, row: row, column: lostColumn, style: .role(.bad), limit: inner.column + inner.width - lostColumn)
                continue
            }
            let lostRole: ColorRole = result.lost > 0 ? .bad : .good
            let (lostFilled, lostEmpty) = Format.bar(Double(result.lost) / maxLost, width: barWidth)
            var x = screen.put(lostFilled, row: row, column: lostColumn, style: .role(lostRole))
            x = screen.put(lostEmpty, row: row, column: x, style: .dim)
            let percent = result.acknowledged > 0 ? Double(result.lost) * 100 / Double(result.acknowledged) : 0
            screen.put(" \(Format.count(result.lost)) (\(Format.percent(percent)))", row: row, column: x, style: .role(lostRole, bold: true))
            let (rateFilled, rateEmpty) = Format.bar(result.requestsPerSecond / maxRate, width: barWidth)
            x = screen.put(rateFilled, row: row, column: rateColumn, style: .role(.accent))
            x = screen.put(rateEmpty, row: row, column: x, style: .dim)
            screen.put(" " + Format.rate(result.requestsPerSecond), row: row, column: x, style: .bold)
        }
        let status = results.running ? "running… any key hides this (the comparison continues)" : "done · any key closes"
        screen.put(status, row: inner.row + inner.height - 1, column: inner.column, style: .dim, limit: inner.width)
    }
}
