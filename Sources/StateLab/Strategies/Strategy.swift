/// Where the counter lives: the six ways a multi-worker app can keep (or fail to share) state.
public enum Strategy: String, CaseIterable, Sendable, Codable {
    case global, manager, shm, sqlite, redis, postgres

    /// The modes this strategy implements, in table order. Serializable is a
    /// database's isolation level, so only PostgreSQL has it.
    public var modes: [Mode] {
        switch self {
        case .global: return [.naive]
        case .postgres: return [.naive, .locked, .atomic, .serializable]
        default: return [.naive, .locked, .atomic]
        }
    }

    /// The fix when `mode` is not one of `modes`, in one line.
    public func modeProblem(_ mode: Mode) -> String? {
        guard !modes.contains(mode) else { return nil }
        let choices = modes.map(\.rawValue).joined(separator: ", ")
        switch self {
        case .global:
            return "global has no \(mode.rawValue) mode: a per-process variable is never shared; use --mode naive"
        default:
            return "\(rawValue) has no \(mode.rawValue) mode (only a database's isolation level is serializable); use one of: \(choices)"
        }
    }

    /// True when every worker sees the same counter.
    public var isShared: Bool { self != .global }

    /// Shared by the workers of one host only: a file, a segment or a
    /// manager on localhost. Across `--hosts`, each host has its own.
    public var isPerHost: Bool { self == .manager || self == .shm || self == .sqlite }

    public var summary: String {
        switch self {
        case .global: return "a module-level variable in each worker process"
        case .manager: return "a separate state-server process (like multiprocessing.Manager)"
        case .shm: return "POSIX shared memory mapped by every worker"
        case .sqlite: return "one SQLite database file in WAL mode"
        case .redis: return "a real redis-server on loopback"
        case .postgres: return "a real PostgreSQL server on loopback, one row"
        }
    }

    /// What `mode` does under this strategy, in one line (the DESIGN.md table).
    public func describe(_ mode: Mode) -> String {
        switch (self, mode) {
        case (.global, .naive): return "count += 1 on a per-process variable: never shared, workers diverge"
        case (.global, _): return "-"
        case (.manager, .naive): return "get, then set: two round trips, updates can be lost"
        case (.manager, .locked): return "acquire the server's lock, get, set, release"
        case (.manager, .atomic): return "server-side incr, one round trip"
        case (.shm, .naive): return "load, then store: updates can be lost"
        case (.shm, .locked): return "process-shared robust pthread mutex around load and store"
        case (.shm, .atomic): return "atomic fetch-add"
        case (.sqlite, .naive): return "autocommit SELECT, then UPDATE in a second statement"
        case (.sqlite, .locked): return "BEGIN IMMEDIATE; SELECT; UPDATE; COMMIT"
        case (.sqlite, .atomic): return "UPDATE ... SET n = n + 1 RETURNING n"
        case (.redis, .naive): return "GET, then SET: updates can be lost"
        case (.redis, .locked): return "WATCH / MULTI / EXEC, retried on conflict"
        case (.redis, .atomic): return "INCR"
        case (.postgres, .naive): return "autocommit SELECT n, then UPDATE SET n = $1 (an ORM's count += 1; save())"
        case (.postgres, .locked): return "BEGIN; SELECT ... FOR UPDATE; UPDATE; COMMIT"
        case (.postgres, .atomic): return "UPDATE ... SET n = n + 1 RETURNING n"
        case (.postgres, .serializable): return "read, then write in REPEATABLE READ; retried on SQLSTATE 40001"
        default: return "-"
        }
    }
}

/// How the app increments the counter; it decides whether updates are lost.
/// Not every strategy has every mode: `Strategy.modes`.
public enum Mode: String, CaseIterable, Sendable, Codable {
    case naive, locked, atomic, serializable
}
