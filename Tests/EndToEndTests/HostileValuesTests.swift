import Foundation
import Testing

/// Every numeric flag of every command, at 0, negative, tiny, huge, inf and
/// nan: exit 2 with one line on stderr and nothing started (TMPDIR points
/// nowhere, so a run that did start would fail with another message).
@Suite(.serialized) struct HostileValuesTests {
    /// (command and the flags it needs, the flag, values that are in range for it and must not be tried).
    static let flags: [(command: [String], flag: String, valid: Set<String>)] = [
        (["load"], "--increments", []),
        (["load"], "--duration", []),
        (["load"], "--concurrency", []),
        (["load"], "--rate", []),
        (["load"], "--timeout", []),
        (["load"], "--load-threads", []),
        (["load"], "--workers", []),
        (["load"], "--threads", []),
        (["load"], "--race-window-us", ["0"]),
        (["load", "--strategy", "postgres"], "--postgres-connections", []),
        (["load", "--strategy", "postgres", "--mode", "serializable"], "--serializable-retries", ["0"]),
        (["load", "--app-command", "app --port {port}"], "--ready-timeout", []),
        (["compare", "--url", "http://127.0.0.1:9"], "--increments", []),
        (["compare", "--url", "http://127.0.0.1:9"], "--concurrency", []),
        (["dashboard"], "--burst", []),
        (["dashboard"], "--fps", []),
        (["dashboard"], "--iterations", []),
        (["dashboard"], "--concurrency", []),
        (["serve"], "--port", ["0"]),
        (["serve"], "--workers", []),
    ]

    static let values = ["0", "-1", "1e-300", "1e300", "inf", "nan", "99999999999999999999"]

    @Test("each numeric flag at each hostile value: exit 2, one line naming the flag", arguments: Array(0..<flags.count))
    func hostileFlag(_ index: Int) async throws {
        let (command, flag, valid) = Self.flags[index]
        let environment = StatelabCLI.environment(["TMPDIR": "/nonexistent-statelab-tmp"])
        for value in Self.values where !valid.contains(value) {
            // "=" keeps "-1" a value rather than an unknown flag.
            let result = try await StatelabCLI.run(command + ["\(flag)=\(value)"], environment: environment, timeout: 120)
            #expect(result.status == 2, "\(command) \(flag)=\(value): exit \(result.status): \(result.stderr)")
            #expect(result.stderrLines.count == 1, "\(command) \(flag)=\(value): \(result.stderr)")
            #expect(result.stderr.contains(flag), "\(command) \(flag)=\(value): \(result.stderr)")
            #expect(result.stdout.isEmpty, "\(command) \(flag)=\(value) printed: \(result.stdout)")
        }
    }

    @Test("fault trigger values out of range: exit 2 and one line")
    func hostileFaults() async throws {
        let environment = StatelabCLI.environment(["TMPDIR": "/nonexistent-statelab-tmp"])
        for step in ["kill_worker@after=0", "kill_worker@after=-5", "kill_worker@after=1e300", "kill_worker@at=inf",
                     "kill_worker@at=nan", "kill_worker@delay=-1s", "kill_worker@at=1e300s", "kill_worker:99999999999999999999@after=5"] {
            let result = try await StatelabCLI.run(["load", "--strategy", "manager", "--mode", "atomic", "--duration", "5s", "--fault", step],
                                                   environment: environment, timeout: 120)
            #expect(result.status == 2, "\(step): exit \(result.status): \(result.stderr)")
            #expect(result.stderrLines.count == 1, "\(step): \(result.stderr)")
            #expect(result.stderr.contains("--fault"), "\(step): \(result.stderr)")
        }
    }
}
