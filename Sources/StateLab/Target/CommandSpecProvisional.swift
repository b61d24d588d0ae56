// Provisional until the command target lands (deleted at that merge).
public struct CommandSpec: Sendable, Equatable {
    public var command: String
    public var cwd: String?
    public var env: [String: String] = [:]
    public var readyPath = "/report"
    public var readyTimeout: Double = 30
    public var pidField = "pid"
    public var countField = "count"

    public init(command: String) { self.command = command }
}
