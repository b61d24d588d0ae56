@testable import StateLab

extension Checker {
    /// Checks a history given whole, as the hand-made checker tests write them.
    /// Only tests build histories this way: outside them, a history becomes a
    /// check in one place, `RunSession.check()` (see OneCheckSiteTests).
    /// `hostOf`: each pid's host, for a store each host has its own of (`--hosts`): checked per host.
    static func check(_ history: History, shared: Bool, hostOf: (@Sendable (Int32) -> Int?)? = nil) -> CheckResult {
        let times = history.increments.flatMap { [$0.start, $0.end] } + history.reads.map(\.start)
            + history.finalReads.map(\.start) + history.resets.map(\.start)
        let recorder = HistoryRecorder(origin: times.min() ?? 0, resolution: 0,
                                       views: hostOf == nil ? .both : [.shared, .perWorker, .perHost], hostOf: hostOf)
        for reset in history.resets { recorder.addFinishedReset(reset) }
        for increment in history.increments { recorder.add(increment) }
        let finals = Set(history.finalReads.map(ReadKey.init))
        for read in history.reads where !finals.contains(ReadKey(read)) { recorder.recordRead(read) }
        recorder.recordFinal(reads: history.finalReads, unread: history.unread, settled: history.settled)
        return recorder.check(shared: shared, perHost: shared && hostOf != nil)
    }

    private struct ReadKey: Hashable {
        var pid: Int32, value: Int, start: UInt64, end: UInt64
        init(_ read: ReadRecord) { (pid, value, start, end) = (read.pid, read.value, read.start, read.end) }
    }
}
