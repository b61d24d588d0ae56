import Foundation

/// The charts of one run: throughput and latency over time, each worker's
/// reads against what the history allows, each pid's share. They draw the
/// evidence and the check as they are; nothing here judges anything.
extension HTMLReport {
    /// Points one chart draws at most, all its series together.
    static let pointLimit = 1_500

    /// Consecutive bins merged when a run has more than a chart can show.
    /// A drawing's rounding only: counts add up, p50 is the mean of the bins'
    /// p50 weighted by their operations, p99 the worst bin's, so a spike stays.
    struct BinGroup {
        var start: Double
        var end: Double
        var ok = 0
        var failed = 0
        var indeterminate = 0
        var started = 0
        var p50Ms = 0.0
        var p99Ms = 0.0

        var width: Double { end - start }
        var middle: Double { (start + end) / 2 }
        var ended: Int { ok + failed + indeterminate }

        static func groups(_ evidence: RunEvidence, limit: Int) -> [BinGroup] {
            let bins = evidence.bins
            let size = max(1, (bins.count + limit - 1) / max(1, limit))
            return stride(from: 0, to: bins.count, by: size).map { first in
                let slice = bins[first..<min(first + size, bins.count)]
                var group = BinGroup(start: slice.first!.start, end: slice.last!.start + evidence.binSeconds)
                var weighted = 0.0
                for bin in slice {
                    group.ok += bin.ok
                    group.failed += bin.failed
                    group.indeterminate += bin.indeterminate
                    group.started += bin.started
                    weighted += bin.p50Ms * Double(bin.ok + bin.failed + bin.indeterminate)
                    group.p99Ms = max(group.p99Ms, bin.p99Ms)
                }
                group.p50Ms = group.ended > 0 ? weighted / Double(group.ended) : 0
                return group
            }
        }
    }

    /// One colour per pid, the same in every chart of a run: classes "p0" to "p9".
    struct PidColors {
        private var index: [Int32: Int] = [:]

        init(_ run: RunResult) {
            let pids = run.check.perWorker.map(\.pid) + (run.check.limit?.perPid.map(\.pid) ?? [])
                + (run.evidence?.reads.map(\.pid) ?? []) + (run.evidence?.races.flatMap { $0.ops.compactMap(\.pid) } ?? [])
            for pid in pids where index[pid] == nil { index[pid] = index.count }
        }

        func className(_ pid: Int32?) -> String {
            pid.flatMap { index[$0] }.map { "p\($0 % 10)" } ?? "p-unknown"
        }
    }

    struct LegendItem {
        var className: String
        var text: String
    }

    /// A chart with its title, legend and caption.
    static func figure(_ kind: String, title: String, svg: String, legend: [LegendItem], caption: String? = nil) -> String {
        let items = legend.map { "<li><span class=\"sw \($0.className)\"></span>\(escape($0.text))</li>" }.joined()
        return "<figure class=\"chart-box \(kind)\"><figcaption>\(escape(title))</figcaption>\(svg)"
            + (items.isEmpty ? "" : "<ul class=\"legend\">\(items)</ul>")
            + (caption.map { "<p class=\"caption\">\(escape($0))</p>" } ?? "") + "</figure>\n"
    }

    static func markerLegend(_ timeline: RunTimeline) -> [LegendItem] {
        let kinds = Set(timeline.markers.map(\.kind))
        return [(TimeMarker.Kind.fault, "fault"), (.restart, "restart"), (.reset, "reset")]
            .filter { kinds.contains($0.0) }.map { LegendItem(className: "marker-sw k-\($0.0.rawValue)", text: $0.1) }
    }

    static func countTicks(_ lower: Double, _ upper: Double, count: Int = 5, integral: Bool = true) -> (top: Double, ticks: [(value: Double, label: String)]) {
        let ticks = SVG.ticks(lower, upper, count: count, integral: integral)
        return (ticks.values.last ?? upper, ticks.values.map { ($0, SVG.tickLabel($0, step: ticks.step)) })
    }

    // MARK: throughput

