import Foundation
import PropertyBased
import Testing
@testable import StateLab

/// One validation for every number, from a flag or a scenario key: a value is
/// accepted exactly when it is in its documented range, and anything else
/// (0, negative, tiny, huge, inf, nan) is refused with one line, never a trap.
@Suite struct InputLimitsTests {
    static let hostile: [Double] = [0, -0.0, -1, -1e300, 1e-300, .leastNonzeroMagnitude, 1e300, .greatestFiniteMagnitude, .infinity, -.infinity, .nan]

    /// Any double: ordinary ones, and the edges generators rarely hit.
    static let anyDouble = Gen.oneOf(
        Gen.double(in: -1e7...1e7),
        Gen.double(in: -1...1),
        Gen.element(of: hostile).compactMap { $0 })

    static let doubleRanges: [(String, ClosedRange<Double>)] = [
        ("--rate", InputLimits.rate), ("--timeout", InputLimits.timeoutSeconds), ("--duration", InputLimits.durationSeconds),
        ("--ready-timeout", InputLimits.readySeconds), ("--grace", InputLimits.graceSeconds),
    ]

    @Test("a number is refused exactly when it is outside its range, in one line naming the flag and the value")
    func numbers() async {
        await propertyCheck(count: 2000, input: Self.anyDouble, Gen.int(in: 0...(Self.doubleRanges.count - 1))) { value, which in
            let (name, range) = Self.doubleRanges[which]
            let problem = InputLimits.problem(name, value, in: range, unit: " seconds")
            #expect((problem == nil) == (value >= range.lowerBound && value <= range.upperBound), "\(name) \(value)")
            if let problem {
                #expect(problem.hasPrefix(name + " must be a number from "), "\(problem)")
                #expect(!problem.contains("\n"))
                #expect(problem.hasSuffix("(got \(InputLimits.plain(value)))"), "\(problem)")
            }
        }
    }

