/// Key bindings from `KeyBindings.table`, wrapped over as many lines as they need.
enum FooterPanel {
    /// Each item's (row, column) for a footer `width` columns wide.
    static func layout(width: Int) -> [(row: Int, column: Int)] {
        var positions: [(row: Int, column: Int)] = []
        var row = 0
        var x = 0
        for item in KeyBindings.footerItems {
            let length = item.keys.count + 1 + item.label.count
            if x > 0, x + length > width {
                row += 1
                x = 0
            }
            positions.append((row, x))
            x += length + 2
        }
        return positions
    }

    static func height(width: Int) -> Int {
        (layout(width: width).last?.row ?? 0) + 1
    }

    static func draw(into screen: inout ScreenBuffer, at rect: Rect) {
        for (item, position) in zip(KeyBindings.footerItems, layout(width: rect.width)) {
            let row = rect.row + position.row
            let x = screen.put(item.keys, row: row, column: rect.column + position.column, style: CellStyle(bold: true, reverse: true))
            screen.put(" " + item.label, row: row, column: x, style: .plain)
        }
    }
}
