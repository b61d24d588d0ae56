import Foundation
import StateLab
import StateLabTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The real `statelab dashboard` in a real (headless tmux) terminal, read as a
/// person reads it: the captured pane. Each run has a private tmux socket and a
/// private TMPDIR, and a wrapper shell records the exit status and `stty -a`
/// after the dashboard is gone.
@Suite(.serialized, .enabled(if: DashboardPane.tmuxAvailable))
struct DashboardEndToEndTests {
    @Test func naiveLosesUpdatesThenAtomicLosesNone() throws {
        let pane = try DashboardPane(arguments: ["--strategy", "shm", "--mode", "naive", "--race-window-us", "100",
                                                 "--workers", "4", "--burst", "2000"])
        defer { pane.stop() }
        let firstWorkers = try pane.waitForWorkers(4)
        #expect(pane.screen.contains("strategy shm  mode naive  workers 4"))

        pane.press("Space")
        var screen = try pane.waitForScreen("the naive burst to finish with a verdict") { screen in
            screen.contains("burst checked") && DashboardPane.verdictLost(screen) != nil
        }
        let naiveLost = try #require(DashboardPane.verdictLost(screen))
        #expect(naiveLost > 0, "a 100 µs race window on shm naive should lose updates:\n\(DashboardPane.compact(screen))")
        // The check's own verdict and words, as compare prints them.
        let saysLost = screen.contains("lost-updates: ") && (screen.contains("acknowledged increments are missing from")
            || screen.contains("two answers carried the same count"))
        #expect(saysLost, "the verdict should say it in words:\n\(DashboardPane.compact(screen))")

        // m opens the mode picker on the current mode (naive); two rows down is atomic.
        pane.press("m")
        try pane.waitForScreen("the mode picker") { $0.contains("mode under shm") }
        pane.press("Down", "Down", "Enter")
        try pane.waitForScreen("the relaunch") { $0.contains("relaunched") }
        let atomicWorkers = try pane.waitForWorkers(4, differentFrom: firstWorkers)
        #expect(pane.screen.contains("strategy shm  mode atomic"))

        pane.press("Space")
        screen = try pane.waitForScreen("the atomic burst to finish") { screen in
            screen.contains(", 0 lost") && DashboardPane.verdictLost(screen) == 0
        }
        // Under a heavily loaded machine some increments time out (indeterminate): the figures vary, "0 lost" must not.
        let logged = screen.range(of: #"burst checked: ok, [0-9,]+ acknowledged, store [0-9,]+, 0 lost"#, options: .regularExpression) != nil
        #expect(logged, "\(DashboardPane.compact(screen))")
        let allThere = screen.contains("ok: every one of the")
        #expect(allThere, "\(DashboardPane.compact(screen))")

        pane.press("q")
        let ending = try pane.waitForEnding()
        #expect(ending.exitStatus == 0)
        #expect(ending.terminalIsSane, "terminal left in raw mode: \(ending.stty)")
        let left = ProcessTable.waitGone(firstWorkers + atomicWorkers)
        #expect(left.isEmpty, "workers left after quitting: \(left)")
        #expect(pane.leftoverRunDirectories.isEmpty, "run directories left: \(pane.leftoverRunDirectories)")
    }

    /// K then U on a manager, as a person would press them: the screen shows
    /// the check's judgement of the restart, in the words compare prints.
    @Test func aManagerStoreRestartIsJudgedNotDurableOnScreen() throws {
        let pane = try DashboardPane(arguments: ["--strategy", "manager", "--mode", "atomic", "--workers", "2", "--burst", "500"],
                                     width: 160, height: 40)
        defer { pane.stop() }
        let workers = try pane.waitForWorkers(2)
        pane.press("Space")
        try pane.waitForScreen("the burst's verdict") { $0.contains("burst checked: ok, 500 acknowledged") }
        pane.press("K")
        try pane.waitForScreen("the kill and the unknown verdict") { $0.contains("K kill_store: killed the store") && $0.contains("unknown: ") }
        pane.press("U")
        let screen = try pane.waitForScreen("the restart's judgement") { $0.contains("500 before, 0 after: not durable (500 lost to the restart)") }
        #expect(screen.contains("lost to restarts 500"), "\(DashboardPane.compact(screen))")
        pane.press("q")
        let ending = try pane.waitForEnding()
        #expect(ending.exitStatus == 0)
        #expect(ProcessTable.waitGone(workers).isEmpty)
        #expect(pane.leftoverRunDirectories.isEmpty)
    }

    @Test func smallestSupportedTerminalFits() throws {
        let pane = try DashboardPane(arguments: ["--strategy", "global", "--workers", "4"], width: 80, height: 24)
        defer { pane.stop() }
        let workers = try pane.waitForWorkers(4)
        let lines = pane.screen.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(!pane.screen.contains("too small"))
        // Every panel and the footer are on the 24 rows.
        for title in ["strategy global  mode naive", "workers", "verdict", "events", "q quit"] {
            let shown = pane.screen.contains(title)
            #expect(shown, "no \"\(title)\" at 80x24:\n\(pane.screen)")
        }
        #expect(lines.prefix(24).last { !$0.trimmingCharacters(in: .whitespaces).isEmpty }?.contains("quit") == true,
                "the footer should be the last row:\n\(pane.screen)")
        pane.press("q")
        let ending = try pane.waitForEnding()
        #expect(ending.exitStatus == 0)
        #expect(ProcessTable.waitGone(workers).isEmpty)
        #expect(pane.leftoverRunDirectories.isEmpty)
    }

