/// What an event-log line is about; it picks the line's colour.
public enum LogKind: String, Sendable, Equatable, CaseIterable {
    case burst, reset, kill, relaunch, compare, error, info
}

public struct LogEntry: Sendable, Equatable {
    /// Seconds since the dashboard started.
    public var elapsed: Double
    public var kind: LogKind
    public var text: String

    public init(elapsed: Double, kind: LogKind, text: String) {
        self.elapsed = elapsed
        self.kind = kind
        self.text = text
    }
}

/// The newest `capacity` log lines, oldest first: a long run never grows the model.
public struct EventLog: Sendable, Equatable {
    public let capacity: Int
    public private(set) var entries: [LogEntry] = []

    public init(capacity: Int = 200) {
        self.capacity = max(1, capacity)
    }

    public mutating func append(_ entry: LogEntry) {
        entries.append(entry)
        if entries.count > capacity { entries.removeFirst(entries.count - capacity) }
    }
}

/// The newest `capacity` samples, oldest first (the sparkline's data).
public struct SampleHistory: Sendable, Equatable {
    public let capacity: Int
    public private(set) var samples: [Double] = []

    public init(capacity: Int = 240) {
        self.capacity = max(1, capacity)
    }

    public mutating func append(_ sample: Double) {
        samples.append(sample)
        if samples.count > capacity { samples.removeFirst(samples.count - capacity) }
    }
}
