import Foundation
import StateLab

/// Number and time formats shared by the panels.
enum Format {
    /// 12345 -> "12,345".
    static func count(_ value: Int) -> String {
        ReportNumbers.grouped(value)
    }

    /// A gap to the truth: "0", "+3", "-42".
    static func signed(_ value: Int) -> String {
        value > 0 ? "+" + count(value) : count(value)
    }

    static func rate(_ perSecond: Double) -> String {
        count(Int(perSecond.rounded()))
    }

    static func percent(_ value: Double) -> String {
        String(format: "%.1f%%", value)
    }

    static func milliseconds(_ value: Double?) -> String {
        guard let value else { return "–" }
        return value < 10 ? String(format: "%.2f ms", value) : String(format: "%.1f ms", value)
    }

    /// A short span, at most 9 columns: "0 µs", "+85 µs", "+1.25 ms", "+125.0 ms", "+2.10 s".
    static func offset(_ seconds: Double) -> String {
        let micros = Int((seconds * 1e6).rounded())
        if micros <= 0 { return "0 µs" }
        if micros < 1_000 { return "+\(micros) µs" }
        if micros < 100_000 { return String(format: "+%.2f ms", seconds * 1e3) }
        if micros < 999_950 { return String(format: "+%.1f ms", seconds * 1e3) }
        return String(format: "+%.2f s", seconds)
    }

    /// `text` in lines of at most `width` columns, broken at spaces (a word longer than a line is cut).
    static func wrap(_ text: String, width: Int) -> [String] {
        guard width > 0 else { return [] }
        var lines: [String] = []
        var line = ""
        for word in text.split(separator: " ") {
            var word = Substring(word)
            if !line.isEmpty, line.count + 1 + word.count > width {
                lines.append(line)
                line = ""
            }
            while word.count > width {
                lines.append(String(word.prefix(width)))
                word = word.dropFirst(width)
            }
            line += line.isEmpty ? String(word) : " " + word
        }
        if !line.isEmpty { lines.append(line) }
        return lines
    }

    /// 83 -> "01:23"; 3723 -> "1:02:03".
    static func elapsed(_ seconds: Double) -> String {
        let total = max(0, Int(seconds))
        let (hours, minutes, secs) = (total / 3600, total / 60 % 60, total % 60)
        return hours > 0
            ? String(format: "%d:%02d:%02d", hours, minutes, secs)
            : String(format: "%02d:%02d", minutes, secs)
    }

    static func padRight(_ text: String, _ width: Int) -> String {
        text.count >= width ? String(text.prefix(width)) : text + String(repeating: " ", count: width - text.count)
    }

    static func padLeft(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
    }

    /// A horizontal bar `width` cells wide, filled in proportion to `fraction`.
    static func bar(_ fraction: Double, width: Int) -> (filled: String, empty: String) {
        guard width > 0 else { return ("", "") }
        let clamped = fraction.isFinite ? min(1, max(0, fraction)) : 0
        var filled = Int((clamped * Double(width)).rounded())
        if clamped > 0, filled == 0 { filled = 1 }  // anything above zero stays visible
        return (String(repeating: "█", count: filled), String(repeating: "░", count: width - filled))
    }

    static let sparkLevels: [Character] = ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"]

    /// The newest `width` samples as a sparkline, scaled to their own maximum.
    static func sparkline(_ samples: [Double], width: Int) -> String {
        guard width > 0 else { return "" }
        let shown = samples.suffix(width)
        let peak = shown.max() ?? 0
        let line = shown.map { sample -> Character in
            guard peak > 0 else { return sparkLevels[0] }
            let level = Int((sample / peak * Double(sparkLevels.count - 1)).rounded())
            return sparkLevels[min(sparkLevels.count - 1, max(0, level))]
        }
        return String(line)
    }
}
