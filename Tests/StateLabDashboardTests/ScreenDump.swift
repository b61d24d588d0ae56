import StateLab
import Foundation
import Testing
@testable import StateLabDashboard

/// Writes the fixture screens to $STATELAB_DUMP_SCREENS for a human to look at; skipped otherwise.
@Test(.enabled(if: ProcessInfo.processInfo.environment["STATELAB_DUMP_SCREENS"] != nil))
func dumpScreens() throws {
    let path = ProcessInfo.processInfo.environment["STATELAB_DUMP_SCREENS"]!
    var out = ""
    var help = Fixtures.lostUpdates(); help.overlay = .help
    var picker = Fixtures.lostUpdates(); picker.overlay = .strategyPicker(cursor: 2)
    var modes = Fixtures.divergence(); modes.overlay = .modePicker(cursor: 0)
    var compare = Fixtures.lostUpdates()
    compare.apply(.compareStarted(mode: .naive, increments: 1000, strategies: [.global, .manager, .shm, .sqlite, .redis]))
    compare.apply(.compareRow(CompareRow(strategy: .global, mode: .naive, acknowledged: 1000, lost: 0, requestsPerSecond: 9000)))
    compare.apply(.compareRow(CompareRow(strategy: .shm, mode: .naive, acknowledged: 1000, lost: 300, requestsPerSecond: 12000)))
    compare.apply(.compareRow(CompareRow(strategy: .redis, mode: .naive, unavailableReason: "redis-server not found")))
    compare.overlay = .compare
    var race = Fixtures.racing(); race.overlay = .race
    var outside = Fixtures.racing(Races.outsideView()); outside.overlay = .race
    var noRace = Fixtures.healthy(); noRace.overlay = .race
    let cases: [(String, DashboardModel)] = [("lost", Fixtures.lostUpdates()), ("divergence", Fixtures.divergence()), ("healthy", Fixtures.healthy()),
                                             ("help", help), ("picker", picker), ("modes", modes), ("compare", compare),
                                             ("race", race), ("race outside view", outside), ("no race", noRace)]
    for (name, model) in cases {
        for (w, h) in [(80, 24), (120, 40)] {
            out += "=== \(name) \(w)x\(h)\n" + Renderer.render(model, width: w, height: h).text.joined(separator: "|\n") + "|\n"
        }
    }
    try out.write(toFile: path, atomically: true, encoding: .utf8)
}
