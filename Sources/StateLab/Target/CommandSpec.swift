/// How to launch the user's own app: a shell line with `{port}` (a free
/// loopback port statelab picks), `{redis_url}` (a redis-server statelab
/// starts for the run, unless one is given), `{postgres_url}` (likewise a
/// PostgreSQL server) and `{run_dir}` (the run's private
/// directory, removed when the app stops), and how to tell it is ready. The
/// same placeholders work in `env`'s values.
public struct CommandSpec: Sendable, Equatable {
    public var command: String
    public var cwd: String?
    /// Set on top of statelab's own environment.
    public var env: [String: String]
    /// GET this path until it answers 2xx.
    public var readyPath: String
    /// Seconds the app has to start answering `readyPath`.
    public var readyTimeout: Double
    /// The answer's field names.
    public var pidField: String
    public var countField: String

    public init(command: String, cwd: String? = nil, env: [String: String] = [:], readyPath: String = "/report",
                readyTimeout: Double = 30, pidField: String = "pid", countField: String = "count") {
        self.command = command
        self.cwd = cwd
        self.env = env
        self.readyPath = readyPath
        self.readyTimeout = readyTimeout
        self.pidField = pidField
        self.countField = countField
    }

    public var answerFields: AnswerFields { AnswerFields(pidField: pidField, countField: countField) }

    /// The placeholders a command may use.
    public static let placeholders = ["port", "redis_url", "postgres_url", "run_dir", "host"]

    /// The names between braces in `command` and `env`'s values, in order of appearance. A brace
    /// after `$` is the shell's own (`${HOME}`) and left alone.
    public var placeholdersUsed: [String] {
        var names: [String] = []
        for text in [command] + env.keys.sorted().map({ env[$0]! }) {
            _ = Self.rewritten(text) { names.append($0); return nil }
        }
        return names
    }

    /// `env` with the placeholders in its values replaced (REDIS_URL: "{redis_url}").
    public func environment(port: Int, redisURL: String?, runDirectory: String? = nil,
                            postgresURL: String? = nil, host: String = "127.0.0.1") -> [String: String] {
        env.mapValues { value in
            Self.rewritten(value) {
                Self.value(of: $0, port: port, redisURL: redisURL, postgresURL: postgresURL, runDirectory: runDirectory, host: host)
            }
        }
    }

    private static func value(of name: String, port: Int, redisURL: String?, postgresURL: String?,
                              runDirectory: String?, host: String) -> String? {
        switch name {
        case "port": return String(port)
        // The address the app listens on: 127.0.0.1, or its host's own on a --hosts network.
        case "host": return host
        case "redis_url": return redisURL
        case "postgres_url": return postgresURL
        case "run_dir": return runDirectory
        default: return nil
        }
    }

    /// The command with its placeholders replaced; an unknown one is an error naming it.
    public func substituted(port: Int, redisURL: String?, runDirectory: String? = nil,
                            postgresURL: String? = nil, host: String = "127.0.0.1") throws -> String {
        if let unknown = placeholdersUsed.first(where: { !Self.placeholders.contains($0) }) {
            throw StoreError("unknown placeholder {\(unknown)} in the app command or its env; the known ones are "
                + Self.placeholders.map { "{\($0)}" }.joined(separator: ", "))
        }
        return Self.rewritten(command) {
            Self.value(of: $0, port: port, redisURL: redisURL, postgresURL: postgresURL, runDirectory: runDirectory, host: host)
        }
    }

    /// `command` with each `{name}` replaced by `value(name)` (kept when nil).
    private static func rewritten(_ command: String, _ value: (String) -> String?) -> String {
        var output = ""
        var index = command.startIndex
        while index < command.endIndex {
            let character = command[index]
            let afterDollar = index > command.startIndex && command[command.index(before: index)] == "$"
            if character == "{", !afterDollar, let close = command[index...].firstIndex(of: "}") {
                let name = command[command.index(after: index)..<close]
                if !name.isEmpty, name.allSatisfy({ $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) }) {
                    output += value(String(name)) ?? String(command[index...close])
                    index = command.index(after: close)
                    continue
                }
            }
            output.append(character)
            index = command.index(after: index)
        }
        return output
    }
}