    @Test("a whole number is refused exactly when it is outside its range", arguments: [
        ("--workers", InputLimits.workers), ("--increments", InputLimits.increments), ("--concurrency", InputLimits.concurrency),
        ("--threads", InputLimits.storeThreads), ("--race-window-us", InputLimits.raceWindowMicros), ("--port", InputLimits.port),
        ("--burst", InputLimits.burst), ("--fps", InputLimits.fps), ("--load-threads", InputLimits.loadThreads),
    ])
    func wholeNumbers(_ name: String, _ range: ClosedRange<Int>) async {
        let edges = Gen.element(of: [Int.min, -1, 0, 1, range.lowerBound - 1, range.lowerBound, range.upperBound, range.upperBound + 1, Int.max])
            .compactMap { $0 }
        await propertyCheck(count: 300, input: Gen.oneOf(Gen.int(in: -1_000_000_000...1_000_000_000), edges)) { value in
            let problem = InputLimits.problem(name, value, in: range)
            #expect((problem == nil) == range.contains(value))
            if let problem { #expect(problem == "\(name) must be a whole number from \(range.lowerBound) to \(range.upperBound) (got \(value))") }
        }
    }

    @Test("plain numbers: whole values without a fraction, the rest as Swift prints them, never a trap")
    func plain() {
        #expect(InputLimits.plain(5) == "5")
        #expect(InputLimits.plain(0.1) == "0.1")
        #expect(InputLimits.plain(1e-300) == "1e-300")
        #expect(InputLimits.plain(1e300) == "1e+300")
        #expect(InputLimits.plain(.infinity) == "inf")
        #expect(InputLimits.plain(-.infinity) == "-inf")
        #expect(InputLimits.plain(.nan) == "nan")
    }

    // MARK: scenario keys

    /// Each numeric key of a scenario, with where the value goes.
    static let scenarioKeys: [(key: String, template: String)] = [
        ("increments", "name: x\nload: {increments: VALUE}\nruns: [{strategy: shm, mode: atomic}]\n"),
        ("duration", "name: x\nload: {duration: VALUE}\nruns: [{strategy: shm, mode: atomic}]\n"),
        ("concurrency", "name: x\nload: {increments: 10, concurrency: VALUE}\nruns: [{strategy: shm, mode: atomic}]\n"),
        ("rate", "name: x\nload: {duration: 1s, rate: VALUE}\nruns: [{strategy: shm, mode: atomic}]\n"),
        ("timeout", "name: x\nload: {increments: 10, timeout: VALUE}\nruns: [{strategy: shm, mode: atomic}]\n"),
        ("reset_after", "name: x\nload: {increments: 10, reset_after: VALUE}\nruns: [{strategy: shm, mode: atomic}]\n"),
        ("workers", "name: x\napp: {workers: VALUE}\nload: {increments: 10}\nruns: [{strategy: shm, mode: atomic}]\n"),
        ("threads", "name: x\napp: {threads: VALUE}\nload: {increments: 10}\nruns: [{strategy: shm, mode: atomic}]\n"),
        ("race_window_us", "name: x\napp: {race_window_us: VALUE}\nload: {increments: 10}\nruns: [{strategy: shm, mode: atomic}]\n"),
        ("after", "name: x\nload: {increments: 10}\nruns: [{strategy: manager, mode: atomic, faults: [kill_worker: {after: VALUE}]}]\n"),
        ("at", "name: x\nload: {duration: 5s}\nruns: [{strategy: manager, mode: atomic, faults: [kill_worker: {at: VALUE}]}]\n"),
        ("ready timeout", "name: x\nload: {increments: 10}\nruns: [{target: {command: \"app --port {port}\", ready: {timeout: VALUE}}}]\n"),
    ]

    static let hostileTexts = ["0", "-1", "-0.5", "1e-300", "1e300", "100000000000000000000000", ".inf", "-.inf", ".nan", "0s", "1e11s", "0.0000000001s"]

    @Test("every numeric scenario key at 0, negative, tiny, huge, inf and nan: one line naming the file and place",
          arguments: Array(0..<scenarioKeys.count))
    func hostileScenarioValues(_ index: Int) {
        let (key, template) = Self.scenarioKeys[index]
        for text in Self.hostileTexts {
            // race_window_us 0 is the documented default; rate 0 is the documented closed model.
            if text == "0" && (key == "race_window_us" || key == "rate") { continue }
            do {
                _ = try ScenarioLoader.parse(yaml: template.replacingOccurrences(of: "VALUE", with: text), path: "x.yaml")
                Issue.record("\(key): \(text) was accepted")
            } catch let error as ScenarioError {
                let message = error.description
                #expect(message.hasPrefix("x.yaml:"), "\(key) \(text): \(message)")
                #expect(!message.contains("\n"), "\(key) \(text): \(message)")
            } catch {
                Issue.record("\(key) \(text): not a ScenarioError: \(error)")
            }
        }
    }

    @Test("random numbers for a scenario's rate and timeout: accepted exactly when in range")
    func scenarioNumbers() async {
        await propertyCheck(count: 500, input: Self.anyDouble) { value in
            let text = value.isNaN ? ".nan" : value.isInfinite ? (value < 0 ? "-.inf" : ".inf") : "\(value)"
            let rate = Result { try ScenarioLoader.parse(yaml: Self.scenarioKeys[3].template.replacingOccurrences(of: "VALUE", with: text), path: "x.yaml") }
            let rateOK = value == 0 || InputLimits.rate.contains(value)
            switch rate {
            case .success(let scenario): #expect(rateOK && scenario.load.rate == (value == 0 ? nil : value), "rate \(text)")
            case .failure(let error): #expect(!rateOK && error is ScenarioError, "rate \(text): \(error)")
            }
            let timeout = Result { try ScenarioLoader.parse(yaml: Self.scenarioKeys[4].template.replacingOccurrences(of: "VALUE", with: text), path: "x.yaml") }
            let timeoutOK = InputLimits.timeoutSeconds.contains(value) && value > 0
            switch timeout {
            case .success(let scenario):
                #expect(timeoutOK, "timeout \(text)")
                #expect(abs(scenario.load.timeout.seconds - value) < 1e-6, "timeout \(text)")
            case .failure(let error): #expect(!timeoutOK && error is ScenarioError, "timeout \(text): \(error)")
            }
        }
    }

    @Test("a scenario over the size limit or with too many runs is refused in one line")
    func scenarioSize() throws {
        let big = "name: x\n# " + String(repeating: "y", count: InputLimits.scenarioBytes) + "\nload: {increments: 1}\nruns: [{strategy: shm, mode: atomic}]\n"
        let tooBig = #expect(throws: ScenarioError.self) { try ScenarioLoader.parse(yaml: big, path: "big.yaml") }
        #expect(tooBig?.description.contains("over 1024 KiB") == true, "\(tooBig?.description ?? "")")
        let runs = String(repeating: "  - {strategy: shm, mode: atomic}\n", count: InputLimits.scenarioRuns.upperBound + 1)
        let many = #expect(throws: ScenarioError.self) {
            try ScenarioLoader.parse(yaml: "name: x\nload: {increments: 1}\nruns:\n" + runs, path: "many.yaml")
        }
        #expect(many?.description.contains("over the limit of 256") == true, "\(many?.description ?? "")")
        let fine = String(repeating: "  - {strategy: shm, mode: atomic}\n", count: InputLimits.scenarioRuns.upperBound)
        #expect(try ScenarioLoader.parse(yaml: "name: x\nload: {increments: 1}\nruns:\n" + fine, path: "ok.yaml").runs.count == 256)
    }

    @Test("a scenario path that is no regular file (a device that never ends) is refused unread")
    func deviceScenario() {
        let error = #expect(throws: ScenarioError.self) { try ScenarioLoader.load(path: "/dev/zero") }
        #expect(error?.description.contains("not a regular file") == true, "\(error?.description ?? "")")
    }

    @Test("--output is checked before anything runs: a missing directory, a directory, an unwritable place")
    func outputPaths() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("outpath-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(at: scratch) }
        #expect(OutputPath.problem(scratch.appendingPathComponent("r.json").path) == nil)
        #expect(OutputPath.problem("/nonexistent/x.json")?.contains("the directory /nonexistent does not exist") == true)
        #expect(OutputPath.problem(scratch.path)?.contains("is a directory") == true)
        #expect(OutputPath.problem("")?.contains("empty") == true)
        #expect(!FileManager.default.fileExists(atPath: scratch.appendingPathComponent("r.json").path), "checking created nothing")
    }
}