    /// Operations per second that ended in each bin, stacked: ok, indeterminate, failed.
    static func throughputChart(_ evidence: RunEvidence, timeline: RunTimeline) -> String {
        let groups = BinGroup.groups(evidence, limit: pointLimit / 3)
        let rate = { (count: Int, group: BinGroup) in group.width > 0 ? Double(count) / group.width : 0 }
        let peak = groups.map { rate($0.ended, $0) }.max() ?? 0
        let (top, ticks) = countTicks(0, peak, integral: false)
        let frame = ChartFrame(timeline: timeline, lower: 0, upper: top)
        var svg = frame.open("throughput", label: "Operations per second over time, by outcome")
        svg += frame.axes(timeline: timeline, yTicks: ticks, yTitle: "req/s")
        // Painted largest first, each layer over the one below, so the stack reads without transparency.
        let layers: [(String, (BinGroup) -> Int)] = [
            ("failed", { $0.ok + $0.indeterminate + $0.failed }), ("indeterminate", { $0.ok + $0.indeterminate }), ("ok", { $0.ok }),
        ]
        for (name, count) in layers where groups.contains(where: { count($0) > 0 }) {
            // Through each group's middle, held flat to the first group's start and the last one's end.
            let middles = groups.map { SVG.Point(x: frame.x($0.middle), y: frame.y(rate(count($0), $0))) }
            let points = [SVG.Point(x: frame.x(groups[0].start), y: middles[0].y)] + middles
                + [SVG.Point(x: frame.x(groups[groups.count - 1].end), y: middles[middles.count - 1].y)]
            svg += "<path class=\"area k-\(name)\" d=\"\(SVG.area(points, baseline: frame.plotBottom))\">\(SVG.title("\(name) per second"))</path>"
        }
        svg += frame.markers(timeline.markers) + "</svg>"
        let legend = [LegendItem(className: "k-ok", text: "ok"), LegendItem(className: "k-indeterminate", text: "indeterminate"),
                      LegendItem(className: "k-failed", text: "failed")] + markerLegend(timeline)
        return figure("throughput", title: "Throughput: operations per second, by outcome, as they ended", svg: svg, legend: legend,
                      caption: "Per bin of \(ReportNumbers.seconds(evidence.binSeconds)), stacked: ok at the bottom, then indeterminate, then failed.")
    }

    // MARK: latency

    /// p50 and p99 of the operations that ended in each bin; a bin where none ended is a gap.
    static func latencyChart(_ evidence: RunEvidence, timeline: RunTimeline) -> String {
        let groups = BinGroup.groups(evidence, limit: pointLimit / 2).filter { $0.ended > 0 }
        let values = groups.flatMap { [$0.p50Ms, $0.p99Ms] }.filter { $0 > 0 }
        let low = values.min() ?? 0
        let high = values.max() ?? 1
        // Latency spans decades when a fault stalls the app: a log scale keeps p50 readable under p99's spikes.
        let logarithmic = low > 0 && high / low > 100
        let frame: ChartFrame
        let ticks: [(value: Double, label: String)]
        if logarithmic {
            let decades = SVG.decades(low, high)
            ticks = decades.map { ($0, SVG.tickLabel($0, step: $0)) }
            frame = ChartFrame(timeline: timeline, lower: decades.first!, upper: decades.last!, logarithmic: true)
        } else {
            let linear = countTicks(0, high, integral: false)
            ticks = linear.ticks
            frame = ChartFrame(timeline: timeline, lower: 0, upper: linear.top)
        }
        var svg = frame.open("latency", label: "Latency p50 and p99 over time, in milliseconds")
        svg += frame.axes(timeline: timeline, yTicks: ticks, yTitle: logarithmic ? "ms (log scale)" : "ms")
        for (name, value) in [("p50", \BinGroup.p50Ms), ("p99", \BinGroup.p99Ms)] {
            svg += "<path class=\"line k-\(name)\" d=\"\(gappedLine(groups, binSeconds: evidence.binSeconds, x: frame.x) { frame.y($0[keyPath: value]) })\">\(SVG.title("\(name) latency, ms"))</path>"
        }
        svg += frame.markers(timeline.markers) + "</svg>"
        let legend = [LegendItem(className: "k-p50", text: "p50"), LegendItem(className: "k-p99", text: "p99")] + markerLegend(timeline)
        return figure("latency", title: "Latency: p50 and p99 of the operations that ended in each bin", svg: svg, legend: legend,
                      caption: groups.isEmpty ? "No operation ended during the run." : nil)
    }

    /// A line through the groups' middles that breaks where groups are missing (no operation ended there).
    static func gappedLine(_ groups: [BinGroup], binSeconds: Double, x: SVG.Scale, y: (BinGroup) -> Double) -> String {
        var path = ""
        var previousEnd: Double?
        var run: [SVG.Point] = []
        for group in groups {
            if let end = previousEnd, group.start - end > binSeconds / 2 {
                path += SVG.line(run.count == 1 ? run + run : run)
                run = []
            }
            run.append(SVG.Point(x: x(group.middle), y: y(group)))
            previousEnd = group.end
        }
        return path + SVG.line(run.count == 1 ? run + run : run)
    }
}
