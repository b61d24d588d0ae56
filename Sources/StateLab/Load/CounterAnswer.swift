/// The fields statelab reads from a counter app's JSON answer, found by a
/// small byte scan: the load generator parses every answer, and a full JSON
/// decode would cost more than the request itself.
public struct CounterAnswer: Sendable, Equatable {
    public var count: Int?
    /// "pid", or "current_process_id" as some external apps name it.
    public var pid: Int32?
    public var worker: Int?
    /// The app said explicitly that the increment was not applied (`"committed": false`).
    public var notCommitted: Bool

    public init(count: Int? = nil, pid: Int32? = nil, worker: Int? = nil, notCommitted: Bool = false) {
        self.count = count
        self.pid = pid
        self.worker = worker
        self.notCommitted = notCommitted
    }

    public static func parse(_ bytes: some Collection<UInt8>, fields: AnswerFields = .standard) -> CounterAnswer {
        let keys = fields == .standard ? AnswerKeys.standard : AnswerKeys(fields)
        let scanned = bytes.withContiguousStorageIfAvailable { parse(buffer: UnsafeRawBufferPointer($0), keys: keys) }
        return scanned ?? Array(bytes).withUnsafeBytes { parse(buffer: $0, keys: keys) }
    }

    public static func parse(buffer: UnsafeRawBufferPointer) -> CounterAnswer {
        parse(buffer: buffer, keys: .standard)
    }

    static func parse(buffer: UnsafeRawBufferPointer, keys: AnswerKeys) -> CounterAnswer {
        // One pass over the quotes finds the first `"key":` of each of the five, as five searches would.
        let scanner = JSONFieldScanner(bytes: buffer)
        var pid = -1, count = -1, processID = -1, worker = -1, committed = -1
        keys.pid.withUnsafeBufferPointer { pidKey in
            keys.count.withUnsafeBufferPointer { countKey in
                Keys.currentProcessID.withUnsafeBufferPointer { processIDKey in
                    Keys.worker.withUnsafeBufferPointer { workerKey in
                        Keys.committed.withUnsafeBufferPointer { committedKey in
                            var from = 0
                            while let quote = HTTPBytes.index(of: UInt8(ascii: "\""), in: buffer, from: from) {
                                scanner.find(pidKey, at: quote, into: &pid)
                                scanner.find(countKey, at: quote, into: &count)
                                scanner.find(processIDKey, at: quote, into: &processID)
                                scanner.find(workerKey, at: quote, into: &worker)
                                scanner.find(committedKey, at: quote, into: &committed)
                                from = quote + 1
                            }
                        }
                    }
                }
            }
        }
        let named = scanner.integer(at: pid) ?? scanner.integer(at: processID)
        return CounterAnswer(
            count: scanner.integer(at: count),
            pid: named.flatMap { Int32(exactly: $0) },
            worker: scanner.integer(at: worker),
            notCommitted: scanner.boolean(at: committed) == false
        )
    }

    /// How a request with this answer ended, as DESIGN.md defines it.
    public func outcome(status: Int) -> Outcome {
        if notCommitted { return .fail }
        switch status {
        case 200..<300: return .ok
        case 500..<600: return .indeterminate
        default: return .fail
        }
    }

    private enum Keys {
        static let currentProcessID = Array("\"current_process_id\"".utf8)
        static let worker = Array("\"worker\"".utf8)
        static let committed = Array("\"committed\"".utf8)
    }
}

/// The names of the pid and count fields in a counter app's answers:
/// `{"count": n, "pid": p}` unless an app names them otherwise. A pid is also
/// taken from "current_process_id" or the X-Worker-Pid header.
public struct AnswerFields: Sendable, Equatable {
    public var pidField: String
    public var countField: String

    public init(pidField: String = "pid", countField: String = "count") {
        self.pidField = pidField
        self.countField = countField
    }

    public static let standard = AnswerFields()

    /// nil when both names can be searched for as JSON keys; otherwise why not.
    public var problem: String? {
        for (flag, name) in [("pid", pidField), ("count", countField)] {
            if name.isEmpty { return "the \(flag) field name is empty" }
            if name.contains(where: { $0 == "\"" || $0 == "\\" || $0.asciiValue.map { $0 < 0x20 } == true }) {
                return "the \(flag) field name '\(name)' holds a quote, a backslash or a control character"
            }
        }
        return nil
    }
}

