import NIOConcurrencyHelpers
#if canImport(Glibc)
import Glibc
#endif

/// Streams every run's history to one JSON-lines file as it happens
/// (`--history FILE.jsonl`), in the shape of a Jepsen history: `process`,
/// `type` (invoke, ok, fail, info), `f`, `value`, `time` in nanoseconds since
/// the run's origin. Tools/HISTORY.md documents every line. Lines are
/// buffered and written in blocks, so memory stays flat however long the run;
/// one lock orders them, so each line is whole.
public final class HistoryExport: @unchecked Sendable {
    private let lock = NIOLock()
    private var buffer: [UInt8] = []
    private var fd: Int32
    private var runs = 0
    /// The next operation's index in each run's history (Jepsen numbers a history's operations from 0).
    private var indexes: [Int] = []
    private var failure: String?
    public let path: String
    static let flushAt = 1 << 18

    /// Creates (or truncates) the file; throws one line naming the problem.
    public init(path: String) throws {
        self.path = path
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw HistoryExportError("cannot write --history \(path): \(String(cString: strerror(errno))); name a file in a directory you can write")
        }
        buffer.reserveCapacity(Self.flushAt + 4_096)
    }

    deinit { if fd >= 0 { Glibc.close(fd) } }

    /// Starts a run: its header line; the returned stream writes the run's operations.
    public func beginRun(name: String, strategy: String?, mode: String?, step: Int, origin: UInt64) -> HistoryStream {
        lock.withLock {
            let run = runs
            runs += 1
            indexes.append(0)
            var line = JSONLine(run: run)
            line.string("type", "run")
            line.string("name", name)
            line.optionalString("strategy", strategy)
            line.optionalString("mode", mode)
            line.int("step", step)
            line.int("origin_ns", Int(truncatingIfNeeded: origin))
            append(line)
            return HistoryStream(export: self, run: run, origin: origin)
        }
    }

    /// Writes what is buffered and closes the file; throws when any write failed.
    public func finish() throws {
        let problem: String? = lock.withLock {
            flushLocked()
            if fd >= 0 {
                if Glibc.close(fd) != 0, failure == nil { failure = String(cString: strerror(errno)) }
                fd = -1
            }
            return failure
        }
        if let problem { throw HistoryExportError("writing --history \(path) failed: \(problem)") }
    }

    fileprivate func write(_ build: (inout JSONLine) -> Void, run: Int, indexed: Bool) {
        lock.withLock {
            var line = JSONLine(run: run)
            if indexed {
                line.int("index", indexes[run])
                indexes[run] += 1
            }
            build(&line)
            append(line)
        }
    }

    private func append(_ line: JSONLine) {
        buffer.append(contentsOf: line.bytes)
        buffer.append(UInt8(ascii: "}"))
        buffer.append(UInt8(ascii: "\n"))
        if buffer.count >= Self.flushAt { flushLocked() }
    }

    private func flushLocked() {
        guard fd >= 0, !buffer.isEmpty else {
            buffer.removeAll(keepingCapacity: true)
            return
        }
        var written = 0
        buffer.withUnsafeBytes { bytes in
            while written < bytes.count {
                let result = Glibc.write(fd, bytes.baseAddress! + written, bytes.count - written)
                if result < 0 {
                    if errno == EINTR { continue }
                    if failure == nil { failure = String(cString: strerror(errno)) }
                    return
                }
                written += result
            }
        }
        buffer.removeAll(keepingCapacity: true)
    }
}

public struct HistoryExportError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// One run's operations, written to its export.
public struct HistoryStream: Sendable {
    let export: HistoryExport
    let run: Int
    let origin: UInt64

    private func since(_ time: UInt64) -> Int { time > origin ? Int(time - origin) : 0 }

    /// An operation sent by connection `process` at `time`.
    func invoke(process: Int32, step: Int, time: UInt64) {
        export.write({ line in
            line.string("type", "invoke")
            line.string("f", "add")
            line.int("process", Int(process))
            line.int("value", step)
            line.int("time", since(time))
        }, run: run, indexed: true)
    }

    /// How an operation ended.
    /// `host`: the host whose counter it is, when the run has one per host (1-based, as the report says it).
    func complete(_ increment: IncrementRecord, step: Int, host: Int? = nil) {
        export.write({ line in
            line.string("type", increment.outcome.jepsenType)
            line.string("f", "add")
            if let process = increment.process { line.int("process", Int(process)) } else { line.null("process") }
            line.int("value", step)
            line.int("start", since(increment.start))
            line.int("time", since(increment.end == .max ? increment.start : increment.end))
            if let pid = increment.pid { line.int("pid", Int(pid)) } else { line.null("pid") }
            if let host { line.int("host", host + 1) }
            if let count = increment.count { line.int("count", count) } else { line.null("count") }
            if increment.refused { line.raw("refused", "true") }
            if let trace = increment.trace {
                line.raw("read", "{\"time\":\(since(trace.readAt)),\"value\":\(trace.readValue)}")
                line.int("wrote", since(trace.wroteAt))
            }
        }, run: run, indexed: true)
    }

