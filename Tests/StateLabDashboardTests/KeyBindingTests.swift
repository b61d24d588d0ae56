import StateLab
import Testing
@testable import StateLabDashboard

@Suite struct KeyBindingTests {
    /// The keys a footer item stands for ("+-" -> "+", "-"; "Spc" -> space).
    static func keys(of item: (keys: String, label: String)) -> [Key] {
        item.keys == "Spc" ? [.space] : item.keys.map { Key.character($0) }
    }

    @Test func everyFooterKeyDispatchesSomething() {
        for item in KeyBindings.footerItems {
            for key in Self.keys(of: item) {
                var model = Fixtures.lostUpdates()
                let before = model
                let actions = KeyBindings.dispatch(key, model: &model)
                #expect(!actions.isEmpty || model != before, "footer key \(key.name) (\(item.label)) does nothing")
            }
        }
    }

    @Test func footerAndHelpComeFromTheSameTable() {
        let footerKeys = KeyBindings.footerItems.flatMap(Self.keys(of:))
        let tableKeys = KeyBindings.table.filter { $0.footerKey != nil }.map { $0.keys[0] }
        #expect(footerKeys == tableKeys)
        // No key is bound twice, so dispatch is unambiguous.
        let all = KeyBindings.table.flatMap(\.keys)
        #expect(Set(all).count == all.count)
    }

    @Test(arguments: [
        (Key.space, DashboardAction.fireBurst),
        (.character("+"), .changeConcurrency(by: 1)),
        (.character("="), .changeConcurrency(by: 1)),
        (.character("-"), .changeConcurrency(by: -1)),
        (.character("w"), .changeWorkers(by: -1)),
        (.character("W"), .changeWorkers(by: 1)),
        (.character("r"), .resetOne(worker: 0)),
        (.character("R"), .resetAll),
        (.character("k"), .killWorker(worker: 0)),
        (.character("K"), .killStore),
        (.character("U"), .restartStore),
        (.character("A"), .restartApp),
        (.character("c"), .compare),
        (.character("p"), .setPaused(true)),
        (.character("q"), .quit),
        (.function(10), .quit),
    ])
    func keyAsksTheEngine(key: Key, action: DashboardAction) {
        var model = Fixtures.lostUpdates()
        #expect(KeyBindings.dispatch(key, model: &model) == [action])
    }

    /// K, U and A are in the help only: the footer keeps its one line at 120 columns and two at 80.
    @Test func storeAndAppKeysAreInTheHelpNotTheFooter() throws {
        for (key, words) in [("K", "kill the store's process"), ("U", "start the store again"), ("A", "restart the app")] {
            let binding = try #require(KeyBindings.binding(for: .character(Character(key))))
            #expect(binding.footerKey == nil)
            #expect(!KeyBindings.footerItems.contains { $0.keys.contains(key) })
            var model = Fixtures.lostUpdates()
            model.overlay = .help
            for (width, height) in DashboardLayoutTests.sizes {
                let screen = Renderer.render(model, width: width, height: height)
                let line = try #require(screen.line(containing: words), "help at \(width)x\(height) lacks \(key)")
                #expect(line.contains("│ \(key) "))
            }
        }
        for width in [80, 120] {
            #expect(FooterPanel.height(width: width) == (width >= 120 ? 1 : 2))
            var x = 0, row = 0
            for (item, position) in zip(KeyBindings.footerItems, FooterPanel.layout(width: width)) {
                if position.row != row { (row, x) = (position.row, 0) }
                x = position.column + item.keys.count + 1 + item.label.count
                #expect(x <= width, "footer item \(item.keys) \(item.label) ends at column \(x) of \(width)")
            }
        }
    }

    @Test func questionMarkAndF1OpenHelpAndAnyKeyClosesIt() {
        for key in [Key.character("?"), .function(1)] {
            var model = Fixtures.lostUpdates()
            #expect(KeyBindings.dispatch(key, model: &model).isEmpty)
            #expect(model.overlay == .help)
            // Closing help does nothing else: q here does not quit.
            #expect(KeyBindings.dispatch(.character("q"), model: &model).isEmpty)
            #expect(model.overlay == .none)
            #expect(!model.quitRequested)
        }
    }

