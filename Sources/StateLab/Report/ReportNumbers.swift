import Foundation

/// Numbers as people read them in a report: thousands separators, and only
/// the digits that mean something at that size.
public enum ReportNumbers {
    /// "1,234,567".
    public static func grouped(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var result = ""
        for (index, digit) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { result.append(",") }
            result.append(digit)
        }
        return value < 0 ? "-" + result : result
    }

    /// Requests per second: "12,345" from 100 up, "87.5" below, "0" for none.
    static func rate(_ value: Double) -> String {
        guard value.isFinite else { return "-" }
        if value >= 1e15 { return String(format: "%.3g", value) }  // past Int's exact range: no trap
        if value >= 100 || value == 0 { return grouped(Int(value.rounded())) }
        return String(format: "%.1f", value)
    }

    /// Milliseconds with three significant digits or so: "0.412", "3.14", "42.1", "1,234".
    static func millis(_ value: Double) -> String {
        guard value.isFinite else { return "-" }
        switch abs(value) {
        case 0: return "0"
        case ..<1: return String(format: "%.3f", value)
        case ..<10: return String(format: "%.2f", value)
        case ..<100: return String(format: "%.1f", value)
        case ..<1e15: return grouped(Int(value.rounded()))
        default: return String(format: "%.3g", value)
        }
    }

    /// "40.6%", or "<0.1%" for a share too small to show but not zero.
    static func percent(_ value: Double) -> String {
        if value > 0, value < 0.05 { return "<0.1%" }
        return String(format: "%.1f%%", value)
    }

    /// "1,234..1,240", or "1,234" when every worker read the same.
    static func finalRange(_ check: CheckResult) -> String {
        check.finalMin == check.finalMax
            ? grouped(check.finalMin)
            : "\(grouped(check.finalMin))..\(grouped(check.finalMax))"
    }

    /// "812 (40.6%)", or "0".
    static func lost(_ check: CheckResult) -> String {
        check.lost == 0 ? "0" : "\(grouped(check.lost)) (\(percent(check.lostPercent)))"
    }

    /// Seconds: "2.01 s", "350 ms".
    static func seconds(_ value: Double) -> String {
        value < 1 ? "\(millis(value * 1000)) ms" : String(format: "%.2f s", value)
    }

    /// A value as machine formats (JSON, CSV) carry it: at most three decimals,
    /// no trailing ".0", nil when it is not a number.
    static func plain(_ value: Double) -> String? {
        guard value.isFinite else { return nil }
        let rounded = (value * 1000).rounded() / 1000
        if rounded == rounded.rounded(), abs(rounded) < 1e15 { return String(Int64(rounded)) }
        return String(rounded)
    }
}
