import ArgumentParser
import Foundation
import StateLab

extension StateLabCommand {
    /// One worker process; the supervisor starts these, people do not.
    struct Worker: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "worker",
            abstract: "Run one worker of the counter app (started by the supervisor).",
            shouldDisplay: false)

        @Option(help: "The run's worker spec (JSON).") var spec: String
        @Option(help: "This worker's index.") var index: Int
        @Option(name: .customLong("parent-pid"), help: "The supervisor's pid: the worker dies with it.") var parentPID: Int32?

        func run() throws {
            do {
                try WorkerServer.run(specPath: spec, worker: index, parentPID: parentPID)
            } catch {
                throw fail("worker \(index): \(error)")
            }
        }
    }
}
