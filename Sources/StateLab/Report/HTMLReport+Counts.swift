import Foundation

/// The counts of one run: what each worker read over time against what the
/// history allows, and each pid's share of the operations.
extension HTMLReport {
    /// The band a shared counter's reads must lie in, per group of bins, as
    /// (seconds, count) points: the lower edge sums the ok operations by their
    /// end, the upper edge every operation that may have applied (ok or
    /// indeterminate) by its send. Exact at the groups' edges, straight between.
    /// A reset that applied starts both sums again; one that got no answer may
    /// have applied, so it starts the lower sum only. The group a reset falls
    /// in counts in the upper sum and not in the lower, so the band only widens.
    static func band(_ groups: [BinGroup], resets: [ResetSummary]) -> (upper: [(Double, Double)], lower: [(Double, Double)]) {
        func edge(_ value: (BinGroup) -> Int, restartingAt times: [Double], countsRestartGroup: Bool) -> [(Double, Double)] {
            guard let first = groups.first else { return [] }
            var pending = times.sorted()[...]
            var sum = 0
            var points = [(first.start, 0.0)]
            for group in groups {
                var counted = value(group)
                while let restart = pending.first, restart < group.end {
                    pending.removeFirst()
                    let at = max(restart, group.start)
                    points += [(at, Double(sum)), (at, 0)]
                    sum = 0
                    if !countsRestartGroup { counted = 0 }
                }
                sum += counted
                points.append((group.end, Double(sum)))
            }
            return points
        }
        let upper = edge({ $0.started }, restartingAt: resets.filter { $0.outcome == .ok }.map(\.atSeconds), countsRestartGroup: true)
        let lower = edge({ $0.ok }, restartingAt: resets.filter { $0.outcome != .fail }.map(\.atSeconds), countsRestartGroup: false)
        return (upper, lower)
    }

    /// Each pid's reads in time order, at most `limit` in all: beyond it each
    /// pid keeps the lowest and the highest read of each slice of time, so a
    /// read out of line is never the one dropped. Final reads are always kept.
    static func sampledReads(_ reads: [EvidenceRead], end: Double, limit: Int) -> [Int32: [EvidenceRead]] {
        var byPid = Dictionary(grouping: reads, by: \.pid)
        // In time order, ties broken by value, so the page is the same however the reads were grouped.
        let inOrder = { (reads: [EvidenceRead]) in reads.sorted { ($0.start, $0.end, $0.value) < ($1.start, $1.end, $1.value) } }
        guard reads.count > limit, end > 0 else { return byPid.mapValues(inOrder) }
        let slices = max(1, limit / (2 * max(1, byPid.count)))
        for (pid, all) in byPid {
            var lowest: [Int: EvidenceRead] = [:]
            var highest: [Int: EvidenceRead] = [:]
            var kept = all.filter(\.final)
            for read in all where !read.final {
                let slice = min(slices - 1, max(0, Int((read.start + read.end) / 2 / end * Double(slices))))
                if lowest[slice].map({ read.value < $0.value }) ?? true { lowest[slice] = read }
                if highest[slice].map({ read.value > $0.value }) ?? true { highest[slice] = read }
            }
            for (slice, read) in lowest {
                kept.append(read)
                if let high = highest[slice], high != read { kept.append(high) }
            }
            byPid[pid] = inOrder(kept)
        }
        return byPid
    }

    /// Pids in the order the run names them: the final reads' order, then any other, ascending.
    static func orderedPids(_ run: RunResult, among pids: some Collection<Int32>) -> [Int32] {
        let named = run.check.perWorker.map(\.pid).filter { pids.contains($0) }
        return named + Set(pids).subtracting(named).sorted()
    }

    // MARK: reads

