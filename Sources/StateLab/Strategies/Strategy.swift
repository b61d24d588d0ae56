/// Where the counter lives: the five ways a multi-worker app can keep (or fail to share) state.
public enum Strategy: String, CaseIterable, Sendable, Codable {
    case global, manager, shm, sqlite, redis

    /// The modes this strategy implements, in table order.
    public var modes: [Mode] {
        switch self {
        case .global: return [.naive]
        default: return Mode.allCases
        }
    }

    /// True when every worker sees the same counter.
    public var isShared: Bool { self != .global }

    public var summary: String {
        switch self {
        case .global: return "a module-level variable in each worker process"
        case .manager: return "a separate state-server process (like multiprocessing.Manager)"
        case .shm: return "POSIX shared memory mapped by every worker"
        case .sqlite: return "one SQLite database file in WAL mode"
        case .redis: return "a real redis-server on loopback"
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
        }
    }
}

/// How the app increments the counter; it decides whether updates are lost.
public enum Mode: String, CaseIterable, Sendable, Codable {
    case naive, locked, atomic
}
