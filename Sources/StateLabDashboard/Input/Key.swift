/// A key press, already decoded from the terminal's codes.
public enum Key: Hashable, Sendable {
    case character(Character)
    case up, down, left, right, enter, escape, backspace
    /// F1...F12.
    case function(Int)
    /// The terminal changed size (curses' KEY_RESIZE).
    case resize

    public static let space = Key.character(" ")

    /// How the help overlay names the key.
    public var name: String {
        switch self {
        case .character(" "): return "space"
        case .character(let c): return String(c)
        case .up: return "↑"
        case .down: return "↓"
        case .left: return "←"
        case .right: return "→"
        case .enter: return "enter"
        case .escape: return "esc"
        case .backspace: return "backspace"
        case .function(let n): return "F\(n)"
        case .resize: return "resize"
        }
    }
}