    static func readsChart(_ run: RunResult, evidence: RunEvidence, timeline: RunTimeline, colors: PidColors) -> String {
        let groups = BinGroup.groups(evidence, limit: pointLimit / 4)
        let band = band(groups, resets: run.check.resets)
        let sampled = sampledReads(evidence.reads, end: timeline.end, limit: pointLimit / 2)
        let values = evidence.reads.map(\.value)
        let highest = max(Double(values.max() ?? 0), band.upper.map(\.1).max() ?? 0)
        let lowest = min(0, Double(values.min() ?? 0))
        let (top, ticks) = countTicks(lowest, max(highest, 1))
        let frame = ChartFrame(height: 290, timeline: timeline, lower: ticks.first?.value ?? lowest, upper: top)
        var svg = frame.open("reads", label: "The count each worker read over time, against the band of what was acknowledged")
        svg += frame.axes(timeline: timeline, yTicks: ticks, yTitle: "count")
        if !band.upper.isEmpty {
            let outline = band.upper + band.lower.reversed()
            let points = outline.map { SVG.Point(x: frame.x($0.0), y: frame.y($0.1)) }
            svg += "<path class=\"band k-band\" d=\"\(SVG.line(points))Z\">\(SVG.title("what a shared counter may read: from the increments acknowledged to every one that may have applied (per bin, approximate)"))</path>"
        }
        let pids = orderedPids(run, among: sampled.keys)
        for pid in pids {
            let reads = sampled[pid] ?? []
            let color = colors.className(pid)
            let points = reads.map { SVG.Point(x: frame.x(($0.start + $0.end) / 2), y: frame.y(Double($0.value))) }
            svg += "<g class=\"reads-of \(color)\" data-pid=\"\(pid)\"><path class=\"read-line\" d=\"\(SVG.line(points))\"/>"
                + "<path class=\"read-dots\" d=\"\(SVG.dots(points))\">\(SVG.title("pid \(pid): its reads"))</path>"
            for (read, point) in zip(reads, points) where read.final {
                svg += "<path class=\"read-final\" d=\"\(SVG.dots([point]))\">\(SVG.title("pid \(pid): final read \(ReportNumbers.grouped(read.value))"))</path>"
            }
            svg += "</g>"
        }
        svg += frame.markers(timeline.markers) + "</svg>"

        let workers = Dictionary(run.check.perWorker.map { ($0.pid, $0.worker) }, uniquingKeysWith: { first, _ in first })
        let legend = pids.map { pid in
            LegendItem(className: colors.className(pid), text: "pid \(pid)" + ((workers[pid] ?? nil).map { " (worker \($0))" } ?? ""))
        } + [LegendItem(className: "k-band", text: "acknowledged band")] + markerLegend(timeline)
        var caption = evidence.reads.isEmpty
            ? "No worker was read while the load ran. "
            : "Dots are reads, at the middle of each request; the larger ones are the final reads. "
        caption += "The band runs from the increments acknowledged by then (lower edge, by their answer) to every increment "
            + "that may have applied by then (upper edge, by their send); it is summed per bin of "
            + "\(ReportNumbers.seconds(evidence.binSeconds)), so it is approximate, and the sums start again at each reset."
        if !run.check.shared {
            caption += " Each worker keeps its own counter here, so each one's reads sit well below the band of what all "
                + "the workers acknowledged together: that gap is the divergence."
        }
        if evidence.reads.count > sampled.values.map(\.count).reduce(0, +) {
            caption += " \(ReportNumbers.grouped(evidence.reads.count)) reads in all; each worker's lowest and highest of each slice of time are drawn."
        }
        return figure("reads", title: "Reads: the count each worker read, against what was acknowledged", svg: svg, legend: legend,
                      caption: caption)
    }

    // MARK: shares

    struct BarSeries {
        var name: String
        var className: String
        var values: [Int]
    }

    /// Each pid's share of the increments and its final read; for a limit, what
    /// each pid accepted and refused.
    static func sharesChart(_ run: RunResult) -> String? {
        let check = run.check
        if let limit = check.limit {
            guard !limit.perPid.isEmpty else { return nil }
            let series = [BarSeries(name: "accepted", className: "k-accepted", values: limit.perPid.map(\.accepted)),
                          BarSeries(name: "refused", className: "k-refused", values: limit.perPid.map(\.refused))]
            let svg = barChart(categories: limit.perPid.map { ("pid \($0.pid)", nil) }, series: series,
                               line: limit.windowSeconds == nil ? (Double(limit.limit), "limit \(ReportNumbers.grouped(limit.limit))") : nil,
                               label: "Operations each pid accepted and refused")
            return figure("shares", title: "Limit: what each pid accepted and refused", svg: svg,
                          legend: series.map { LegendItem(className: $0.className, text: $0.name) },
                          caption: ReportSections.limitLines([run]).map { unlabelled($0, run) }.first)
        }
        guard !check.perWorker.isEmpty else { return nil }
        let series = [BarSeries(name: "acknowledged (increments it answered)", className: "k-acked", values: check.perWorker.map(\.acknowledged)),
                      BarSeries(name: "final read", className: "k-final", values: check.perWorker.map(\.count))]
        // With hosts, the second label line says the host too: "host 2 · worker 3".
        let svg = barChart(categories: check.perWorker.map { tally in
            let worker = tally.worker.map { "worker \($0)" }
            let host = tally.hostName.map { "host \($0)" } ?? tally.host.map { "host \($0 + 1)" }
            return ("pid \(tally.pid)", host.map { [$0, worker].compactMap { $0 }.joined(separator: " · ") } ?? worker)
        }, series: series,
                           line: nil, label: "Increments each pid acknowledged, and its final read")
        return figure("shares", title: "Shares: the increments each pid answered, and what it read at the end", svg: svg,
                      legend: series.map { LegendItem(className: $0.className, text: $0.name) },
                      caption: ReportSections.workerLines([run]).map { unlabelled($0, run) }.first)
    }

