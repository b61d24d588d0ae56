import StateLab
import Testing
@testable import StateLabDashboard

/// The race view (`v`): the latest witnessed lost update drawn as its
/// interleaving, rendered into a buffer without a terminal.
@Suite struct RaceViewTests {
    /// The overlay's inside, row by row (the box is centred, as `OverlayPanels.panel` places it).
    static func overlayRows(_ screen: ScreenBuffer) -> [String] {
        let width = min(RacePanel.width, screen.width - 2)
        let left = (screen.width - width) / 2 + 2
        return screen.text.map { String($0.dropFirst(left).prefix(width - 4)) }
    }

    /// The diagram's rows: those that start with a time ("0 µs", "+50 µs", "+1.80 ms").
    static func diagramRows(_ screen: ScreenBuffer) -> [String] {
        overlayRows(screen).map { row in
            row.range(of: #"^(0 µs|\+[0-9.]+ (µs|ms|s)) "#, options: .regularExpression) == nil ? "" : row
        }
    }

    /// Everything in the overlay as one line of words, so a wrapped sentence reads whole.
    static func overlayWords(_ screen: ScreenBuffer) -> String {
        overlayRows(screen).flatMap { $0.split(separator: " ") }.joined(separator: " ")
    }

    static func render(_ model: DashboardModel, _ width: Int, _ height: Int) -> ScreenBuffer {
        var model = model
        model.overlay = .race
        return Renderer.render(model, width: width, height: height)
    }

    @Test(arguments: DashboardLayoutTests.sizes)
    func bothWorkersReadTheSameCountBeforeEitherWrote(width: Int, height: Int) throws {
        let race = Races.bothRead41()
        let screen = Self.render(Fixtures.racing(race), width, height)
        #expect(screen.contains("race: 2 increments each returned 42"), "\(screen)")

        // One column per pid, titled by it, on one row.
        let header = try #require(Self.overlayRows(screen).first { $0.hasPrefix("time ") }, "\(screen)")
        let first = try #require(column(of: "pid 41002", in: header))
        let second = try #require(column(of: "pid 41003", in: header))
        #expect(first < second)
        let rows = Self.diagramRows(screen)

        // Time runs down: both reads of 41, then both writes of 42, each in its pid's column.
        let reads = rows.indices.filter { rows[$0].contains("read 41") }
        let writes = rows.indices.filter { rows[$0].contains("wrote 42") }
        #expect(reads.count == 2 && writes.count == 2, "\(screen)")
        #expect(reads.max()! < writes.min()!, "a read comes after a write:\n\(screen)")
        #expect(reads.map { column(of: "read 41", in: rows[$0]) } == [first, second])
        #expect(writes.map { column(of: "wrote 42", in: rows[$0]) } == [first, second])
        // Room enough for each request's send and answer too, and a time for every event.
        let sends = rows.indices.filter { rows[$0].contains("sent") }
        let answers = rows.indices.filter { rows[$0].contains("answered 42") }
        #expect(sends.count == 2 && answers.count == 2)
        #expect(sends.max()! < reads.min()! && writes.max()! < answers.min()!)
        #expect(rows[sends[0]].hasPrefix("0 µs"))
        #expect(rows[reads[0]].hasPrefix("+50 µs") && rows[reads[1]].hasPrefix("+100 µs"))
        #expect(rows[writes[0]].hasPrefix("+300 µs") && rows[writes[1]].hasPrefix("+320 µs"))
        // While pid 41003 reads, pid 41002's request is still in flight: its lifeline.
        #expect(rows[reads[1]].dropFirst(first).hasPrefix("│"))

        // Under the diagram, the race's own sentence, whole however it wraps.
        #expect(race.sentence.contains("both read 41 before either wrote 42"))
        #expect(Self.overlayWords(screen).contains(race.sentence), "\(screen)")
        #expect(try #require(Self.overlayRows(screen).firstIndex { $0.contains("both read 41") }) > answers.max()!)
        #expect(Self.overlayWords(screen).contains("1 other increment was in flight meanwhile"))
        #expect(screen.contains("any key closes"))
    }

    private func column(of label: String, in row: String) -> Int? {
        row.range(of: label).map { $0.lowerBound.utf16Offset(in: row) }
    }

    @Test func fitsEightyByTwentyFourWithTheSentenceWrappedNotCut() throws {
        let race = Races.bothRead41()
        let screen = Self.render(Fixtures.racing(race), 80, 24)
        #expect(screen.text.count == 24 && screen.text.allSatisfy { $0.count == 80 })
        // The box is whole: both corners of the top and of the bottom on screen.
        let top = try #require(screen.text.firstIndex { $0.contains("┌") && $0.contains("race: ") })
        let bottom = try #require(screen.text.lastIndex { $0.contains("└") && $0.contains("any key closes") })
        #expect(top >= 0 && bottom < 24 && screen.text[bottom].contains("┘"))
        // No line of the sentence runs into the border, and no word is split between lines.
        let sentenceRows = Self.overlayRows(screen).filter { line in
            race.sentence.contains(line.trimmingCharacters(in: .whitespaces)) && !line.trimmingCharacters(in: .whitespaces).isEmpty
        }
        #expect(sentenceRows.count >= 2, "the sentence should need two lines at 80 columns:\n\(screen)")
        let words = Set(race.sentence.split(separator: " ").map(String.init))
        for line in sentenceRows {
            for word in line.split(separator: " ") { #expect(words.contains(String(word)), "\"\(word)\" is a cut word") }
        }
        #expect(Self.overlayWords(screen).contains(race.sentence))
    }

    /// An app that does not say when it reads or writes: each request from its send to its answer, and the view says so.
    @Test(arguments: DashboardLayoutTests.sizes)
    func outsideViewShowsRequestsAndSaysTheAppDidNotSay(width: Int, height: Int) throws {
        let race = Races.outsideView()
        let screen = Self.render(Fixtures.racing(race), width, height)
        let rows = Self.diagramRows(screen)
        #expect(rows.filter { $0.contains("sent") }.count == 2)
        #expect(rows.filter { $0.contains("answered 42") }.count == 2)
        #expect(!rows.contains { $0.contains("read") || $0.contains("wrote") })
        // pid 41003 was sent before pid 41002 answered: the requests overlapped.
        let secondSent = try #require(rows.lastIndex { $0.contains("sent") })
        let firstAnswer = try #require(rows.firstIndex { $0.contains("answered 42") })
        #expect(secondSent < firstAnswer)
        #expect(rows[secondSent].hasPrefix("+800 µs"), "\(screen)")
        #expect(rows[firstAnswer].hasPrefix("+1.80 ms"), "\(screen)")
        let words = Self.overlayWords(screen)
        #expect(words.contains("The app did not say when it read or wrote"), "\(screen)")
        #expect(words.contains(race.sentence), "\(screen)")
    }

    @Test func noRaceYetSaysSoAndAtomicExpectsNone() {
        let fresh = Self.overlayWords(Self.render(Fixtures.base(), 80, 24))
        #expect(fresh.contains("No lost update has been witnessed yet."))
        #expect(fresh.contains("Space fires a burst"))
        #expect(!fresh.contains("none is expected"))

        let atomic = Self.overlayWords(Self.render(Fixtures.healthy(), 80, 24))
        #expect(atomic.contains("No lost update has been witnessed yet."))
        #expect(atomic.contains("In atomic mode none is expected: the store reads and adds in one step (atomic fetch-add)."))

        // Lost by the count, but no two acknowledged answers alike: nothing to draw, and the check's figure.
        var counted = Fixtures.base()
        let unique = (1...10).map { Histories.increment($0, Histories.pids[$0 % 4], at: UInt64($0) * 10) }
        let check = Histories.check(unique, finals: Histories.finals([8, 8, 8, 8]), shared: true)
        #expect(check.lost == 2 && check.duplicates == 0)
        counted.apply(.burstFinished(RunTotals(check: check)))
        let countedWords = Self.overlayWords(Self.render(counted, 80, 24))
        #expect(countedWords.contains("the check counts 2 lost, but no two acknowledged answers carried the same count"), "\(countedWords)")
        // Answers that repeated a count, with no race kept for them (none outside this fixture: every session keeps evidence).
        let repeated = Self.overlayWords(Self.render(Fixtures.lostUpdates(), 80, 24))
        #expect(repeated.contains("the check saw 42 answers repeat a count"))

        var yours = Fixtures.base()
        yours.apply(.settings(DashboardSettings(strategy: .shm, mode: .atomic, workers: 4, concurrency: 32, targetLabel: "http://127.0.0.1:8000")))
        let words = Self.overlayWords(Self.render(yours, 120, 40))
        #expect(words.contains("Your app says nothing of its reads and writes"))
        #expect(!words.contains("none is expected"), "an app of the user's has no mode statelab knows")
    }

    /// Five colliding requests at 80x24: four columns, the reads and writes kept, the sends and answers dropped.
    @Test func manyCollidingRequestsKeepTheReadsAndWrites() {
        let race = Races.many(5)
        let screen = Self.render(Fixtures.racing(race), 80, 24)
        let rows = Self.diagramRows(screen)
        #expect(screen.text.allSatisfy { $0.count == 80 })
        let header = Self.overlayRows(screen).first { $0.hasPrefix("time ") } ?? ""
        for pid in 52000...52003 { #expect(header.contains("pid \(pid)")) }
        #expect(!header.contains("pid 52004"), "\(screen)")
        #expect(rows.filter { $0.contains("read 999,999") }.count == 4, "\(screen)")
        #expect(rows.filter { $0.contains("wrote 1,000,000") }.count == 4)
        #expect(!rows.contains { $0.contains("sent") })
        let words = Self.overlayWords(screen)
        #expect(words.contains("1 more answered 1,000,000 too"))
        #expect(words.contains(race.sentence), "\(screen)")
    }

    @Test func theVerdictBoxNamesTheKeyOnceARaceIsKept() throws {
        let without = Renderer.render(Fixtures.lostUpdates(), width: 80, height: 24)
        #expect(try #require(without.line(containing: "witnesses: ")).contains("shows the race") == false)
        for (width, height) in DashboardLayoutTests.sizes {
            let screen = Renderer.render(Fixtures.racing(), width: width, height: height)
            let line = try #require(screen.line(containing: "witnesses: "))
            #expect(line.contains("witnesses: 42 from workers 2,3 · 102 from workers 2,3"), "\(line)")
            #expect(line.contains("  (v shows the race)"), "\(line)")
        }
    }

    // MARK: The model and the keys

    @Test func vOpensTheRaceAndAnyKeyClosesIt() throws {
        let binding = try #require(KeyBindings.binding(for: .character("v")))
        #expect(binding.command == .showRace)
        for key in [Key.character("q"), .space, .escape, .character("v"), .enter] {
            var model = Fixtures.racing()
            #expect(KeyBindings.dispatch(.character("v"), model: &model).isEmpty)
            #expect(model.overlay == .race)
            // Closing does nothing else: q does not quit, space fires no burst.
            #expect(KeyBindings.dispatch(key, model: &model).isEmpty)
            #expect(model.overlay == .none)
            #expect(!model.quitRequested)
        }
    }

    /// In the help; not in the footer, which keeps one line at 120 columns and two at 80.
    @Test func vIsInTheHelpNotTheFooter() throws {
        #expect(!KeyBindings.footerItems.contains { $0.keys.contains("v") })
        var model = Fixtures.racing()
        model.overlay = .help
        for (width, height) in DashboardLayoutTests.sizes {
            let screen = Renderer.render(model, width: width, height: height)
            let line = try #require(screen.line(containing: "view the latest lost update"), "help at \(width)x\(height) lacks v:\n\(screen)")
            #expect(line.contains("│ v "))
            // The last binding's row is not overwritten by the hint.
            #expect(screen.contains("quit and restore the terminal"))
            #expect(screen.contains("any key closes this"))
        }
        for width in [80, 120] { #expect(FooterPanel.height(width: width) == (width >= 120 ? 1 : 2)) }
    }

    @Test func theRaceComesWithTheCheckAndARelaunchClearsIt() {
        let check = Histories.lostUpdates()
        let race = Races.bothRead41()
        let mapped = LiveController.map(.checked(check, witnesses: [], race: race, afterBurst: true))
        #expect(mapped == [.burstFinished(RunTotals(check: check)), .race(race)])
        #expect(LiveController.map(.checked(check, witnesses: [], race: nil, afterBurst: false)) == [.totals(RunTotals(check: check)), .race(nil)])
        #expect(LiveController.map(.cleared).contains(.race(nil)))

        var model = Fixtures.lostUpdates()
        for event in mapped { model.apply(event) }
        #expect(model.race == race)
        model.apply(.relaunched(DashboardSettings(strategy: .shm, mode: .atomic, workers: 4, concurrency: 32)))
        #expect(model.race == nil)
    }
}