    /// A read of one worker, invoke and completion together (it is recorded once it is done).
    func read(_ read: ReadRecord, final: Bool) {
        let process = "read-\(read.pid)"
        export.write({ line in
            line.string("type", "invoke")
            line.string("f", "read")
            line.string("process", process)
            line.int("pid", Int(read.pid))
            line.int("time", since(read.start))
        }, run: run, indexed: true)
        export.write({ line in
            line.string("type", "ok")
            line.string("f", "read")
            line.string("process", process)
            line.int("pid", Int(read.pid))
            if let host = read.host { line.int("host", host + 1) }
            if let worker = read.worker { line.int("worker", worker) } else { line.null("worker") }
            line.int("value", read.value)
            line.raw("final", final ? "true" : "false")
            line.int("start", since(read.start))
            line.int("time", since(read.end))
        }, run: run, indexed: true)
    }

    /// A reset sent, or how it ended (`outcome` nil: the invoke); a store or app restart
    /// the same way, as a reset to the count read once it was back (its `base`).
    func reset(_ reset: HistoryRecorder.ResetOperation, outcome: Outcome?, time: UInt64) {
        export.write({ line in
            line.string("type", outcome?.jepsenType ?? "invoke")
            if let scope = reset.restart {
                line.string("f", "restart")
                line.string("process", "nemesis")
                var value = "{\"scope\":\"\(scope.rawValue)\",\"before\":\(reset.before.map(String.init) ?? "null")"
                if let outcome { value += ",\"after\":\(outcome == .ok ? String(reset.base) : "null")" }
                value += ",\"exact\":\(reset.exact)}"
                line.raw("value", value)
            } else {
                line.string("f", "reset")
                line.string("process", "reset")
                if let pid = reset.pid { line.int("pid", Int(pid)) } else { line.null("pid") }
                if let host = reset.host { line.int("host", host + 1) }
                if let worker = reset.worker { line.int("worker", worker) } else { line.null("worker") }
            }
            if outcome != nil { line.int("start", since(reset.start)) }
            line.int("time", since(time))
            if let error = reset.error { line.string("error", error) }
        }, run: run, indexed: true)
    }

    /// A fault or another event for the record (`f` names it).
    func event(_ f: String, pid: Int32? = nil, value: String, time: UInt64) {
        export.write({ line in
            line.string("type", "info")
            line.string("f", f)
            line.string("process", "nemesis")
            if let pid { line.int("pid", Int(pid)) }
            line.string("value", value)
            line.int("time", since(time))
        }, run: run, indexed: true)
    }

    /// The end of the run's operations: whether the final reads agreed, and who could not be read.
    func final(settled: Bool, unread: [UnreadWorker]) {
        export.write({ line in
            line.string("type", "final")
            line.raw("settled", settled ? "true" : "false")
            line.raw("unread", "[" + unread.map { "{\"pid\":\($0.pid),\"reason\":\(JSONText.quoted($0.reason))}" }
                .joined(separator: ",") + "]")
        }, run: run, indexed: false)
    }

    /// statelab's own check of the run, for an independent checker to compare with.
    public func check(_ result: CheckResult) {
        export.write({ line in
            line.string("type", "check")
            line.string("view", result.perHost ? "per-host" : result.shared ? "shared" : "per-worker")
            line.raw("counter_checked", result.counterChecked ? "true" : "false")
            line.int("lost", result.lost)
            line.int("unexpected", result.unexpected)
            line.int("duplicates", result.duplicates)
            line.int("final", result.final)
            line.int("acknowledged", result.acknowledged)
            line.string("verdict", result.verdict.rawValue)
            if let inconclusive = result.inconclusive { line.string("inconclusive", inconclusive) }
        }, run: run, indexed: false)
    }
}

extension Outcome {
    /// Jepsen's word for how an operation ended.
    var jepsenType: String {
        switch self {
        case .ok: return "ok"
        case .fail: return "fail"
        case .indeterminate: return "info"
        }
    }
}

/// One JSON object being written, fields in order, without the closing brace.
struct JSONLine {
    private(set) var bytes: [UInt8] = []

    init(run: Int) {
        bytes.reserveCapacity(192)
        bytes.append(contentsOf: "{\"run\":".utf8)
        appendInt(run)
    }

    private mutating func key(_ name: StaticString) {
        bytes.append(UInt8(ascii: ","))
        bytes.append(UInt8(ascii: "\""))
        name.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
    }

    mutating func int(_ name: StaticString, _ value: Int) {
        key(name)
        appendInt(value)
    }

    mutating func string(_ name: StaticString, _ value: String) {
        key(name)
        if value.utf8.allSatisfy({ $0 >= 0x20 && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) {
            bytes.append(UInt8(ascii: "\""))
            bytes.append(contentsOf: value.utf8)
            bytes.append(UInt8(ascii: "\""))
        } else {
            bytes.append(contentsOf: JSONText.quoted(value).utf8)
        }
    }

    mutating func optionalString(_ name: StaticString, _ value: String?) {
        if let value { string(name, value) } else { null(name) }
    }

    mutating func null(_ name: StaticString) {
        key(name)
        bytes.append(contentsOf: "null".utf8)
    }

    /// A value already in JSON.
    mutating func raw(_ name: StaticString, _ json: String) {
        key(name)
        bytes.append(contentsOf: json.utf8)
    }

    private mutating func appendInt(_ value: Int) {
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        withUnsafeMutableBytes(of: &digits) { out in
            repeat {
                out[count] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
                count += 1
            } while magnitude > 0
            for index in stride(from: count - 1, through: 0, by: -1) { bytes.append(out[index]) }
        }
    }
}