    /// Bars side by side per category, on one count axis, each bar labelled
    /// with its value when there is room; `line` is a horizontal reference.
    static func barChart(categories: [(name: String, detail: String?)], series: [BarSeries], line: (Double, String)?, label: String) -> String {
        let width = ChartFrame.width
        let height = 250.0
        let left = ChartFrame.left
        let right = width - ChartFrame.right
        let top = 30.0
        let bottom = height - 44
        let highest = Double(series.flatMap(\.values).max() ?? 0)
        let (upper, ticks) = countTicks(0, max(highest, line?.0 ?? 0, 1))
        let y = SVG.Scale(lower: 0, upper: upper, from: bottom, to: top)
        var svg = "<svg class=\"chart shares\" viewBox=\"0 0 \(SVG.number(width)) \(SVG.number(height))\" role=\"img\" aria-label=\"\(escape(label))\">"
        var grid = ""
        var labels = ""
        for tick in ticks {
            grid += "M\(SVG.number(left)) \(SVG.number(y(tick.value)))H\(SVG.number(right))"
            labels += SVG.text(tick.label, x: left - 6, y: y(tick.value) + 4, anchor: "end")
        }
        svg += "<path class=\"grid\" d=\"\(grid)\"/><path class=\"axis\" d=\"M\(SVG.number(left)) \(SVG.number(top))V\(SVG.number(bottom))H\(SVG.number(right))\"/>"
        let slot = (right - left) / Double(max(1, categories.count))
        let barWidth = min(56, slot * 0.8 / Double(max(1, series.count)))
        // With many workers the names and values would run into each other: the tooltips and the caption still say them.
        let roomForValues = barWidth >= 34
        let roomForNames = slot >= 60
        for (index, category) in categories.enumerated() {
            let center = left + slot * (Double(index) + 0.5)
            if roomForNames {
                labels += SVG.text(category.name, x: center, y: bottom + 15, anchor: "middle")
                if let detail = category.detail { labels += SVG.text(detail, x: center, y: bottom + 29, anchor: "middle") }
            }
            for (number, bars) in series.enumerated() {
                let value = bars.values[index]
                let x = center - barWidth * Double(series.count) / 2 + barWidth * Double(number)
                let barTop = y(Double(value))
                svg += "<rect class=\"bar \(bars.className)\" x=\"\(SVG.number(x + 1))\" y=\"\(SVG.number(barTop))\" width=\"\(SVG.number(barWidth - 2))\" height=\"\(SVG.number(bottom - barTop))\">"
                    + SVG.title("\(category.name): \(ReportNumbers.grouped(value)) \(bars.name)") + "</rect>"
                if roomForValues { labels += SVG.text(ReportNumbers.grouped(value), x: x + barWidth / 2, y: barTop - 4, anchor: "middle") }
            }
        }
        if let (value, text) = line {
            svg += "<g class=\"limit-line\"><path d=\"M\(SVG.number(left)) \(SVG.number(y(value)))H\(SVG.number(right))\"/>"
                + SVG.text(text, x: right - 4, y: y(value) - 4, anchor: "end") + "</g>"
        }
        return svg + "<g class=\"tick\">\(labels)</g>"
            + SVG.text("count", x: 4, y: top - 10, className: "axis-title")
            + "</svg>"
    }
}
