import Foundation
import Testing
import StateLab

/// Every input in Fuzz/corpus/TARGET, replayed through its fuzz entry point
/// in the normal debug build: what the fuzzer once found (or was seeded
/// with) keeps passing. An entry point stops the process on a broken
/// invariant, which fails the run; this suite also fails when a corpus
/// directory is missing or holds too few inputs to mean anything.
@Suite struct FuzzCorpusTests {
    /// The repository's root, from this file's place in Tests/StateLabTests/.
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // StateLabTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()

    /// The smallest corpus worth the name: the committed seeds alone are more.
    static let minimumInputs = 5

    static func inputs(of target: FuzzEntryPoints.Target) throws -> [URL] {
        let directory = root.appendingPathComponent("Fuzz/corpus/\(target.rawValue)", isDirectory: true)
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        return names.filter { !$0.hasPrefix(".") }.sorted().map { directory.appendingPathComponent($0) }
    }

    @Test(arguments: FuzzEntryPoints.Target.allCases)
    func corpusReplays(_ target: FuzzEntryPoints.Target) throws {
        let files = try Self.inputs(of: target)
        #expect(files.count >= Self.minimumInputs, "Fuzz/corpus/\(target.rawValue) has \(files.count) inputs")
        var replayed = 0
        for file in files {
            let bytes = try [UInt8](Data(contentsOf: file))
            FuzzEntryPoints.run(target, bytes)
            replayed += 1
        }
        #expect(replayed == files.count)
    }

    /// The seeds the corpus started from are still there (the fuzzer's
    /// merges only add files named by their hash).
    @Test func seedsAreKept() throws {
        for target in FuzzEntryPoints.Target.allCases {
            let seeds = try Self.inputs(of: target).filter { $0.lastPathComponent.hasPrefix("seed-") }
            #expect(seeds.count >= 3, "Fuzz/corpus/\(target.rawValue) has \(seeds.count) seed- files")
        }
    }

    /// The shipped scenarios as they are now (the corpus has copies of
    /// them as they were when it was seeded).
    @Test func shippedScenariosReplay() throws {
        let scenarios = Self.root.appendingPathComponent("Scenarios", isDirectory: true)
        let shipped = try FileManager.default.contentsOfDirectory(atPath: scenarios.path).filter { $0.hasSuffix(".yaml") }
        #expect(!shipped.isEmpty)
        for name in shipped {
            FuzzEntryPoints.run(.scenario, try [UInt8](Data(contentsOf: scenarios.appendingPathComponent(name))))
        }
    }
}
