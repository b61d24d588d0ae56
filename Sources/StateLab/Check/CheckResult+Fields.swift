extension CheckResult {
    /// The result as named fields for expectations. Throughput and latency come
    /// from the load generator and the worker count from the run, so they are
    /// passed in; a field left nil is absent, and an expectation on it fails.
    public func fields(
        workers: Int? = nil, throughputRPS: Double? = nil, p50Ms: Double? = nil, p90Ms: Double? = nil,
        p99Ms: Double? = nil, p999Ms: Double? = nil, maxMs: Double? = nil
    ) -> [String: ResultValue] {
        var fields: [String: ResultValue] = [
            "acknowledged": .number(Double(acknowledged)),
            "failed": .number(Double(failed)),
            "indeterminate": .number(Double(indeterminate)),
            "final_min": .number(Double(finalMin)),
            "final_max": .number(Double(finalMax)),
            "lost": .number(Double(lost)),
            "lost_percent": .number(lostPercent),
            "unexpected": .number(Double(unexpected)),
            "duplicates": .number(Double(duplicates)),
            "divergent": .bool(divergent),
            "verdict": .text(verdict.rawValue),
        ]
        let optional: [(String, Double?)] = [
            ("workers", workers.map(Double.init)), ("throughput_rps", throughputRPS), ("p50_ms", p50Ms),
            ("p90_ms", p90Ms), ("p99_ms", p99Ms), ("p999_ms", p999Ms), ("max_ms", maxMs),
        ]
        if let lostToRestart { fields["lost_to_restart"] = .number(Double(lostToRestart)) }
        if let durable { fields["durable"] = .bool(durable) }
        if !faults.isEmpty { fields["lock_recoveries"] = .number(Double(lockRecoveries)) }
        if let limit {
            fields["over_limit"] = .number(Double(limit.overLimit))
            fields["accepted"] = .number(Double(limit.accepted))
            fields["refused"] = .number(Double(limit.refused))
            fields["accepting_pids"] = .number(Double(limit.accepting))
            // A stock, a coupon: the limit in all, and what was sold beyond it.
            if limit.windowSeconds == nil { fields["oversold"] = .number(Double(limit.overLimit)) }
        }
        for case let (name, value?) in optional {
            fields[name] = .number(value)
        }
        return fields
    }
}
