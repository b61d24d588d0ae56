/// A scenario that can't be used, said in one line a person can act on:
/// "FILE:LINE:COLUMN: problem; fix", or "FILE: problem; fix" when no place applies.
public struct ScenarioError: Error, CustomStringConvertible, Sendable, Equatable {
    public var file: String
    public var line: Int?
    public var column: Int?
    public var problem: String
    public var fix: String

    public init(file: String, line: Int? = nil, column: Int? = nil, problem: String, fix: String) {
        self.file = file
        self.line = line
        self.column = column
        self.problem = problem
        self.fix = fix
    }

    public var description: String {
        var place = file
        if let line { place += ":\(line):\(column ?? 1)" }
        let text = fix.isEmpty ? "\(place): \(problem)" : "\(place): \(problem); \(fix)"
        return ScenarioError.oneLine(text)
    }

    /// Newlines and tabs from quoted values or YAML messages would break the one-line promise.
    static func oneLine(_ text: String) -> String {
        String(text.map { $0.isNewline || $0 == "\t" ? " " : $0 })
    }

    /// A value from the file, quoted and shortened for a message.
    static func quote(_ value: String) -> String {
        let short = value.count > 40 ? String(value.prefix(37)) + "..." : value
        return "'\(oneLine(short))'"
    }

    /// The candidate closest to `word` by edit distance, when it is close enough
    /// to be a typo rather than a different word.
    static func nearMiss(for word: String, among candidates: [String]) -> String? {
        let scored = candidates.map { ($0, editDistance(word.lowercased(), $0)) }
        guard let best = scored.min(by: { $0.1 < $1.1 }) else { return nil }
        let allowed = max(2, min(word.count, best.0.count) / 3)
        return best.1 <= allowed ? best.0 : nil
    }

    /// Levenshtein distance, two rows.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
                current[j] = min(previous[j] + 1, current[j - 1] + 1, substitution)
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
