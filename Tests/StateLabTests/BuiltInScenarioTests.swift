import Foundation
import Testing
@testable import StateLab

/// The quickstart built into the binary is the shipped file, byte for byte,
/// and every shipped scenario loads.
@Suite struct BuiltInScenarioTests {
    static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let scenarios = repository.appendingPathComponent("Scenarios")

    static let shippedFiles: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: scenarios.path)) ?? []
        return names.filter { $0.hasSuffix(".yaml") }.sorted().map { scenarios.appendingPathComponent($0).path }
    }()

    @Test func quickstartIsTheShippedFileByteForByte() throws {
        let shipped = try #require(FileManager.default.contents(atPath: Self.scenarios.appendingPathComponent("quickstart.yaml").path))
        let builtIn = Data(BuiltInScenario.quickstart.utf8)
        #expect(builtIn == shipped, "\(builtIn.count) bytes built in, \(shipped.count) shipped: copy Scenarios/quickstart.yaml into BuiltInScenario.swift")
    }

    @Test func builtInQuickstartParses() throws {
        let scenario = try ScenarioLoader.parse(yaml: BuiltInScenario.quickstart, path: "(built-in quickstart)")
        #expect(scenario.name == "quickstart")
        #expect(scenario.runs.count == 9)
    }

    @Test func theShippedScenariosAreThere() {
        let names = Set(Self.shippedFiles.map { ($0 as NSString).lastPathComponent })
        #expect(names.isSuperset(of: ["quickstart.yaml", "lost-updates.yaml", "divergence.yaml", "reset.yaml",
                                      "cost-of-correctness.yaml"]), "\(names)")
    }

    @Test(arguments: shippedFiles) func shippedScenarioLoads(path: String) throws {
        let scenario = try ScenarioLoader.load(path: path)
        #expect(!scenario.name.isEmpty)
        #expect(!scenario.runs.isEmpty)
        #expect(scenario.sourcePath == path)
    }
}
