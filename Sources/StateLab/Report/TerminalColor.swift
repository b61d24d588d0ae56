/// The few ANSI colours the table report uses.
enum TerminalColor: String, Sendable {
    case green = "32"
    case red = "31"
    case yellow = "33"
    case magenta = "35"
    case bold = "1"
    case dim = "2"

    /// `text` wrapped in this colour, or unchanged when colour is off.
    func paint(_ text: String, enabled: Bool) -> String {
        enabled ? "\u{1B}[\(rawValue)m\(text)\u{1B}[0m" : text
    }

    /// ok green, lost-updates and over-limit red, divergent yellow, errors magenta, unknown dim.
    static func of(_ verdict: Verdict) -> TerminalColor {
        switch verdict {
        case .ok: return .green
        case .lostUpdates, .overLimit: return .red
        case .divergent: return .yellow
        case .errors: return .magenta
        case .unknown: return .dim
        }
    }
}
