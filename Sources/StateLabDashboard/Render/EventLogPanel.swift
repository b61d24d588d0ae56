/// The newest log lines that fit, oldest at the top.
enum EventLogPanel {
    static func draw(_ model: DashboardModel, into screen: inout ScreenBuffer, at rect: Rect) {
        screen.box(row: rect.row, column: rect.column, width: rect.width, height: rect.height, title: "events")
        let inner = rect.inside
        guard inner.height > 0 else { return }
        for (offset, entry) in model.log.entries.suffix(inner.height).enumerated() {
            let row = inner.row + offset
            var x = screen.put(Format.elapsed(entry.elapsed) + "  ", row: row, column: inner.column, style: .dim)
            x = screen.put(Format.padRight(entry.kind.rawValue, 9), row: row, column: x, style: .role(role(of: entry.kind)))
            screen.put(entry.text, row: row, column: x, limit: inner.column + inner.width - x)
        }
    }

    static func role(of kind: LogKind) -> ColorRole {
        switch kind {
        case .error, .kill: return .bad
        case .reset, .relaunch: return .warn
        case .burst, .compare: return .accent
        case .info: return .muted
        }
    }
}
