/// Lays the model out on a screen of a given size. Pure: same model and size, same buffer.
public enum Renderer {
    public static let minimumWidth = 80
    public static let minimumHeight = 24

    public static func render(_ model: DashboardModel, width: Int, height: Int) -> ScreenBuffer {
        var screen = ScreenBuffer(width: width, height: height)
        guard width >= minimumWidth, height >= minimumHeight else {
            drawTooSmall(width: width, height: height, into: &screen)
            return screen
        }
        let footerHeight = FooterPanel.height(width: width)
        var row = 0
        HeaderPanel.draw(model, into: &screen, at: Rect(row: row, column: 0, width: width, height: HeaderPanel.height))
        row += HeaderPanel.height

        // The verdict and throughput keep their size; the table and the log share the rest.
        let verdictHeight = VerdictPanel.height(model, width: width)
        let flexible = height - HeaderPanel.height - footerHeight - verdictHeight - ThroughputPanel.height
        let minimumLog = 3
        let tableHeight = max(WorkerTablePanel.chrome + 1, min(model.workers.count + WorkerTablePanel.chrome, flexible - minimumLog))
        let logHeight = flexible - tableHeight

        WorkerTablePanel.draw(model, into: &screen, at: Rect(row: row, column: 0, width: width, height: tableHeight))
        row += tableHeight
        VerdictPanel.draw(model, into: &screen, at: Rect(row: row, column: 0, width: width, height: verdictHeight))
        row += verdictHeight
        ThroughputPanel.draw(model, into: &screen, at: Rect(row: row, column: 0, width: width, height: ThroughputPanel.height))
        row += ThroughputPanel.height
        EventLogPanel.draw(model, into: &screen, at: Rect(row: row, column: 0, width: width, height: logHeight))
        FooterPanel.draw(into: &screen, at: Rect(row: height - footerHeight, column: 0, width: width, height: footerHeight))

        OverlayPanels.draw(model, into: &screen)
        return screen
    }

    public static func tooSmallMessage(width: Int, height: Int) -> String {
        "terminal too small: need \(minimumWidth)x\(minimumHeight), have \(width)x\(height)"
    }

    private static func drawTooSmall(width: Int, height: Int, into screen: inout ScreenBuffer) {
        guard height > 0 else { return }
        let message = tooSmallMessage(width: width, height: height)
        screen.put(message, row: height / 2, column: max(0, (width - message.count) / 2), style: .role(.warn, bold: true))
    }
}
