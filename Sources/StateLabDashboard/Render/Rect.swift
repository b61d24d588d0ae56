/// A region of the screen a panel draws into.
public struct Rect: Sendable, Equatable {
    public var row: Int
    public var column: Int
    public var width: Int
    public var height: Int

    public init(row: Int, column: Int, width: Int, height: Int) {
        self.row = row
        self.column = column
        self.width = width
        self.height = height
    }

    /// The area inside a one-cell border, with one column of padding each side.
    var inside: Rect { Rect(row: row + 1, column: column + 2, width: width - 4, height: height - 2) }
}
