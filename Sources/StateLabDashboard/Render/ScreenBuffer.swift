/// What a cell's colour means; the terminal maps roles to colours, or to
/// attributes when it runs monochrome.
public enum ColorRole: Sendable, Equatable, CaseIterable {
    case normal, good, bad, warn, accent, muted
}

/// How one cell is drawn.
public struct CellStyle: Sendable, Equatable {
    public var bold: Bool
    public var dim: Bool
    public var reverse: Bool
    public var role: ColorRole

    public init(bold: Bool = false, dim: Bool = false, reverse: Bool = false, role: ColorRole = .normal) {
        self.bold = bold
        self.dim = dim
        self.reverse = reverse
        self.role = role
    }

    public static let plain = CellStyle()
    public static let bold = CellStyle(bold: true)
    public static let dim = CellStyle(dim: true)
    public static let reverse = CellStyle(reverse: true)
    public static func role(_ role: ColorRole, bold: Bool = false) -> CellStyle {
        CellStyle(bold: bold, role: role)
    }
}

public struct Cell: Sendable, Equatable {
    public var character: Character
    public var style: CellStyle

    public init(_ character: Character = " ", style: CellStyle = .plain) {
        self.character = character
        self.style = style
    }
}

/// An in-memory screen: what the renderer produces and the terminal copies.
/// Every character takes one column (the renderer only uses narrow ones), and
/// writes outside the grid are clipped, so panels never need to bounds-check.
public struct ScreenBuffer: Sendable, Equatable {
    public let width: Int
    public let height: Int
    private var cells: [Cell]

    public init(width: Int, height: Int) {
        self.width = max(0, width)
        self.height = max(0, height)
        cells = Array(repeating: Cell(), count: self.width * self.height)
    }

    public subscript(row: Int, column: Int) -> Cell {
        get { cells[row * width + column] }
        set {
            guard row >= 0, row < height, column >= 0, column < width else { return }
            cells[row * width + column] = newValue
        }
    }

    /// Writes `text` from (`row`, `column`), clipped to the grid and to `limit` columns.
    /// Returns the column after the last character written.
    @discardableResult
    public mutating func put(_ text: String, row: Int, column: Int, style: CellStyle = .plain, limit: Int? = nil) -> Int {
        var x = column
        let end = limit.map { column + $0 } ?? width
        for character in text {
            if x >= end { break }
            self[row, x] = Cell(character, style: style)
            x += 1
        }
        return x
    }

    /// Paints a rectangle with one character and style.
    public mutating func fill(row: Int, column: Int, width: Int, height: Int, with character: Character = " ", style: CellStyle = .plain) {
        guard width > 0, height > 0 else { return }
        for y in row..<(row + height) {
            for x in column..<(column + width) { self[y, x] = Cell(character, style: style) }
        }
    }

    /// A single-line box with an optional title in its top border.
    public mutating func box(row: Int, column: Int, width: Int, height: Int, title: String? = nil, style: CellStyle = .dim) {
        guard width >= 2, height >= 2 else { return }
        let right = column + width - 1
        let bottom = row + height - 1
        for x in (column + 1)..<right {
            self[row, x] = Cell("─", style: style)
            self[bottom, x] = Cell("─", style: style)
        }
        for y in (row + 1)..<bottom {
            self[y, column] = Cell("│", style: style)
            self[y, right] = Cell("│", style: style)
        }
        self[row, column] = Cell("┌", style: style)
        self[row, right] = Cell("┐", style: style)
        self[bottom, column] = Cell("└", style: style)
        self[bottom, right] = Cell("┘", style: style)
        if let title, width > 4 {
            put(" \(title) ", row: row, column: column + 2, style: .bold, limit: width - 4)
        }
    }

    /// The cells of one row.
    public func row(_ y: Int) -> ArraySlice<Cell> {
        cells[(y * width)..<((y + 1) * width)]
    }

    /// Every row as plain text, exactly `width` characters each (for tests and logs).
    public var text: [String] {
        (0..<height).map { y in String(row(y).map(\.character)) }
    }

    /// The rows joined by newlines, trailing spaces trimmed.
    public var plainText: String {
        text.map { line in
            var line = line
            while line.last == " " { line.removeLast() }
            return line
        }.joined(separator: "\n")
    }
}

extension ScreenBuffer: CustomStringConvertible {
    /// The screen as text, so a failing test shows what was drawn.
    public var description: String { "\n" + plainText }
}