    @Test func strategyPickerMovesChoosesAndRefusesUnavailable() {
        var model = Fixtures.lostUpdates()  // shm; redis unavailable
        _ = KeyBindings.dispatch(.character("s"), model: &model)
        #expect(model.overlay == .strategyPicker(cursor: 2))
        _ = KeyBindings.dispatch(.down, model: &model)
        _ = KeyBindings.dispatch(.down, model: &model)
        #expect(model.overlay == .strategyPicker(cursor: 4))
        #expect(KeyBindings.dispatch(.enter, model: &model).isEmpty, "redis is unavailable")
        #expect(model.overlay == .strategyPicker(cursor: 4))
        _ = KeyBindings.dispatch(.up, model: &model)
        #expect(KeyBindings.dispatch(.enter, model: &model) == [.chooseStrategy(.sqlite)])
        #expect(model.overlay == .none)
    }

    @Test func pickerEscapeCancelsAndArrowsStayInRange() {
        var model = Fixtures.lostUpdates()
        model.overlay = .strategyPicker(cursor: 0)
        _ = KeyBindings.dispatch(.up, model: &model)
        #expect(model.overlay == .strategyPicker(cursor: 0))
        // Other keys are swallowed by the picker: space does not fire a burst.
        #expect(KeyBindings.dispatch(.character("k"), model: &model).isEmpty)
        #expect(KeyBindings.dispatch(.escape, model: &model).isEmpty)
        #expect(model.overlay == .none)
    }

    @Test func modePickerOffersOnlyWhatTheStrategyHas() {
        var model = Fixtures.divergence()  // global: naive only
        _ = KeyBindings.dispatch(.character("m"), model: &model)
        #expect(model.overlay == .modePicker(cursor: 0))
        _ = KeyBindings.dispatch(.down, model: &model)
        #expect(KeyBindings.dispatch(.enter, model: &model).isEmpty, "global has no locked mode")

        var shared = Fixtures.lostUpdates()
        _ = KeyBindings.dispatch(.character("m"), model: &shared)
        _ = KeyBindings.dispatch(.down, model: &shared)
        _ = KeyBindings.dispatch(.down, model: &shared)
        #expect(KeyBindings.dispatch(.enter, model: &shared) == [.chooseMode(.atomic)])
    }

    @Test func arrowsSelectTheWorkerThatResetAndKillTarget() {
        var model = Fixtures.lostUpdates()
        _ = KeyBindings.dispatch(.down, model: &model)
        _ = KeyBindings.dispatch(.down, model: &model)
        #expect(model.selectedWorker == 2)
        #expect(KeyBindings.dispatch(.character("k"), model: &model) == [.killWorker(worker: 2)])
        #expect(KeyBindings.dispatch(.character("r"), model: &model) == [.resetOne(worker: 2)])
        for _ in 0..<10 { _ = KeyBindings.dispatch(.down, model: &model) }
        #expect(model.selectedWorker == 3)
        // Fewer workers after a relaunch keep the selection on a real row.
        model.apply(.workers([WorkerRow(index: 0, pid: 1)]))
        #expect(model.selectedWorker == 0)
    }

    @Test func resetAndKillNeedAWorker() {
        var model = Fixtures.base()
        #expect(KeyBindings.dispatch(.character("r"), model: &model).isEmpty)
        #expect(KeyBindings.dispatch(.character("k"), model: &model).isEmpty)
    }

    @Test func pauseToggles() {
        var model = Fixtures.lostUpdates()
        #expect(KeyBindings.dispatch(.character("p"), model: &model) == [.setPaused(true)])
        #expect(model.paused)
        #expect(KeyBindings.dispatch(.character("p"), model: &model) == [.setPaused(false)])
        #expect(!model.paused)
    }

