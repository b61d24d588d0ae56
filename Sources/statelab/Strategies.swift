import ArgumentParser
import Foundation
import StateLab

extension StateLabCommand {
    struct Strategies: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "strategies",
            abstract: "Show the strategy x mode table and what can run on this machine.")

        enum Format: String, ExpressibleByArgument, CaseIterable { case table, json }

        @Option(help: "Output format.") var format: Format = .table
        @Option(name: .customLong("redis-url"), help: "Count redis as available through this server.") var redisURL: String?
        @Option(name: .customLong("postgres-url"), help: "Count postgres as available through this server.") var postgresURL: String?

        func run() throws {
            switch format {
            case .json: print(json())
            case .table: print(table(), terminator: "")
            }
        }

        func table() -> String {
            var out = ""
            for strategy in Strategy.allCases {
                let reason = StrategyAvailability.reason(strategy, redisURL: redisURL, postgresURL: postgresURL)
                out += "\(strategy.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)) \(strategy.summary)"
                out += reason.map { "\n         unavailable: \($0)" } ?? ""
                out += "\n"
                for mode in strategy.modes {
                    let modeName = mode.rawValue.padding(toLength: 12, withPad: " ", startingAt: 0)
                    out += "  \(modeName)  \(strategy.describe(mode))\n"
                }
            }
            return out
        }

        func json() -> String {
            let rows = Strategy.allCases.map { strategy -> String in
                let reason = StrategyAvailability.reason(strategy, redisURL: redisURL, postgresURL: postgresURL)
                let modes = strategy.modes.map { "{\"mode\":\"\($0.rawValue)\",\"description\":\(JSONText.quoted(strategy.describe($0)))}" }
                return "{\"strategy\":\"\(strategy.rawValue)\",\"available\":\(reason == nil),"
                    + "\"reason\":\(reason.map(JSONText.quoted) ?? "null"),\"summary\":\(JSONText.quoted(strategy.summary)),"
                    + "\"modes\":[\(modes.joined(separator: ","))]}"
            }
            return "{\"schema\":\"statelab.strategies/1\",\"strategies\":[\(rows.joined(separator: ","))]}"
        }
    }
}