    /// `dashboard --scenario NAME` finds a built-in scenario as `compare` does
    /// (it said "quickstart: cannot read: no such file").
    @Test func builtInScenarioByName() throws {
        let pane = try DashboardPane(arguments: ["--scenario", "quickstart"])
        defer { pane.stop() }
        // quickstart's first run: global, naive, 4 workers.
        try pane.waitForScreen("quickstart's first run") { $0.contains("strategy global  mode naive") }
        let workers = try pane.waitForWorkers(4)
        pane.press("q")
        let ending = try pane.waitForEnding()
        #expect(ending.exitStatus == 0)
        #expect(ProcessTable.waitGone(workers).isEmpty)
        #expect(pane.leftoverRunDirectories.isEmpty)
    }

    @Test func tooSmallTerminalSaysWhatItNeeds() throws {
        let pane = try DashboardPane(arguments: ["--strategy", "shm", "--workers", "2"], width: 70, height: 20)
        defer { pane.stop() }
        try pane.waitForScreen("the size message") { $0.contains("terminal too small: need 80x24, have 70x20") }
        // The app runs behind the message; its workers must still go with q.
        let dashboard = try pane.dashboardPID()
        let workers = try pane.waitForChildren(of: dashboard, count: 2)
        pane.press("q")
        let ending = try pane.waitForEnding()
        #expect(ending.exitStatus == 0)
        #expect(ending.terminalIsSane, "terminal left in raw mode: \(ending.stty)")
        #expect(ProcessTable.waitGone(workers).isEmpty)
        #expect(pane.leftoverRunDirectories.isEmpty)
    }

    @Test func sigtermRestoresTheTerminalAndStopsTheWorkers() throws {
        let pane = try DashboardPane(arguments: ["--strategy", "shm", "--mode", "locked", "--workers", "3"])
        defer { pane.stop() }
        let workers = try pane.waitForWorkers(3)
        let dashboard = try pane.dashboardPID()
        kill(dashboard, SIGTERM)
        let ending = try pane.waitForEnding()
        #expect(ending.exitStatus == 128 + SIGTERM)
        #expect(ending.terminalIsSane, "terminal left in raw mode: \(ending.stty)")
        let left = ProcessTable.waitGone(workers + [dashboard])
        #expect(left.isEmpty, "left after SIGTERM: \(left)")
        #expect(pane.leftoverRunDirectories.isEmpty, "run directories left: \(pane.leftoverRunDirectories)")
    }

    /// STATELAB_TEST_CRASH (test-only) crashes the dashboard on its first frame with every worker alive.
    @Test("a crash gives the terminal back, still dies of its signal, and takes the workers with it",
          arguments: [("abort", SIGABRT), ("segv", SIGSEGV)])
    func crashRestoresTheTerminal(crash: String, signal: Int32) throws {
        // global: no store, so a crash leaves nothing behind outside the pane's private TMPDIR.
        // Swift's backtracer is the handler the dashboard's own chains to; not interactive, so it
        // does not wait 30 s for a key in the pane.
        let pane = try DashboardPane(arguments: ["--strategy", "global", "--workers", "3"],
                                     environment: ["STATELAB_TEST_CRASH": crash, "SWIFT_BACKTRACE": "enable=yes,interactive=no"])
        defer { pane.stop() }
        let ending = try pane.waitForEnding(seconds: 90)
        let scrollback = pane.tmux("capture-pane", "-p", "-S", "-", "-t", pane.session)
        #expect(ending.exitStatus == 128 + signal, "expected death by signal \(signal); the pane:\n\(DashboardPane.compact(scrollback))")
        #expect(scrollback.contains("Program crashed"), "the backtracer did not report the crash:\n\(DashboardPane.compact(scrollback))")
        #expect(ending.terminalIsSane, "terminal left in raw mode: \(ending.stty)")
        #expect(pane.tmux("display", "-p", "-t", pane.session, "#{alternate_on}").trimmingCharacters(in: .whitespacesAndNewlines) == "0",
                "the pane is still on the alternate screen")
        // The crash came only once every worker was up: their run directory is the proof (nobody
        // was left to remove it); the workers themselves died with the dashboard (PR_SET_PDEATHSIG).
        let runDirectories = pane.leftoverRunDirectories
        #expect(runDirectories.count == 1, "expected the crashed run's directory: \(runDirectories)")
        let left = pane.waitForNoProcessInItsTemporaryDirectory()
        #expect(left.isEmpty, "processes of the crashed dashboard left: \(left.map { ($0, ProcessTable.arguments($0)) })")
    }
}

