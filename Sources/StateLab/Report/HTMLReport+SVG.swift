import Foundation

/// SVG written as text, small: every coordinate to a tenth of a pixel, paths
/// instead of one element per point, colours and strokes left to the page's
/// style sheet (class names), so a report of many runs stays far below 2 MB.
enum SVG {
    struct Point {
        var x: Double
        var y: Double
    }

    /// A coordinate to a tenth of a pixel without a trailing ".0": "12.3", "40", "-0.5".
    static func number(_ value: Double) -> String {
        guard value.isFinite else { return "0" }
        let tenths = Int((min(max(value, -1e9), 1e9) * 10).rounded())
        let whole = tenths / 10
        let tenth = abs(tenths % 10)
        if tenth == 0 { return String(whole) }
        return (tenths < 0 && whole == 0 ? "-" : "") + "\(whole).\(tenth)"
    }

    /// "M1 2L3 4 5 6": one line through the points.
    static func line(_ points: [Point]) -> String {
        var path = ""
        for (index, point) in points.enumerated() {
            path += index == 0 ? "M" : index == 1 ? "L" : " "
            path += number(point.x) + " " + number(point.y)
        }
        return path
    }

    /// "M1 2h0M3 4h0": a dot at each point, drawn by the stroke's round cap
    /// (one path for thousands of dots, where circles would cost ten times the bytes).
    static func dots(_ points: [Point]) -> String {
        points.map { "M\(number($0.x)) \(number($0.y))h0" }.joined()
    }

    /// `line`, closed down to `baseline`: an area under the points.
    static func area(_ points: [Point], baseline: Double) -> String {
        guard let first = points.first else { return "" }
        return line(points) + "V\(number(baseline))H\(number(first.x))Z"
    }

    /// An element with attributes, their values escaped.
    static func element(_ name: String, _ attributes: [(String, String)], content: String? = nil) -> String {
        let attrs = attributes.map { " \($0.0)=\"\(HTMLReport.escape($0.1))\"" }.joined()
        guard let content else { return "<\(name)\(attrs)/>" }
        return "<\(name)\(attrs)>\(content)</\(name)>"
    }

    /// A tooltip: the browser shows it on hover, without any script.
    static func title(_ text: String) -> String { "<title>\(HTMLReport.escape(text))</title>" }

    static func text(_ content: String, x: Double, y: Double, anchor: String? = nil, className: String? = nil) -> String {
        var attributes = [("x", number(x)), ("y", number(y))]
        if let anchor { attributes.append(("text-anchor", anchor)) }
        if let className { attributes.append(("class", className)) }
        return element("text", attributes, content: HTMLReport.escape(content))
    }

    // MARK: scales and ticks

    /// Maps a value of `domain` onto `range` (pixels), linearly or on a log10 scale.
    struct Scale {
        var lower: Double
        var upper: Double
        var from: Double
        var to: Double
        var logarithmic = false

        func callAsFunction(_ value: Double) -> Double {
            let (a, b, v) = logarithmic
                ? (log10(lower), log10(upper), log10(max(value, lower)))
                : (lower, upper, value)
            guard b > a else { return from }
            return from + (v - a) / (b - a) * (to - from)
        }

        func contains(_ value: Double) -> Bool { value >= lower && value <= upper }
    }

    /// The 1-2-5 step that cuts `span` into about `count` parts.
    static func niceStep(_ span: Double, count: Int) -> Double {
        guard span > 0, span.isFinite else { return 1 }
        let raw = span / Double(max(1, count))
        let magnitude = pow(10, floor(log10(raw)))
        let fraction = raw / magnitude
        let nice: Double = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10
        return nice * magnitude
    }

    /// Ticks from `lower` (rounded down to a step) to the first step at or above
    /// `upper`; whole steps only when `integral` (counts), so no "0.5 reads".
    static func ticks(_ lower: Double, _ upper: Double, count: Int, integral: Bool = false) -> (step: Double, values: [Double]) {
        let top = upper > lower ? upper : lower + 1
        var step = niceStep(top - lower, count: count)
        if integral { step = max(1, step.rounded()) }
        let first = floor(lower / step) * step
        var values: [Double] = []
        var value = first
        while values.count < 100 {
            values.append(value)
            if value >= top - step * 1e-9 { break }
            value = first + Double(values.count) * step
        }
        return (step, values)
    }

    /// Decade ticks (0.1, 1, 10 ...) covering both values.
    static func decades(_ lower: Double, _ upper: Double) -> [Double] {
        let low = floor(log10(max(lower, 1e-6)))
        let high = max(low + 1, ceil(log10(max(upper, 1e-6))))
        return stride(from: low, through: high, by: 1).map { pow(10, $0) }
    }

    /// A tick's label with at most the decimals the step needs: "0", "2.5", "0.05".
    static func tickLabel(_ value: Double, step: Double) -> String {
        let decimals = step >= 1 ? 0 : min(4, Int(ceil(-log10(step) - 1e-9)))
        if decimals == 0 {
            return abs(value) < 1e15 ? ReportNumbers.grouped(Int(value.rounded())) : String(format: "%.3g", value)
        }
        // "0.5", "1", "1.5" rather than "1.0": a tick says no more digits than it needs.
        var label = String(format: "%.\(decimals)f", value)
        while label.hasSuffix("0") { label.removeLast() }
        if label.hasSuffix(".") { label.removeLast() }
        return label == "-0" ? "0" : label
    }
}
