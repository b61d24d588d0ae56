import ArgumentParser
import StateLab

/// `--app-command` and what goes with it, shared by load, compare and dashboard:
/// statelab launches the user's app from a shell command.
struct AppCommandOptions: ParsableArguments {
    @Option(name: .customLong("app-command"), help: "Launch your app with this shell command; {port} becomes a free loopback port the app must listen on, {redis_url} a redis-server started for the run (or --redis-url).")
    var appCommand: String?

    @Option(name: .customLong("app-cwd"), help: "With --app-command: the directory to run it in.")
    var appCwd: String?

    @Option(name: .customLong("ready-path"), help: "With --app-command: GET this path until it answers 2xx before the load (default: the read's path when it is a GET, else /report).")
    var readyPath: String?

    @Option(name: .customLong("ready-timeout"), help: "With --app-command: seconds the app has to become ready.")
    var readyTimeout: Double = 30

    @Option(name: .customLong("pid-field"), help: "With --app-command: the answer's pid field (current_process_id and the X-Worker-Pid header are also read).")
    var pidField: String = "pid"

    @Option(name: .customLong("count-field"), help: "With --app-command: the answer's count field.")
    var countField: String = "count"

    /// Checks the command's flags, or that none is given without --app-command.
    func check(redisURL: String?) throws {
        guard let appCommand else {
            let given = [("--app-cwd", appCwd != nil), ("--ready-path", readyPath != nil),
                         ("--ready-timeout", readyTimeout != 30), ("--pid-field", pidField != "pid"),
                         ("--count-field", countField != "count")]
            if let flag = given.first(where: \.1)?.0 { throw ValidationError("\(flag) applies to --app-command only") }
            return
        }
        if appCommand.trimmingCharacters(in: .whitespaces).isEmpty { throw ValidationError("--app-command is empty") }
        do { _ = try spec(appCommand).substituted(port: 0, redisURL: redisURL) } catch let error as StoreError {
            throw ValidationError(error.message)
        }
        if !spec(appCommand).placeholdersUsed.contains("port") {
            throw ValidationError("--app-command never gets {port}: statelab picks a free loopback port; pass it to your app, e.g. --port {port}")
        }
        if let readyPath, !readyPath.hasPrefix("/") { throw ValidationError("--ready-path must start with / (got '\(readyPath)')") }
        try InputCheck.number("--ready-timeout", readyTimeout, in: InputLimits.readySeconds, unit: " seconds")
        if let problem = AnswerFields(pidField: pidField, countField: countField).problem {
            throw ValidationError("--pid-field/--count-field: \(problem)")
        }
    }

    func spec(_ command: String, requests: AppRequests? = nil) -> CommandSpec {
        // Ready when the read answers, unless told otherwise.
        let read = requests?.read.flatMap { $0.method == "GET" ? $0.path : nil }
        return CommandSpec(command: command, cwd: appCwd, readyPath: readyPath ?? read ?? "/report", readyTimeout: readyTimeout,
                           pidField: pidField, countField: countField)
    }

    /// The command's spec, when --app-command was given.
    var commandSpec: CommandSpec? { appCommand.map { spec($0) } }

    func commandSpec(requests: AppRequests) -> CommandSpec? { appCommand.map { spec($0, requests: requests) } }

    var fields: AnswerFields { AnswerFields(pidField: pidField, countField: countField) }
}
