import Foundation
import StateLab
import StateLabTestSupport
import Testing

/// The race view (`v`) on a real dashboard in tmux: statelab's own naive
/// workers say when each increment read and wrote, and the view draws a lost
/// update from them. In the dashboards' suite, so no two dashboards run at once.
extension DashboardEndToEndTests {
    @Test func theRaceViewShowsTwoReadsOfOneCountBeforeEitherWrote() throws {
        // Four connections and a 200 µs window between read and write: nearly every burst loses updates.
        let pane = try DashboardPane(arguments: ["--strategy", "shm", "--mode", "naive", "--race-window-us", "200",
                                                 "--workers", "2", "--concurrency", "4", "--burst", "500"])
        defer { pane.stop() }
        var workers = try pane.waitForWorkers(2)
        var everyWorker = workers

        // Before any burst the view says nothing was witnessed; any key closes it.
        pane.press("v")
        try pane.waitForScreen("the empty race view") { $0.contains("No lost update has been witnessed yet.") }
        pane.press("v")
        try pane.waitForScreen("the race view closed") { !$0.contains("No lost update has been witnessed yet.") }

        // Bursts until a race is kept (at most 5). Its sentence says both read before either wrote
        // unless a stale write put the count back between them; then a relaunch (W, a fresh
        // session) tries again, at most twice.
        var race: RaceOnScreen?
        for _ in 0..<3 where race?.bothReadBeforeEitherWrote != true {
            if race != nil {
                pane.press("v", "W")
                workers = try pane.waitForWorkers(workers.count + 1, differentFrom: workers)
                everyWorker += workers
            }
            race = try Self.fireUntilARaceIsDrawn(pane, bursts: 5)
        }
        let shown = try #require(race)
        #expect(shown.bothReadBeforeEitherWrote, "the race drawn:\n\(shown.rows.joined(separator: "\n"))")
        #expect(shown.reads.count >= 2, "two reads of \(shown.count - 1):\n\(shown.rows.joined(separator: "\n"))")
        #expect(shown.writes.count >= 2, "two writes of \(shown.count):\n\(shown.rows.joined(separator: "\n"))")
        #expect((shown.reads.max() ?? .max) < (shown.writes.min() ?? .min),
                "every read comes before every write:\n\(shown.rows.joined(separator: "\n"))")

        pane.press("v")
        try pane.waitForScreen("the race view closed") { !$0.contains("any key closes") }
        pane.press("q")
        let ending = try pane.waitForEnding()
        #expect(ending.exitStatus == 0)
        #expect(ending.terminalIsSane, "terminal left in raw mode: \(ending.stty)")
        let left = ProcessTable.waitGone(everyWorker)
        #expect(left.isEmpty, "workers left after quitting: \(left)")
        #expect(pane.leftoverRunDirectories.isEmpty, "run directories left: \(pane.leftoverRunDirectories)")
    }

    /// Fires bursts (each waited for until it is checked) and opens the race view after each,
    /// until it draws a race; returns it, the view left open.
    private static func fireUntilARaceIsDrawn(_ pane: DashboardPane, bursts: Int) throws -> RaceOnScreen? {
        for _ in 0..<bursts {
            let before = checkedAcknowledged(pane.screen) ?? 0
            pane.press("Space")
            try pane.waitForScreen("the burst's verdict", seconds: 120) { screen in
                (checkedAcknowledged(screen) ?? 0) > before
            }
            pane.press("v")
            let screen = try pane.waitForScreen("the race view") { $0.contains("┌─ race") && $0.contains("any key closes") }
            if let race = RaceOnScreen(screen) { return race }
            pane.press("v")
            try pane.waitForScreen("the race view closed") { !$0.contains("any key closes") }
        }
        return nil
    }

    /// The verdict's acknowledged figure once a burst is checked (not the live one while it runs).
    static func checkedAcknowledged(_ screen: String) -> Int? {
        guard let range = screen.range(of: #"│ acknowledged [0-9,]+ "#, options: .regularExpression) else { return nil }
        return Int(screen[range].dropFirst("│ acknowledged ".count).filter(\.isNumber))
    }
}

/// The race view as the pane shows it: its box's rows, the count both answered,
/// and which rows of the diagram read the count before and wrote it.
struct RaceOnScreen {
    /// The box's inside, row by row, borders cut off.
    var rows: [String]
    /// The count the colliding increments returned.
    var count: Int
    /// Diagram rows (by index in `rows`) that read `count - 1`, and that wrote `count`.
    var reads: [Int]
    var writes: [Int]
    /// The box's words in one line, so a wrapped sentence reads whole.
    var words: String

    /// "both read 41 before either wrote 42", or with more requests "all 3 read 41 before any wrote 42".
    var bothReadBeforeEitherWrote: Bool {
        words.contains("read \(count - 1) before either wrote \(count)") || words.contains("read \(count - 1) before any wrote \(count)")
    }

    /// Nil unless the pane shows a race's box ("┌─ race: 2 increments each returned 42 ─...┐").
    init?(_ screen: String) {
        let lines = screen.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let top = lines.firstIndex(where: { $0.contains("┌─ race: ") }),
              let title = lines[top].range(of: #"race: [0-9]+ increments each returned [0-9,]+"#, options: .regularExpression),
              let count = Int(lines[top][title].split(separator: " ").last?.filter(\.isNumber) ?? "") else { return nil }
        let characters = Array(lines[top])
        guard let left = characters.firstIndex(of: "┌"),
              let right = characters[(left + 1)...].firstIndex(of: "┐") else { return nil }
        var rows: [String] = []
        for line in lines[(top + 1)...] {
            let cells = Array(line)
            guard cells.count > right, cells[left] == "│" || cells[left] == "└" else { break }
            if cells[left] == "└" { break }
            rows.append(String(cells[(left + 1)..<right]).trimmingCharacters(in: .whitespaces))
        }
        self.rows = rows
        self.count = count
        words = rows.flatMap { $0.split(separator: " ") }.joined(separator: " ")
        // Diagram rows start with a time ("0 µs", "+50 µs", "+1.25 ms").
        let diagram = rows.indices.filter { rows[$0].range(of: #"^(0 µs|\+[0-9.]+ (µs|ms|s)) "#, options: .regularExpression) != nil }
        let label = { (verb: String, value: Int) in "\(verb) \(ReportNumbers.grouped(value))(?![0-9,])" }
        reads = diagram.filter { rows[$0].range(of: label("read", count - 1), options: .regularExpression) != nil }
        writes = diagram.filter { rows[$0].range(of: label("wrote", count), options: .regularExpression) != nil }
    }
}