/// One `statelab dashboard` in a tmux server of its own; `stop` kills that server only (by its socket).
/// The dashboard on an app it launches from a command: the pre-fork python
/// fixture (workers sharing one socket, a counter each, a new worker for one
/// that dies), as `uvicorn --workers 4` would be.
@Suite(.serialized, .enabled(if: DashboardPane.tmuxAvailable && ChildProcess.which("python3") != nil,
                             "tmux or python3 not found: skipping the dashboard's --app-command test"))
struct DashboardAppCommandTests {
    static let fixture = Repository.root.appendingPathComponent("Tests/Fixtures/apps/forking_counter.py").path

    @Test func fourPidsACountEachKReplacesOneAndQLeavesNothing() throws {
        let marker = "dash-app-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let command = "python3 \(Self.fixture) --port {port} --workers 4 --respawn --marker \(marker)"
        let pane = try DashboardPane(arguments: ["--app-command", command, "--burst", "1200", "--shared", "no"])
        defer { pane.stop() }
        let pids = try pane.waitForWorkers(4)
        #expect(pane.screen.contains("app python3"), "the header names the command:\n\(DashboardPane.compact(pane.screen))")

        // A counter per worker: after a burst each row reads what that pid answered, and they differ.
        pane.press("Space")
        let screen = try pane.waitForScreen("the burst's verdict and every row read") { screen in
            screen.contains("burst checked") && DashboardPane.rowReads(screen).count == 4
        }
        let reads = DashboardPane.rowReads(screen)
        #expect(reads.values.reduce(0, +) == 1_200 || screen.contains("indeterminate"),
                "the rows should add up to the burst:\n\(DashboardPane.compact(screen))")
        #expect(Set(reads.values).count > 1 || reads.values.contains(0),
                "four workers with a counter each rarely read the same:\n\(DashboardPane.compact(screen))")

        // k: SIGKILL to the selected row's pid; the fixture forks a replacement and its row appears.
        pane.press("k")
        let after = try pane.waitForWorkers(4, within: 60) { Set($0) != Set(pids) }
        let gone = Set(pids).subtracting(after)
        #expect(gone.count == 1, "one pid should have been replaced: before \(pids), after \(after)")
        // The new worker takes the killed one's row: still four rows, none of them the killed pid.
        let rows = try pane.waitForScreen("the killed pid's row replaced") { screen in
            let shown = DashboardPane.rowPIDs(screen)
            return shown.count == 4 && gone.isDisjoint(with: shown)
        }
        #expect(DashboardPane.workerPIDs(rows).count == 4, "\(DashboardPane.compact(rows))")
        try pane.waitForScreen("the log line naming the replacement") { $0.contains("was replaced by pid") }
        #expect(ProcessTable.waitGone(Array(gone)).isEmpty)

        // The pane's own shell names the marker too (it waits after the dashboard): look for the fixture's processes.
        let fixtureProcesses = {
            ProcessTable.mentioning(marker).filter { ProcessTable.arguments($0).contains { $0.hasSuffix("forking_counter.py") } }
        }
        #expect(fixtureProcesses().count == 5, "the master and 4 workers: \(fixtureProcesses())")
        pane.press("q")
        let ending = try pane.waitForEnding()
        #expect(ending.exitStatus == 0)
        #expect(ending.terminalIsSane, "terminal left in raw mode: \(ending.stty)")
        let deadline = Date().addingTimeInterval(30)
        while !fixtureProcesses().isEmpty, Date() < deadline { usleep(100_000) }
        #expect(fixtureProcesses().isEmpty, "a process of the command is left: \(fixtureProcesses())")
    }
}