    @Test func compareOpensItsOverlayAndDoesNotRestartARunningComparison() {
        var model = Fixtures.lostUpdates()
        #expect(KeyBindings.dispatch(.character("c"), model: &model) == [.compare])
        #expect(model.overlay == .compare)
        model.apply(.compareStarted(mode: .naive, increments: 1000, strategies: Strategy.allCases))
        _ = KeyBindings.dispatch(.escape, model: &model)
        #expect(model.overlay == .none)
        #expect(KeyBindings.dispatch(.character("c"), model: &model).isEmpty)
        #expect(model.overlay == .compare)
        model.apply(.compareFinished)
        _ = KeyBindings.dispatch(.enter, model: &model)
        #expect(KeyBindings.dispatch(.character("c"), model: &model) == [.compare])
    }

    @Test func unboundKeysAndResizeDoNothing() {
        var model = Fixtures.lostUpdates()
        let before = model
        for key in [Key.character("x"), .resize, .left, .function(5)] {
            #expect(KeyBindings.dispatch(key, model: &model).isEmpty)
        }
        #expect(model == before)
    }

    @Test func sessionDrainsEventsAndStopsAtQuit() {
        var session = DashboardSession(model: Fixtures.base())
        session.absorb([.workers([WorkerRow(index: 0, pid: 7, currentRead: 3)]), .throughput(requestsPerSecond: 10), .log(.kill, "killed 7")])
        #expect(session.model.workers.count == 1)
        #expect(session.model.requestsPerSecond == 10)
        #expect(session.model.log.entries.last?.text == "killed 7")
        let actions = session.press([.space, .character("q"), .space])
        #expect(actions == [.fireBurst, .quit])
        #expect(session.model.quitRequested)
    }

    @Test func eventLogAndHistoryStayBounded() {
        var model = DashboardModel(settings: DashboardSettings(strategy: .shm, mode: .naive, workers: 2, concurrency: 4), logCapacity: 5, throughputCapacity: 3)
        for n in 0..<20 {
            model.apply(.log(.info, "line \(n)"))
            model.apply(.throughput(requestsPerSecond: Double(n)))
        }
        #expect(model.log.entries.map(\.text) == (15..<20).map { "line \($0)" })
        #expect(model.throughput.samples == [17, 18, 19])
    }

    @Test func explanationIsTheChecksVerdictAndSentence() {
        for model in [Fixtures.healthy(), Fixtures.lostUpdates(), Fixtures.divergence()] {
            let check = try! #require(model.totals.check)
            #expect(model.explanation.text == "\(check.verdict.rawValue): \(check.explanation)")
        }
        #expect(Fixtures.healthy().explanation.role == .good)
        #expect(Fixtures.lostUpdates().explanation.role == .bad)
        #expect(Fixtures.divergence().explanation.role == .bad)
        // Reads that disagree on a screen are not a verdict: only the check is.
        var sharedDisagree = Fixtures.healthy()
        sharedDisagree.workers[1].currentRead = 990
        #expect(sharedDisagree.explanation.text.hasPrefix("ok: "))
        // A burst in flight is live, with no verdict until it is checked.
        var live = Fixtures.healthy()
        live.apply(.burstStarted(total: 500))
        live.apply(.live(LiveFigures(acknowledged: 120, storeRead: 1_110)))
        #expect(live.explanation.text.hasPrefix("live: 120 acknowledged so far"))
        #expect(DashboardModel(settings: Fixtures.base().settings).explanation.text == "no increments yet: press space to fire a burst")
    }

    @Test func colourFollowsTheFlagAndNoColor() {
        #expect(DashboardLoop.wantsColor(noColorFlag: false, environment: [:]))
        #expect(!DashboardLoop.wantsColor(noColorFlag: true, environment: [:]))
        #expect(!DashboardLoop.wantsColor(noColorFlag: false, environment: ["NO_COLOR": "1"]))
        #expect(DashboardLoop.wantsColor(noColorFlag: false, environment: ["NO_COLOR": ""]))
    }

    @Test func terminalDecodesCursesKeyCodes() {
        #expect(Terminal.decode(32) == .space)
        #expect(Terminal.decode(Int32(UInt8(ascii: "W"))) == .character("W"))
        #expect(Terminal.decode(27) == .escape)
        #expect(Terminal.decode(10) == .enter)
        #expect(Terminal.decode(-1) == nil)
    }
}
