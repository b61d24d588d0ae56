import Foundation

/// Durations as scenarios write them: "500ms", "5s", "1m", or seconds.
public enum DurationText {
    public static func parse(_ text: String) -> Duration? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60)]
        for (suffix, scale) in units where trimmed.hasSuffix(suffix) {
            let digits = trimmed.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)
            // "5ms" also ends in "s": the longer suffix comes first, and a
            // leftover letter means this was not the right one.
            guard let value = plainNumber(digits) else { continue }
            return seconds(value * scale)
        }
        return plainNumber(trimmed).flatMap(seconds)
    }

    static func seconds(_ value: Double) -> Duration? {
        guard value.isFinite, value >= 0, value < 1e9 else { return nil }
        return .nanoseconds(Int64((value * 1e9).rounded()))
    }

    /// "5s", "500ms", "2m", "1.5s".
    static func format(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let total = Double(seconds) + Double(attoseconds) / 1e18
        if total >= 60, total.truncatingRemainder(dividingBy: 60) == 0 { return "\(Int(total / 60))m" }
        if total < 1 { return "\(Comparison.format((total * 1000).rounded()))ms" }
        return "\(Comparison.format(total))s"
    }

    private static func plainNumber(_ text: String) -> Double? {
        guard !text.isEmpty, text.first != ".", text.last != ".",
              text.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }),
              text.filter({ $0 == "." }).count <= 1 else { return nil }
        return Double(text)
    }
}
