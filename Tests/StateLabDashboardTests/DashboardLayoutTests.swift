import StateLab
import Testing
@testable import StateLabDashboard

@Suite struct DashboardLayoutTests {
    static let sizes: [(Int, Int)] = [(80, 24), (120, 40)]

    @Test(arguments: sizes)
    func everyRowIsExactlyTheScreenWidth(width: Int, height: Int) {
        let screen = Renderer.render(Fixtures.lostUpdates(), width: width, height: height)
        #expect(screen.text.count == height)
        #expect(screen.text.allSatisfy { $0.count == width })
    }

    @Test(arguments: sizes)
    func headerShowsTheSettingsAndLiveFigures(width: Int, height: Int) {
        var model = Fixtures.lostUpdates()
        model.elapsedSeconds = 83
        let screen = Renderer.render(model, width: width, height: height)
        let header = screen.text[0]
        for field in ["strategy shm", "mode naive", "workers 4", "connections 32", "race window 50 µs"] {
            #expect(header.contains(field), "header lacks \(field): \(header)")
        }
        #expect(screen.text[1].contains("live 1,200 req/s"))
        #expect(screen.text[1].contains("elapsed 01:23"))
    }

    @Test(arguments: sizes)
    func workerTableHasOneRowPerPid(width: Int, height: Int) throws {
        let screen = Renderer.render(Fixtures.lostUpdates(), width: width, height: height)
        let titles = try #require(screen.line(containing: "status"))
        for column in ["worker", "pid", "acked", "read", "gap"] { #expect(titles.contains(column)) }
        for (index, pid) in Fixtures.pids.enumerated() {
            let row = try #require(screen.line(containing: String(pid)), "no row for pid \(pid)")
            #expect(row.contains("w\(index)"))
            #expect(row.contains("alive"))
            #expect(row.contains("250"))
            #expect(row.contains("958"))
            #expect(row.contains("-42"))
            #expect(row.contains("█"))
        }
        #expect(screen.text.filter { $0.contains("4100") && $0.contains("alive") }.count == 4)
    }

    /// A limit alone reads nothing: each row is what the worker accepted and refused, and the
    /// verdict line names each pid's share against the limit, as the check words it.
    @Test(arguments: sizes)
    func aLimitsRowsAreAcceptedAndRefusedPerPid(width: Int, height: Int) throws {
        let model = Fixtures.perProcessLimit()
        let screen = Renderer.render(model, width: width, height: height)
        let titles = try #require(screen.line(containing: "status"))
        for column in ["accepted", "refused"] { #expect(titles.contains(column), "\(titles)") }
        #expect(!titles.contains("gap"))
        for pid in Fixtures.pids {
            let row = try #require(screen.line(containing: String(pid)), "no row for pid \(pid)")
            #expect(row.contains("alive") && row.contains("50") && row.contains("█"), "\(row)")
        }
        let check = Histories.perProcessLimit()
        #expect(check.verdict == .overLimit)
        #expect(screen.contains("over-limit: pid 41001 accepted 50, pid 41002 accepted 50"), "\(screen.text.joined(separator: "\n"))")
    }

    @Test(arguments: sizes)
    func lostUpdatesAreCountedAndExplainedWithTheWitness(width: Int, height: Int) throws {
        let screen = Renderer.render(Fixtures.lostUpdates(), width: width, height: height)
        let figures = try #require(screen.line(containing: "acknowledged"))
        #expect(figures.contains("acknowledged 1,000"))
        #expect(figures.contains("store 958"))
        #expect(figures.contains("lost 42 (4.2%)"))
        #expect(screen.contains("duplicates 42"))
        #expect(screen.contains("divergent no"))
        #expect(screen.contains("lost-updates: 42 of 1,000 acknowledged increments are missing"))
        #expect(screen.contains("witnesses: 42 from workers 2,3 · 102 from workers 2,3"))
    }

    @Test(arguments: sizes)
    func divergenceIsTheChecksVerdict(width: Int, height: Int) throws {
        let screen = Renderer.render(Fixtures.divergence(), width: width, height: height)
        #expect(screen.contains("divergent: each worker keeps its own counter: final reads from 488 to 512"))
        #expect(screen.contains("divergent yes"))
        // A counter per worker: the store is their sum, and it holds every increment.
        #expect(screen.contains("store 1,996"))
        #expect(screen.contains("lost 0 (0.0%)"))
        let first = try #require(screen.line(containing: "41001"))
        #expect(first.contains("512") && first.contains("-1,484"))
        let last = try #require(screen.line(containing: "41004"))
        #expect(last.contains("488") && last.contains("-1,508"))
    }

    @Test func healthyRunSaysEveryIncrementIsThere() {
        let screen = Renderer.render(Fixtures.healthy(), width: 80, height: 24)
        #expect(screen.contains("ok: every one of the 1,000 acknowledged increments is in the final"))
        #expect(screen.contains("lost 0 (0.0%)"))
        #expect(!screen.contains("witnesses"))
    }

    @Test func emptyModelInvitesABurst() {
        let screen = Renderer.render(Fixtures.base(), width: 80, height: 24)
        #expect(screen.contains("press space to fire a burst"))
        #expect(screen.contains("no workers running"))
    }

    @Test(arguments: sizes)
    func footerIsGeneratedFromTheKeyTable(width: Int, height: Int) {
        let screen = Renderer.render(Fixtures.lostUpdates(), width: width, height: height)
        let footerRows = FooterPanel.height(width: width)
        let footer = screen.text.suffix(footerRows).joined(separator: "\n")
        for item in KeyBindings.footerItems {
            #expect(footer.contains("\(item.keys) \(item.label)"), "footer lacks \(item.keys) \(item.label)")
        }
        #expect(footer.contains("Spc burst") && footer.contains("+- conns") && footer.contains("wW workers") && footer.contains("q quit"))
        #expect(footerRows == (width >= 120 ? 1 : 2))
    }

    @Test func sparklineAndLatencyShowTheSamples() throws {
        let screen = Renderer.render(Fixtures.lostUpdates(), width: 80, height: 24)
        let line = try #require(screen.line(containing: "p99"))
        #expect(line.contains("▃▆█▇█▄"))
        #expect(line.contains("p50 1.25 ms") && line.contains("p99 8.50 ms"))
    }

    @Test func eventLogShowsTheNewestLines() {
        var model = Fixtures.lostUpdates()
        for n in 0..<50 { model.apply(.log(.reset, "reset number \(n)")) }
        model.apply(.error("worker 2 refused the connection"))
        let screen = Renderer.render(model, width: 120, height: 40)
        #expect(screen.contains("worker 2 refused the connection"))
        #expect(screen.contains("reset number 49"))
        #expect(!screen.contains("reset number 0 "))
    }

    @Test func manyWorkersScrollToTheSelection() {
        var model = Fixtures.base(workers: 16)
        model.apply(.workers((0..<16).map { WorkerRow(index: $0, pid: Int32(50000 + $0), acknowledged: 10, currentRead: 160) }))
        model.selectedWorker = 15
        let screen = Renderer.render(model, width: 80, height: 24)
        #expect(screen.contains("50015"))
        #expect(!screen.contains("50000"))
        #expect(screen.contains("more: ↑↓"))
    }

    @Test func deadAndRestartingWorkersShowTheirStatus() {
        var model = Fixtures.lostUpdates()
        model.apply(.workers([
            WorkerRow(index: 0, pid: 41001, status: .alive, acknowledged: 250, currentRead: 958),
            WorkerRow(index: 1, pid: 41002, status: .dead, acknowledged: 250, currentRead: nil),
            WorkerRow(index: 2, pid: 41009, status: .restarting, acknowledged: 0, currentRead: nil),
        ]))
        let screen = Renderer.render(model, width: 80, height: 24)
        #expect(screen.line(containing: "41002")?.contains("dead") == true)
        #expect(screen.line(containing: "41009")?.contains("restarting") == true)
    }

    @Test func storeDownRowsSayItAndTheVerdictDoesNotClaimTheCount() {
        var model = Fixtures.healthy()
        model.apply(.workers(model.workers.map {
            WorkerRow(index: $0.index, pid: $0.pid, status: .storeDown, acknowledged: $0.acknowledged, currentRead: nil)
        }))
        // What the engine shows after K: the history checked with no worker readable.
        model.apply(.totals(RunTotals(check: Histories.unknown())))
        let screen = Renderer.render(model, width: 120, height: 40)
        for worker in model.workers {
            #expect(screen.line(containing: String(worker.pid))?.contains("store down") == true)
        }
        #expect(screen.contains("unknown: no worker could be read at the end (pid 41001: HTTP 503 (the store is down))"))
        #expect(!screen.contains("ok: "))
    }

    @Test func helpOverlayListsEveryBinding() {
        var model = Fixtures.lostUpdates()
        model.overlay = .help
        for (width, height) in Self.sizes {
            let screen = Renderer.render(model, width: width, height: height)
            for binding in KeyBindings.table {
                let line = screen.line(containing: binding.help)
                #expect(line?.contains(binding.keyNames) == true, "help lacks \(binding.keyNames): \(binding.help)")
            }
            #expect(screen.contains("? / F1"))
            #expect(screen.contains("q / F10"))
        }
    }

    @Test func strategyPickerShowsWhyAStrategyIsUnavailable() throws {
        var model = Fixtures.lostUpdates()
        model.overlay = .strategyPicker(cursor: 4)
        let screen = Renderer.render(model, width: 80, height: 24)
        for strategy in Strategy.allCases {
            #expect(screen.contains(String(strategy.summary.prefix(30))), "picker lacks \(strategy)")
        }
        #expect(screen.contains("unavailable: redis-server not found: apt-get install redis-server"))
        #expect(try #require(screen.line(containing: "POSIX shared memory")).contains("● shm"))
    }

    @Test func modePickerExplainsModesGlobalCannotUse() {
        var model = Fixtures.divergence()
        model.overlay = .modePicker(cursor: 0)
        let screen = Renderer.render(model, width: 80, height: 24)
        #expect(screen.contains("mode under global"))
        #expect(screen.text.filter { $0.contains("unavailable: global shares nothing, so only naive applies") }.count == 2)
    }

    @Test func compareOverlayShowsBarsPerStrategy() throws {
        var model = Fixtures.lostUpdates()
        model.apply(.compareStarted(mode: .naive, increments: 1000, strategies: Strategy.allCases))
        model.apply(.compareRow(CompareRow(strategy: .global, mode: .naive, acknowledged: 1000, lost: 0, requestsPerSecond: 9000)))
        model.apply(.compareRow(CompareRow(strategy: .shm, mode: .naive, acknowledged: 1000, lost: 300, requestsPerSecond: 12000)))
        model.apply(.compareRow(CompareRow(strategy: .sqlite, mode: .naive, acknowledged: 1000, lost: 100, requestsPerSecond: 3000)))
        model.apply(.compareRow(CompareRow(strategy: .redis, mode: .naive, unavailableReason: "redis-server not found")))
        model.overlay = .compare
        for (width, height) in Self.sizes {
            let screen = Renderer.render(model, width: width, height: height)
            #expect(screen.contains("compare: 1,000 increments, naive, every strategy"))
            let shm = try #require(screen.line(containing: "│ shm"))
            #expect(shm.contains("300 (30.0%)") && shm.contains("12,000"))
            let sqlite = try #require(screen.line(containing: "│ sqlite"))
            #expect(sqlite.contains("100 (10.0%)") && sqlite.contains("3,000"))
            // Bars are side by side and in proportion: shm lost three times sqlite's.
            let shmLost = shm.split(separator: " ").first { $0.contains("█") }?.filter { $0 == "█" }.count ?? 0
            let sqliteLost = sqlite.split(separator: " ").first { $0.contains("█") }?.filter { $0 == "█" }.count ?? 0
            #expect(shmLost > 2 * sqliteLost)
            #expect(screen.line(containing: "│ manager")?.contains("waiting…") == true)
            #expect(screen.line(containing: "│ redis")?.contains("unavailable: redis-server not found") == true)
        }
    }

    @Test func tooSmallTerminalSaysWhatItNeeds() {
        for (width, height) in [(79, 24), (80, 23), (40, 10)] {
            let screen = Renderer.render(Fixtures.lostUpdates(), width: width, height: height)
            #expect(screen.contains("terminal too small: need 80x24, have \(width)x\(height)") || width < 45)
            #expect(!screen.contains("verdict"))
        }
        #expect(Renderer.render(Fixtures.lostUpdates(), width: 79, height: 24).contains("terminal too small: need 80x24, have 79x24"))
        #expect(!Renderer.render(Fixtures.lostUpdates(), width: 80, height: 24).contains("too small"))
    }

    @Test func burstInProgressAndPauseShowInTheHeader() {
        var model = Fixtures.base()
        model.apply(.burstStarted(total: 1000))
        model.apply(.burstProgress(done: 500, total: 1000))
        model.paused = true
        let screen = Renderer.render(model, width: 80, height: 24)
        #expect(screen.text[1].contains("burst ████████░░░░░░░░ 500/1,000"))
        #expect(screen.text[1].contains("PAUSED"))
    }
}
