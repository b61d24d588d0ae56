import ArgumentParser
import StateLab

extension StateLabCommand {
    /// The manager strategy's state server; the supervisor starts it, people rarely do.
    struct Manager: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "manager",
            abstract: "Run the manager strategy's state server until SIGTERM or SIGINT.",
            shouldDisplay: false
        )

        @Option(name: .customLong("socket"), help: ArgumentHelp("Unix socket path to listen on (created with mode 0600).", valueName: "path"))
        var socketPath: String

        @Option(name: .customLong("key-file"), help: ArgumentHelp("File holding the shared authentication key (hex).", valueName: "path"))
        var keyFile: String

        func run() throws {
            try ManagerServer.runUntilSignalled(socketPath: socketPath, keyFile: keyFile)
        }
    }
}
