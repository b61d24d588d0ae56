import ArgumentParser
import Foundation
import StateLab

extension StateLabCommand {
    /// Stands between statelab and a launched app command; statelab starts it, people do not.
    struct Guard: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "guard",
            abstract: "Run a command in its own process group and stop the whole group when statelab goes (started by statelab).",
            shouldDisplay: false)

        @Option(help: "Seconds the group has to exit after SIGTERM before SIGKILL.") var grace: Double = 5
        @Option(name: .customLong("parent-pid"), help: "statelab's pid: the guard stops the group when it dies.") var parentPID: Int32
        @Option(help: "The directory to run the command in.") var cwd: String?
        @Option(name: .customLong("group-file"), help: "Where to write the command's process group id.") var groupFile: String?
        @Argument(parsing: .postTerminator, help: "The command and its arguments, after --.") var command: [String] = []

        func validate() throws {
            if command.isEmpty { throw ValidationError("give the command after --") }
            try InputCheck.number("--grace", grace, in: InputLimits.graceSeconds, unit: " seconds")
        }

        func run() throws {
            let status = ProcessGuard.run(command: command, parentPID: parentPID, grace: grace, cwd: cwd, groupFile: groupFile)
            Foundation.exit(status)
        }
    }
}