/// The quoted keys of `AnswerFields`, encoded once: the load generator
/// searches for them in every answer.
struct AnswerKeys: Sendable {
    let pid: [UInt8]
    let count: [UInt8]

    init(_ fields: AnswerFields) {
        pid = Array("\"\(fields.pidField)\"".utf8)
        count = Array("\"\(fields.countField)\"".utf8)
    }

    static let standard = AnswerKeys(.standard)
}

/// Finds `"key": value` in a flat JSON object without building it.
struct JSONFieldScanner {
    let bytes: UnsafeRawBufferPointer

    func integer(for quotedKey: [UInt8]) -> Int? {
        quotedKey.withUnsafeBufferPointer { integer(at: valueStart(for: $0) ?? -1) }
    }

    /// The integer whose first byte is at `start` (-1: none).
    func integer(at start: Int) -> Int? {
        guard start >= 0 else { return nil }
        var i = start
        // Accept a number written as a string too ("pid": "123").
        let quoted = bytes[i] == UInt8(ascii: "\"")
        if quoted { i += 1 }
        var negative = false
        if i < bytes.count, bytes[i] == UInt8(ascii: "-") {
            negative = true
            i += 1
        }
        var value = 0
        var digits = 0
        while i < bytes.count, bytes[i] >= UInt8(ascii: "0"), bytes[i] <= UInt8(ascii: "9") {
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(Int(bytes[i] - UInt8(ascii: "0")))
            if overflow1 || overflow2 { return nil }
            value = sum
            digits += 1
            i += 1
        }
        guard digits > 0 else { return nil }
        return negative ? -value : value
    }

    func boolean(for quotedKey: [UInt8]) -> Bool? {
        quotedKey.withUnsafeBufferPointer { boolean(at: valueStart(for: $0) ?? -1) }
    }

    /// true or false when the value at `start` is one (-1: none).
    func boolean(at start: Int) -> Bool? {
        guard start >= 0 else { return nil }
        if matches("true", at: start) { return true }
        if matches("false", at: start) { return false }
        return nil
    }

    /// Where the value after `"key"`, `:` and blanks starts, if `quotedKey` is at `position`
    /// and `slot` has none yet (-1).
    @inline(__always)
    func find(_ quotedKey: UnsafeBufferPointer<UInt8>, at position: Int, into slot: inout Int) {
        // Most keys differ from the bytes at a quote in the next byte already.
        guard slot < 0, quotedKey.count < 2 || (position + 1 < bytes.count && bytes[position + 1] == quotedKey[1]),
              let start = valueStart(of: quotedKey, at: position) else { return }
        slot = start
    }

    /// The index of the first byte of the value after the first `"key"`, `:` and blanks.
    private func valueStart(for quotedKey: UnsafeBufferPointer<UInt8>) -> Int? {
        guard !quotedKey.isEmpty, bytes.count >= quotedKey.count else { return nil }
        var i = 0
        while i <= bytes.count - quotedKey.count {
            if let start = valueStart(of: quotedKey, at: i) { return start }
            i += 1
        }
        return nil
    }

    /// The value's first byte when `"key"`, `:` and blanks are at `i`.
    private func valueStart(of quotedKey: UnsafeBufferPointer<UInt8>, at i: Int) -> Int? {
        guard !quotedKey.isEmpty, bytes[i] == quotedKey[0], matches(quotedKey, at: i) else { return nil }
        var j = skipBlanks(from: i + quotedKey.count)
        guard j < bytes.count, bytes[j] == UInt8(ascii: ":") else { return nil }
        j = skipBlanks(from: j + 1)
        return j < bytes.count ? j : nil
    }

    private func matches(_ literal: StaticString, at start: Int) -> Bool {
        matches(UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount), at: start)
    }

    private func matches(_ pattern: UnsafeBufferPointer<UInt8>, at start: Int) -> Bool {
        guard start + pattern.count <= bytes.count else { return false }
        for k in 0..<pattern.count where bytes[start + k] != pattern[k] { return false }
        return true
    }

    private func skipBlanks(from start: Int) -> Int {
        var i = start
        while i < bytes.count, bytes[i] == UInt8(ascii: " ") || bytes[i] == UInt8(ascii: "\t")
            || bytes[i] == UInt8(ascii: "\n") || bytes[i] == UInt8(ascii: "\r") {
            i += 1
        }
        return i
    }
}
