import ArgumentParser
import Foundation
import StateLab

@main
struct StateLabCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "statelab",
        abstract: "See, measure and teach how a multi-worker web app shares state.",
        discussion: """
            With no arguments, statelab opens the live dashboard (press ? there for the keys). \
            `statelab strategies` prints the strategy x mode table, `statelab serve` runs the counter app, \
            `statelab compare --scenario Scenarios/quickstart.yaml` runs a comparison headless.
            """,
        version: "0.1.0",
        subcommands: [Dashboard.self, Compare.self, Load.self, Serve.self, Strategies.self, Worker.self, Manager.self, Guard.self],
        defaultSubcommand: Dashboard.self
    )

    /// Usage errors exit 2 (as Python's argparse does), matching "bad input" everywhere else.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            if exitCode(for: error) == .validationFailure {
                let message = fullMessage(for: error)
                FileHandle.standardError.write(Data((message.hasSuffix("\n") ? message : message + "\n").utf8))
                Foundation.exit(2)
            }
            exit(withError: error)
        }
    }
}

/// Prints one error line to stderr and exits with `code` (2: bad input or could not start).
func fail(_ message: String, code: Int32 = 2) -> ExitCode {
    FileHandle.standardError.write(Data("statelab: \(message)\n".utf8))
    return ExitCode(code)
}

extension Strategy: ExpressibleByArgument {}
extension Mode: ExpressibleByArgument {}
extension ListenMode: ExpressibleByArgument {}
