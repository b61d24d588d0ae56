import Foundation

/// One line on stderr, redrawn in place while a terminal is attached (like wrk/oha).
public final class ProgressLine: @unchecked Sendable {
    private let enabled: Bool
    private let lock = NSLock()
    private var lastDraw: UInt64 = 0

    public init(enabled: Bool) { self.enabled = enabled }

    public func show(_ progress: RunProgress) {
        guard enabled else { return }
        var text = "[\(progress.index + 1)/\(progress.count)] \(progress.label): \(progress.phase.rawValue)"
        if let load = progress.load {
            text += "  \(load.completed) sent, \(load.ok) ok, \(Int(load.currentRate)) req/s"
        }
        draw(text, force: progress.phase != .loading)
    }

    public func show(text: String) { draw(text, force: false) }

    private func draw(_ text: String, force: Bool) {
        guard enabled else { return }
        lock.lock(); defer { lock.unlock() }
        let now = MonotonicClock.now()
        guard force || now - lastDraw > 100_000_000 else { return }
        lastDraw = now
        FileHandle.standardError.write(Data("\r\u{1B}[2K\(text)".utf8))
    }

    public func clear() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8))
    }
}
