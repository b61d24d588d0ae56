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
                // One line, like every other error: the usage block is in --help.
                // Our own checks end in their fix ("...; write it like 10s"); the parser's own errors get a pointer.
                let line = oneLine(message(for: error))
                let hint = line.contains("; ") ? "" : "; see --help"
                FileHandle.standardError.write(Data("statelab: \(line)\(hint)\n".utf8))
                Foundation.exit(2)
            }
            exit(withError: error)
        }
    }
}

/// The argument parser's message on one line: without its "Error: " prefix,
/// its usage block and its help hint, with any inner line breaks folded.
func oneLine(_ message: String) -> String {
    var text = message.trimmingCharacters(in: .whitespacesAndNewlines)
    if text.hasPrefix("Error: ") { text = String(text.dropFirst("Error: ".count)) }
    let lines = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        .filter { !$0.isEmpty && !$0.hasPrefix("Usage:") && !$0.hasPrefix("See '") }
    return lines.isEmpty ? "bad arguments" : lines.joined(separator: "; ")
}

/// Prints one error line to stderr and exits with `code` (2: bad input or could not start).
func fail(_ message: String, code: Int32 = 2) -> ExitCode {
    FileHandle.standardError.write(Data("statelab: \(message)\n".utf8))
    return ExitCode(code)
}

extension Strategy: ExpressibleByArgument {}
extension Mode: ExpressibleByArgument {}
extension ListenMode: ExpressibleByArgument {}

/// InputLimits' checks as the flags' validation errors.
enum InputCheck {
    static func whole(_ flag: String, _ value: Int?, in range: ClosedRange<Int>) throws {
        if let value, let problem = InputLimits.problem(flag, value, in: range) { throw ValidationError(problem) }
    }

    static func number(_ flag: String, _ value: Double?, in range: ClosedRange<Double>, unit: String = "") throws {
        if let value, let problem = InputLimits.problem(flag, value, in: range, unit: unit) { throw ValidationError(problem) }
    }
}
