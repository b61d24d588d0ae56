import Foundation

extension HTMLReport {
    /// A fault, restart or reset, drawn as a labelled vertical line on every
    /// chart over time (as Jepsen's perf plots mark their nemesis).
    struct TimeMarker {
        enum Kind: String {
            case fault, restart, reset
        }

        var kind: Kind
        var at: Double
        var label: String
        /// The tooltip: what happened, in the check's words.
        var detail: String

        /// The check's faults, restarts and resets, in time order.
        static func of(_ check: CheckResult) -> [TimeMarker] {
            let faults = check.faults.map { fault in
                TimeMarker(kind: .fault, at: fault.atSeconds, label: fault.step,
                           detail: "fault \(fault.step) at \(String(format: "%.2f", fault.atSeconds)) s: \(fault.outcome)"
                               + (fault.events.isEmpty ? "" : "; " + fault.events.joined(separator: "; ")))
            }
            let restarts = check.restarts.map { restart in
                let label: String = switch restart.scope {
                case .store: "store restart"
                case .app: "app restart"
                case .worker: "worker \(restart.worker.map(String.init) ?? "?") restart"
                }
                return TimeMarker(kind: .restart, at: restart.atSeconds, label: label, detail: restart.sentence)
            }
            let resets = check.resets.map { reset in
                let label: String = switch reset.outcome {
                case .ok: "reset"
                case .fail: "reset (failed)"
                case .indeterminate: "reset (no answer)"
                }
                let through = reset.pid.map { " through pid \($0)" } ?? ""
                return TimeMarker(kind: .reset, at: reset.atSeconds, label: label,
                                  detail: "\(label) at \(String(format: "%.2f", reset.atSeconds)) s\(through)"
                                      + (reset.error.map { ": \($0)" } ?? ""))
            }
            return (faults + restarts + resets).sorted { $0.at < $1.at }
        }
    }

    /// What every chart over time of one run shares: the time axis, from 0 to
    /// the run's last moment, and the markers on it.
    struct RunTimeline {
        var end: Double
        var ticks: (step: Double, values: [Double])
        var markers: [TimeMarker]

        init(_ evidence: RunEvidence, check: CheckResult, elapsed: Double) {
            markers = TimeMarker.of(check)
            let lastBin = evidence.bins.last.map { $0.start + evidence.binSeconds } ?? 0
            let lastRead = evidence.reads.map(\.end).max() ?? 0
            let seen = max(lastBin, lastRead, elapsed, markers.map(\.at).max() ?? 0)
            // The axis ends where the run does (a little after), not at the next round tick.
            let end = seen > 0 ? seen * 1.01 : 1
            let all = SVG.ticks(0, end, count: 10)
            self.end = end
            ticks = (all.step, all.values.filter { $0 <= end })
        }
    }

    /// The frame of a chart over time: its size, margins, axes and markers.
    struct ChartFrame {
        static let width = 960.0
        static let left = 72.0
        static let right = 16.0
        /// Room above the plot for two rows of marker labels, then the y axis's title.
        static let top = 44.0
        static let bottom = 40.0

        var height: Double
        var x: SVG.Scale
        var y: SVG.Scale

        /// A frame whose time axis runs over `timeline` and whose y axis maps `lower...upper`.
        init(height: Double = 250, timeline: RunTimeline, lower: Double, upper: Double, logarithmic: Bool = false) {
            self.height = height
            x = SVG.Scale(lower: 0, upper: timeline.end, from: Self.left, to: Self.width - Self.right)
            y = SVG.Scale(lower: lower, upper: upper, from: height - Self.bottom, to: Self.top, logarithmic: logarithmic)
        }

        var plotTop: Double { Self.top }
        var plotBottom: Double { height - Self.bottom }

        /// The opening tag: responsive through its viewBox, described for screen readers.
        func open(_ kind: String, label: String) -> String {
            "<svg class=\"chart \(kind)\" viewBox=\"0 0 \(SVG.number(Self.width)) \(SVG.number(height))\" role=\"img\" aria-label=\"\(HTMLReport.escape(label))\">"
        }

        /// Grid lines and labelled ticks on both axes, with the axes' titles.
        func axes(timeline: RunTimeline, yTicks: [(value: Double, label: String)], yTitle: String) -> String {
            var grid = ""
            var labels = ""
            for tick in yTicks {
                let at = SVG.number(y(tick.value))
                grid += "M\(SVG.number(Self.left)) \(at)H\(SVG.number(Self.width - Self.right))"
                labels += SVG.text(tick.label, x: Self.left - 6, y: y(tick.value) + 4, anchor: "end")
            }
            for tick in timeline.ticks.values {
                let at = x(tick)
                grid += "M\(SVG.number(at)) \(SVG.number(plotTop))V\(SVG.number(plotBottom))"
                labels += SVG.text(SVG.tickLabel(tick, step: timeline.ticks.step), x: at, y: plotBottom + 15, anchor: "middle")
            }
            let frame = "M\(SVG.number(Self.left)) \(SVG.number(plotTop))V\(SVG.number(plotBottom))H\(SVG.number(Self.width - Self.right))"
            return "<path class=\"grid\" d=\"\(grid)\"/><path class=\"axis\" d=\"\(frame)\"/><g class=\"tick\">\(labels)</g>"
                + SVG.text("seconds into the run", x: (Self.left + Self.width - Self.right) / 2, y: height - 6, anchor: "middle", className: "axis-title")
                + SVG.text(yTitle, x: 4, y: plotTop - 8, className: "axis-title")
        }

        /// Each marker as a vertical line through the plot, its label above it
        /// on the first of two rows where it does not run into another label.
        func markers(_ markers: [TimeMarker]) -> String {
            var rowEnds = [-Double.infinity, -Double.infinity]
            var drawn = ""
            for marker in markers where x.contains(marker.at) {
                let at = x(marker.at)
                let width = Double(marker.label.count) * 6.2
                // Right of the line, or left of it near the chart's right edge.
                let leftward = at + 3 + width > Self.width
                let start = leftward ? at - 3 - width : at + 3
                // Without room on either row the label is left out; the tooltip still says it all.
                var label = ""
                var lineTop = plotTop
                if let row = rowEnds.firstIndex(where: { $0 + 4 < start }) {
                    rowEnds[row] = start + width
                    let baseline = 12 + Double(row) * 13
                    label = SVG.text(marker.label, x: leftward ? at - 3 : at + 3, y: baseline, anchor: leftward ? "end" : nil)
                    lineTop = baseline - 9
                }
                drawn += "<g class=\"marker \(marker.kind.rawValue) k-\(marker.kind.rawValue)\">\(SVG.title(marker.detail))"
                    + "<path d=\"M\(SVG.number(at)) \(SVG.number(lineTop))V\(SVG.number(plotBottom))\"/>\(label)</g>"
            }
            return drawn
        }
    }
}
