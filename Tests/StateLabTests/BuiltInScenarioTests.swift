import Foundation
import Testing
@testable import StateLab

/// Every shipped scenario is built into the binary, byte for byte, and every
/// shipped scenario loads.
@Suite struct BuiltInScenarioTests {
    static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let scenarios = repository.appendingPathComponent("Scenarios")
    static let fix = "run Scenarios/embed.sh"

    static let shippedFiles: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: scenarios.path)) ?? []
        return names.filter { $0.hasSuffix(".yaml") }.sorted().map { scenarios.appendingPathComponent($0).path }
    }()

    static var shippedNames: [String] {
        shippedFiles.map { (($0 as NSString).lastPathComponent as NSString).deletingPathExtension }
    }

    @Test(arguments: shippedFiles) func shippedFileIsBuiltInByteForByte(path: String) throws {
        let name = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
        let shipped = try #require(FileManager.default.contents(atPath: path))
        let builtIn = try #require(BuiltInScenario.yaml(named: name), "Scenarios/\(name).yaml is not built in: \(Self.fix)")
        #expect(Data(builtIn.utf8) == shipped,
                "Scenarios/\(name).yaml: \(builtIn.utf8.count) bytes built in, \(shipped.count) in the file: \(Self.fix)")
    }

    @Test func everyBuiltInScenarioIsAShippedFile() {
        let stale = Set(BuiltInScenario.names).subtracting(Self.shippedNames)
        #expect(stale.isEmpty, "built in but no longer in Scenarios/: \(stale.sorted()): \(Self.fix)")
        #expect(BuiltInScenario.names == BuiltInScenario.names.sorted())
    }

    @Test func builtInQuickstartParses() throws {
        let scenario = try BuiltInScenario.load(named: "quickstart")
        #expect(scenario.name == "quickstart")
        #expect(scenario.sourcePath == "(built-in quickstart)")
        #expect(scenario.runs.count == 11)
    }

    @Test func theShippedScenariosAreThere() {
        let names = Set(Self.shippedFiles.map { ($0 as NSString).lastPathComponent })
        #expect(names.isSuperset(of: ["quickstart.yaml", "lost-updates.yaml", "divergence.yaml", "reset.yaml",
                                      "cost-of-correctness.yaml", "worker-share.yaml", "python-apps.yaml"]), "\(names)")
    }

    @Test(arguments: shippedFiles) func shippedScenarioLoads(path: String) throws {
        let scenario = try ScenarioLoader.load(path: path)
        #expect(!scenario.name.isEmpty)
        #expect(!scenario.runs.isEmpty)
        #expect(scenario.sourcePath == path)
    }

    @Test func aNameThatIsNoFileResolvesToTheBuiltInScenario() throws {
        let scenario = try BuiltInScenario.resolve("divergence")
        #expect(scenario.name == "divergence")
        #expect(scenario.sourcePath == "(built-in divergence)")
    }

    @Test func aPathIsNeverTakenForABuiltInName() throws {
        let error = try #require(throws: ScenarioError.self) { try BuiltInScenario.resolve("nowhere/divergence.yaml") }
        #expect(error.description == "nowhere/divergence.yaml: cannot read: no such file; check the path")
    }

    @Test func anUnknownNameListsTheBuiltInOnes() throws {
        let error = try #require(throws: ScenarioError.self) { try BuiltInScenario.resolve("divergense") }
        #expect(error.description.hasPrefix("divergense: cannot read: no such file; check the path, or name a built-in scenario: "))
        #expect(error.description.contains("divergence"))
    }

    @Test func theWorkerShareScenarioRunsBothListenModes() throws {
        let scenario = try BuiltInScenario.load(named: "worker-share")
        #expect(scenario.runs.map(\.app.listen) == [.shared, .reuseport])
    }
}
