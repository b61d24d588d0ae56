/// What a run keeps beyond its check, for whoever asked: the evidence an HTML
/// report draws (and, from statelab's own app, when each increment read and
/// wrote), and the history streamed to a file. Off by default: a run nobody
/// reports on pays nothing for it.
public struct RunRecording: Sendable {
    /// Keep the run over time, its reads and a few witnessed races (`RunEvidence`).
    public var evidence: Bool
    /// Stream every operation to this file as it happens (`--history`).
    public var export: HistoryExport?

    public init(evidence: Bool = false, export: HistoryExport? = nil) {
        self.evidence = evidence
        self.export = export
    }

    /// statelab's own workers answer with when they read and wrote, for a report or an export: only where a mode reads then writes.
    public func traces(_ mode: Mode) -> Bool { (evidence || export != nil) && (mode == .naive || mode == .locked) }
}
