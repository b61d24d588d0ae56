/// Two ok increments that returned the same count: proof that an update was lost.
public struct WorkerWitness: Sendable, Equatable {
    /// The count both answers carried (both read `count - 1`).
    public var count: Int
    /// Worker indexes that gave those answers, in answer order (may repeat).
    public var workers: [Int]

    public init(count: Int, workers: [Int]) {
        self.count = count
        self.workers = workers
    }
}

/// The checker's figures for the increments since the last reset.
public struct RunTotals: Sendable, Equatable {
    /// Ok (2xx) increments: what the store should hold.
    public var acknowledged: Int
    /// Increments that certainly did not apply.
    public var failed: Int
    /// Increments that may have applied.
    public var indeterminate: Int
    /// What the store holds now (nil when it could not be read).
    public var storeValue: Int?
    /// max(0, acknowledged - store value).
    public var lost: Int
    /// How many ok answers repeated a count another ok answer had returned.
    public var duplicates: Int
    /// A few duplicates, for the plain-words line.
    public var witnesses: [WorkerWitness]

    public init(acknowledged: Int = 0, failed: Int = 0, indeterminate: Int = 0, storeValue: Int? = nil,
                lost: Int = 0, duplicates: Int = 0, witnesses: [WorkerWitness] = []) {
        self.acknowledged = acknowledged
        self.failed = failed
        self.indeterminate = indeterminate
        self.storeValue = storeValue
        self.lost = lost
        self.duplicates = duplicates
        self.witnesses = witnesses
    }

    /// Lost as a percentage of acknowledged (0 when nothing was acknowledged).
    public var lostPercent: Double {
        acknowledged == 0 ? 0 : Double(lost) * 100 / Double(acknowledged)
    }
}