struct DashboardPane {
    struct Timeout: Error, CustomStringConvertible {
        var description: String
    }

    /// How the wrapper shell saw the dashboard end.
    struct Ending {
        var exitStatus: Int32?
        var stty: String
        /// Canonical mode and echo are back on (`-icanon` / `-echo` would mean raw mode was left behind).
        var terminalIsSane: Bool {
            let words = Set(stty.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == ";" }).map(String.init))
            return words.contains("icanon") && words.contains("echo")
        }
    }

    static let tmux = "/usr/bin/tmux"
    static var tmuxAvailable: Bool { FileManager.default.isExecutableFile(atPath: tmux) }

    let socket = "statelab-e2e-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    let session = "dash"
    let directory: String
    /// The dashboard's TMPDIR: its run directories land here and nowhere else.
    var temporary: String { directory + "/tmp" }
    var exitPath: String { directory + "/exit.txt" }
    var sttyPath: String { directory + "/stty.txt" }

    init(arguments: [String], environment: [String: String] = [:], width: Int = 120, height: Int = 40) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(socket).path
        try FileManager.default.createDirectory(atPath: directory + "/tmp", withIntermediateDirectories: true)
        let dashboard = ([Binary.path, "dashboard"] + arguments).map(Self.quoted).joined(separator: " ")
        let variables = (["TMPDIR": temporary].merging(environment) { _, given in given })
            .sorted { $0.key < $1.key }.map { "\($0.key)=\(Self.quoted($0.value))" }.joined(separator: " ")
        // Files appear whole (written, then renamed) so a poll never reads half of one; the
        // sleep keeps the pane open for capture after the dashboard is gone.
        let command = "\(variables) \(dashboard); echo exit=$? > \(Self.quoted(exitPath + ".tmp")); "
            + "stty -a > \(Self.quoted(sttyPath + ".tmp")); mv \(Self.quoted(sttyPath + ".tmp")) \(Self.quoted(sttyPath)); "
            + "mv \(Self.quoted(exitPath + ".tmp")) \(Self.quoted(exitPath)); sleep 60"
        tmux("new-session", "-d", "-s", session, "-x", String(width), "-y", String(height), command)
    }

    static func quoted(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    @discardableResult
    func tmux(_ arguments: String...) -> String {
        Self.run(Self.tmux, ["-L", socket] + arguments, in: directory)
    }

    /// Sends tmux key names ("Space", "Down", "Enter", "q").
    func press(_ keys: String...) {
        for key in keys { tmux("send-keys", "-t", session, key) }
    }

    var screen: String { tmux("capture-pane", "-p", "-t", session) }

    /// Polls the pane (bounded) until `done` holds; returns that screen.
    @discardableResult
    func waitForScreen(_ what: String, seconds: Double = 60, _ done: (String) -> Bool) throws -> String {
        let deadline = Date().addingTimeInterval(seconds)
        var last = ""
        while Date() < deadline {
            last = screen
            if done(last) { return last }
            usleep(100_000)
        }
        throw Timeout(description: "no \(what) after \(seconds) s; the pane:\n\(Self.compact(last))")
    }

    /// Waits for `count` alive worker rows (different pids from `old`, if given) and returns their pids.
    func waitForWorkers(_ count: Int, differentFrom old: [Int32] = []) throws -> [Int32] {
        var pids: [Int32] = []
        try waitForScreen("\(count) alive worker rows") { screen in
            pids = Self.workerPIDs(screen)
            return pids.count == count && Set(pids).isDisjoint(with: old)
        }
        return pids
    }

    /// Waits for `count` alive rows whose pids satisfy `condition`.
    func waitForWorkers(_ count: Int, within seconds: Double, _ condition: @escaping ([Int32]) -> Bool) throws -> [Int32] {
        var pids: [Int32] = []
        try waitForScreen("\(count) alive worker rows", seconds: seconds) { screen in
            pids = Self.workerPIDs(screen)
            return pids.count == count && condition(pids)
        }
        return pids
    }

    /// The pid of every worker row, whatever its status.
    static func rowPIDs(_ screen: String) -> [Int32] {
        screen.split(separator: "\n").compactMap { line in
            let words = line.split(whereSeparator: { $0 == " " || $0 == "│" || $0 == "▸" })
            guard words.count >= 3, words[0].hasPrefix("w"), Int(words[0].dropFirst()) != nil else { return nil }
            return Int32(words[1])
        }
    }

    /// The read column of each alive row, by pid.
    static func rowReads(_ screen: String) -> [Int32: Int] {
        var reads: [Int32: Int] = [:]
        for line in screen.split(separator: "\n") {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "│" || $0 == "▸" })
            guard words.count >= 5, words[0].hasPrefix("w"), Int(words[0].dropFirst()) != nil, words[2] == "alive",
                  let pid = Int32(words[1]), let read = Int(words[4].filter { $0 != "," }) else { continue }
            reads[pid] = read
        }
        return reads
    }

    /// Pids of the worker table's alive rows ("w0  12345  alive ...").
    static func workerPIDs(_ screen: String) -> [Int32] {
        screen.split(separator: "\n").compactMap { line in
            let words = line.split(whereSeparator: { $0 == " " || $0 == "│" || $0 == "▸" })
            guard words.count >= 3, words[0].hasPrefix("w"), Int(words[0].dropFirst()) != nil,
                  words[2] == "alive" else { return nil }
            return Int32(words[1])
        }
    }

    /// The screen without its empty rows (for failure messages: test output cuts long ones).
    static func compact(_ screen: String) -> String {
        screen.split(separator: "\n").filter { line in
            line.contains { !" │┌┐└┘─".contains($0) }
        }.joined(separator: "\n")
    }

    /// The verdict's "lost N (p%)" figure, or nil when the verdict is not on screen.
    static func verdictLost(_ screen: String) -> Int? {
        guard let range = screen.range(of: #"lost ([0-9,]+) \("#, options: .regularExpression) else { return nil }
        let digits = screen[range].dropFirst("lost ".count).prefix { $0 != " " }.filter { $0 != "," }
        return Int(digits)
    }

    /// The dashboard's pid: the one child of the pane's shell.
    func dashboardPID() throws -> Int32 {
        guard let shell = Int32(tmux("display", "-p", "-t", session, "#{pane_pid}").trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw Timeout(description: "tmux gave no pane pid")
        }
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if let child = ProcessTable.children(of: shell).first { return child }
            usleep(50_000)
        }
        throw Timeout(description: "the pane's shell \(shell) has no child")
    }

    func waitForChildren(of parent: Int32, count: Int, seconds: Double = 60) throws -> [Int32] {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let children = ProcessTable.children(of: parent)
            if children.count >= count { return children }
            usleep(100_000)
        }
        throw Timeout(description: "\(parent) did not get \(count) children in \(seconds) s")
    }

    /// Waits (bounded) for the wrapper to record the exit status and the terminal's mode.
    func waitForEnding(seconds: Double = 30) throws -> Ending {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let exit = try? String(contentsOfFile: exitPath, encoding: .utf8), exit.hasPrefix("exit="),
               let stty = try? String(contentsOfFile: sttyPath, encoding: .utf8) {
                let status = Int32(exit.dropFirst("exit=".count).trimmingCharacters(in: .whitespacesAndNewlines))
                return Ending(exitStatus: status, stty: stty)
            }
            usleep(100_000)
        }
        throw Timeout(description: "the dashboard did not end within \(seconds) s; the pane:\n\(Self.compact(screen))")
    }

    /// Run directories (statelab-*) still in the dashboard's TMPDIR.
    var leftoverRunDirectories: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: temporary)) ?? []).filter { $0.hasPrefix("statelab-") }
    }

    /// Waits (bounded) until no process names the dashboard's TMPDIR in its arguments (its
    /// workers do, through their spec); returns those still there.
    func waitForNoProcessInItsTemporaryDirectory(seconds: Double = 10) -> [Int32] {
        let mine = { () -> [Int32] in
            let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
            return names.compactMap(Int32.init).filter { pid in
                ProcessTable.exists(pid) && ProcessTable.arguments(pid).contains { $0.hasPrefix(temporary + "/") }
            }
        }
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if mine().isEmpty { return [] }
            usleep(100_000)
        }
        return mine()
    }

    func stop() {
        tmux("kill-server")
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Runs a short command and returns its output. ChildProcess rather than
    /// Foundation's Process: the tmux server forks off the first client and would
    /// inherit Process's private descriptors, so Process would wait for the server too.
    @discardableResult
    static func run(_ path: String, _ arguments: [String], in directory: String) -> String {
        let output = directory + "/out-\(UInt32.random(in: 0...UInt32.max)).txt"
        defer { try? FileManager.default.removeItem(atPath: output) }
        guard let child = try? ChildProcess.spawn(executable: path, arguments: arguments, outputFile: output) else { return "" }
        if !child.wait(timeout: 10) { child.stop(grace: 1) }
        return (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
    }
}
