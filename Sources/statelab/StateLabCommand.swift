import ArgumentParser
import StateLab

@main
struct StateLabCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "statelab",
        abstract: "See, measure and teach how a multi-worker web app shares state.",
        subcommands: [Manager.self]
    )
}
