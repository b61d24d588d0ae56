/// Two lines: the app's settings, then the live figures.
enum HeaderPanel {
    static let height = 2

    static func draw(_ model: DashboardModel, into screen: inout ScreenBuffer, at rect: Rect) {
        let s = model.settings
        let bar = CellStyle(bold: true, reverse: true)
        screen.fill(row: rect.row, column: rect.column, width: rect.width, height: 1, style: bar)
        let settings = s.targetLabel.map { "app \($0)  workers \(model.workers.count)  connections \(s.concurrency)" }
            ?? "strategy \(s.strategy.rawValue)  mode \(s.mode.rawValue)  workers \(s.workers)  "
            + "connections \(s.concurrency)  race window \(s.raceWindowMicroseconds) µs"
        let titled = " statelab │ " + settings
        screen.put(titled.count <= rect.width ? titled : " " + settings, row: rect.row, column: rect.column, style: bar, limit: rect.width)

        let row = rect.row + 1
        var x = rect.column + 1
        x = screen.put("live ", row: row, column: x, style: .dim)
        x = screen.put(Format.rate(model.requestsPerSecond), row: row, column: x, style: .role(.accent, bold: true))
        x = screen.put(" req/s   ", row: row, column: x, style: .dim)
        x = screen.put("elapsed ", row: row, column: x, style: .dim)
        x = screen.put(Format.elapsed(model.elapsedSeconds), row: row, column: x, style: .bold)
        if let burst = model.burst {
            x = screen.put("   burst ", row: row, column: x, style: .dim)
            let (filled, empty) = Format.bar(burst.fraction, width: 16)
            x = screen.put(filled, row: row, column: x, style: .role(.accent))
            x = screen.put(empty, row: row, column: x, style: .dim)
            x = screen.put(" \(Format.count(burst.done))/\(Format.count(burst.total))", row: row, column: x)
        }
        if model.paused {
            screen.put("   PAUSED", row: row, column: x, style: .role(.warn, bold: true))
        }
    }
}
