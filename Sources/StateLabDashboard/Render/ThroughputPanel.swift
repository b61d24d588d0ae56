/// The throughput sparkline with the live rate and p50 / p99 latency beside it.
enum ThroughputPanel {
    static let height = 3

    static func draw(_ model: DashboardModel, into screen: inout ScreenBuffer, at rect: Rect) {
        screen.box(row: rect.row, column: rect.column, width: rect.width, height: rect.height, title: "throughput")
        let inner = rect.inside
        let figures = "  \(Format.rate(model.requestsPerSecond)) req/s   p50 \(Format.milliseconds(model.p50Milliseconds))   p99 \(Format.milliseconds(model.p99Milliseconds))"
        let sparkWidth = max(0, inner.width - figures.count)
        let spark = Format.sparkline(model.throughput.samples, width: sparkWidth)
        screen.put(spark, row: inner.row, column: inner.column + sparkWidth - spark.count, style: .role(.accent))
        screen.put(figures, row: inner.row, column: inner.column + sparkWidth, style: .bold, limit: inner.width - sparkWidth)
    }
}
