/// The `statelab.compare/1` and `statelab.load/1` documents.
enum JSONReport {
    static let compareSchema = "statelab.compare/1"
    static let loadSchema = "statelab.load/1"

    static func compare(_ report: CompareReport) -> String {
        JSONValue.object([
            ("schema", .string(compareSchema)),
            ("scenario", .object([("name", .string(report.scenarioName)), ("path", .string(report.scenarioPath))])),
            ("all_expectations_held", .bool(report.allExpectationsHeld)),
            ("interrupted", .bool(report.interrupted)),
            ("failures", .array(report.failures.map(JSONValue.string))),
            ("runs", .array(report.runs.map(run))),
        ]).text() + "\n"
    }

    /// The run object with the schema and target in front.
    static func load(_ run: RunResult, target: String) -> String {
        guard case .object(let members) = self.run(run) else { return "" }
        return JSONValue.object([("schema", .string(loadSchema)), ("target", .string(target))] + members).text() + "\n"
    }

    /// One run. A skipped run keeps every key, with null where a number would be.
    static func run(_ run: RunResult) -> JSONValue {
        let check = run.check
        let happened = !run.isSkipped
        func int(_ value: Int) -> JSONValue { happened ? .int(value) : .null }
        func double(_ value: Double) -> JSONValue { happened ? .double(value) : .null }
        let latency = run.latency
        let lostToRestart: JSONValue = happened ? check.lostToRestart.map(JSONValue.int) ?? .null : .null
        let durable: JSONValue = happened ? check.durable.map(JSONValue.bool) ?? .null : .null

        var members: [(String, JSONValue)] = [
            ("label", .string(run.label)),
            ("strategy", run.isExternal ? .null : .string(run.strategy.rawValue)),
            ("mode", run.isExternal ? .null : .string(run.mode.rawValue)),
            ("workers", .int(run.workers)),
            ("race_window_us", .int(run.raceWindowMicros)),
            ("concurrency", .int(run.concurrency)),
            ("skipped", .optional(run.skipped)),
            ("verdict", happened ? .string(check.verdict.rawValue) : .null),
            ("explanation", happened ? .string(check.explanation) : .null),
            ("acknowledged", int(check.acknowledged)),
            ("failed", int(check.failed)),
            ("indeterminate", int(check.indeterminate)),
            ("final_min", int(check.finalMin)),
            ("final_max", int(check.finalMax)),
            ("lost", int(check.lost)),
            ("lost_percent", double(check.lostPercent)),
            ("unexpected", int(check.unexpected)),
            ("duplicates", int(check.duplicates)),
            ("divergent", happened ? .bool(check.divergent) : .null),
            ("retries", run.retries.map(JSONValue.int) ?? .null),
            ("read_violations", int(check.readViolationCount)),
            ("read_violation_samples", .array(happened ? check.readViolations.map { violation($0, in: check) } : [])),
            ("unread", .array(happened ? check.unread.map(unread) : [])),
            ("unsettled", happened ? .bool(check.unsettled) : .null),
            ("inconclusive", happened ? .optional(check.inconclusive) : .null),
            ("resets", .array(happened ? check.resets.map(reset) : [])),
            ("counter_checked", happened ? .bool(check.counterChecked) : .null),
            ("counter_verdict", happened ? .string((check.counterVerdict ?? check.verdict).rawValue) : .null),
            ("limit", happened ? check.limit.map(limit) ?? .null : .null),
        ]
        members += [
            ("faults", .array(happened ? check.faults.map(fault) : [])),
            ("restarts", .array(happened ? check.restarts.map(restart) : [])),
            ("lost_to_restart", lostToRestart),
            ("durable", durable),
            ("lock_recoveries", int(check.lockRecoveries)),
        ]
        members += [
            ("missed_steps", .array(check.missedSteps.map(JSONValue.string))),
            ("interrupted", .bool(run.interrupted)),
            ("notes", .array(run.notes.map(JSONValue.string))),
            ("diagnosis", .array(happened ? run.diagnosis.map(diagnosis) : [])),
            ("probe", run.probe.map(probe) ?? .null),
            ("elapsed_s", double(run.elapsed)),
            ("target_rps", happened ? .optional(run.targetRate) : .null),
            ("achieved_rps", double(run.achievedRate)),
            ("throughput_rps", double(run.throughputRPS)),
            ("latency_ms", happened ? .object([
                ("p50", .double(latency.p50)), ("p90", .double(latency.p90)), ("p99", .double(latency.p99)),
                ("p999", .double(latency.p999)), ("max", .double(latency.max)),
            ]) : .null),
            ("per_worker", .array(happened ? check.perWorker.map(worker) : [])),
            ("hosts", happened ? check.hosts.map { .array($0.map(host)) } ?? .null : .null),
            ("unreached_pids", .array(run.unreachedPids.map { .int(Int($0)) })),
            ("witnesses", .array(happened ? check.witnesses.map(witness) : [])),
            ("expectations", .array(run.expectations.map { expectation($0, evaluated: happened) })),
        ]
        return .object(members)
    }

    /// The limit's check: what it allows, what was accepted and refused per pid, and the worst interval.
    static func limit(_ limit: LimitResult) -> JSONValue {
        .object([
            ("limit", .int(limit.limit)),
            ("window_s", .optional(limit.windowSeconds)),
            ("algorithm", .optional(limit.algorithm)),
            ("algorithm_assumed", .bool(limit.assumed)),
            ("allowance", .string(limit.allowance)),
            ("accepted", .int(limit.accepted)),
            ("refused", .int(limit.refused)),
            ("indeterminate", .int(limit.indeterminate)),
            ("over_limit", .int(limit.overLimit)),
            ("accepting_pids", .int(limit.accepting)),
            ("per_process", .bool(limit.perProcess)),
            ("worst", limit.worstAccepted == nil ? .null : .object([
                ("start_s", .optional(limit.worstStart)), ("end_s", .optional(limit.worstEnd)),
                ("accepted", .int(limit.worstAccepted ?? 0)), ("bound", .int(limit.worstBound ?? 0)),
            ])),
            ("per_pid", .array(limit.perPid.map { tally in
                .object([("pid", .int(Int(tally.pid))), ("accepted", .int(tally.accepted)), ("refused", .int(tally.refused))])
            })),
            ("unattributed", .int(limit.unattributed)),
            ("remaining_seen", .int(limit.remainingSeen)),
            ("remaining_rises", .int(limit.remainingRises)),
            ("remaining_first_rise", .optional(limit.firstRemainingRise)),
        ])
    }

    static func violation(_ violation: ReadViolation, in check: CheckResult) -> JSONValue {
        .object([
            ("pid", .int(Int(violation.read.pid))),
            ("worker", violation.read.worker.map(JSONValue.int) ?? .null),
            ("value", .int(violation.read.value)),
            ("lower", .int(violation.lower)),
            ("upper", .int(violation.upper)),
            ("at_s", .double(check.secondsIntoRun(violation.read.start))),
        ])
    }

    static func probe(_ probe: LatencyProbe.Result) -> JSONValue {
        .object([
            ("requests", .int(probe.requests)), ("answered", .int(probe.answered)),
            ("p50_ms", .double(probe.p50Millis)), ("p90_ms", .double(probe.p90Millis)), ("max_ms", .double(probe.maxMillis)),
            ("cpu_busy", .optional(probe.cpuBusyFraction)), ("cores", .int(probe.cores)),
            ("server_cpu", .optional(probe.serverCPUFraction)), ("elapsed_s", .double(probe.elapsedSeconds)),
        ])
    }

    /// Evidence keys sorted, so the same run prints the same document.
    static func diagnosis(_ diagnosis: Diagnosis) -> JSONValue {
        .object([
            ("code", .string(diagnosis.code)),
            ("text", .string(diagnosis.text)),
            ("evidence", .object(diagnosis.evidence.sorted { $0.key < $1.key }.map { key, value in
                switch value {
                case .number(let number):
                    return (key, number.rounded() == number && abs(number) < 1e15 ? .int(Int(number)) : .double(number))
                case .text(let text):
                    return (key, .string(text))
                }
            })),
        ])
    }

    static func unread(_ worker: UnreadWorker) -> JSONValue {
        .object([
            ("pid", .int(Int(worker.pid))),
            ("worker", worker.worker.map(JSONValue.int) ?? .null),
            ("reason", .string(worker.reason)),
        ])
    }

    static func reset(_ reset: ResetSummary) -> JSONValue {
        .object([
            ("pid", reset.pid.map { .int(Int($0)) } ?? .null),
            ("worker", reset.worker.map(JSONValue.int) ?? .null),
            ("outcome", .string(reset.outcome.rawValue)),
            ("at_s", .double(reset.atSeconds)),
            ("acknowledged_before", .int(reset.acknowledgedBefore)),
            ("acknowledged_since", .int(reset.acknowledgedSince)),
            ("error", .optional(reset.error)),
        ])
    }

    static func fault(_ fault: FaultRecord) -> JSONValue {
        .object([
            ("step", .string(fault.step)),
            ("at_s", .double(fault.atSeconds)),
            ("acknowledged", .int(fault.acknowledged)),
            ("worker", fault.worker.map(JSONValue.int) ?? .null),
            ("pid", fault.pid.map { .int(Int($0)) } ?? .null),
            ("store_pid", fault.storePid.map { .int(Int($0)) } ?? .null),
            ("failed", .bool(fault.failed)),
            ("outcome", .string(fault.outcome)),
            ("events", .array(fault.events.map(JSONValue.string))),
        ])
    }

    static func restart(_ restart: RestartSummary) -> JSONValue {
        .object([
            ("scope", .string(restart.scope.rawValue)),
            ("at_s", .double(restart.atSeconds)),
            ("acknowledged_before", .int(restart.acknowledgedBefore)),
            ("count_before", restart.before.map(JSONValue.int) ?? .null),
            ("count_after", restart.after.map(JSONValue.int) ?? .null),
            ("exact", .bool(restart.exact)),
            ("durable", restart.durable.map(JSONValue.bool) ?? .null),
            ("lost_to_restart", restart.lostToRestart.map(JSONValue.int) ?? .null),
            ("worker", restart.worker.map(JSONValue.int) ?? .null),
            ("pid", restart.pid.map { .int(Int($0)) } ?? .null),
            ("new_pid", restart.newPid.map { .int(Int($0)) } ?? .null),
        ])
    }

    static func worker(_ tally: WorkerTally) -> JSONValue {
        .object([
            ("pid", .int(Int(tally.pid))),
            ("worker", tally.worker.map(JSONValue.int) ?? .null),
            ("count", .int(tally.count)),
            ("acknowledged", .int(tally.acknowledged)),
            ("host", tally.host.map { .int($0 + 1) } ?? .null),
            ("host_name", tally.hostName.map(JSONValue.string) ?? .null),
        ])
    }

    /// One host of a `--hosts` run: its number (1-based, as the report says it), workers and reads.
    static func host(_ tally: HostTally) -> JSONValue {
        .object([
            ("host", .int(tally.host + 1)),
            ("name", tally.name.map(JSONValue.string) ?? .null),
            ("workers", .int(tally.workers)),
            ("count_low", .int(tally.low)),
            ("count_high", .int(tally.high)),
            ("workers_agree", .bool(tally.agree)),
            ("acknowledged", .int(tally.acknowledged)),
        ])
    }

    static func witness(_ witness: DuplicateWitness) -> JSONValue {
        .object([("count", .int(witness.count)), ("pids", .array(witness.pids.map { .int(Int($0)) }))])
    }

    /// "held" is null for a skipped run: nothing was there to check.
    static func expectation(_ outcome: ExpectationOutcome, evaluated: Bool) -> JSONValue {
        .object([
            ("text", .string(outcome.expectation.text)),
            ("field", .string(outcome.expectation.field)),
            ("held", evaluated ? .bool(outcome.holds) : .null),
            ("actual", evaluated ? value(outcome.actual) : .null),
        ])
    }

    static func value(_ value: ResultValue?) -> JSONValue {
        switch value {
        case .number(let number)?: return .double(number)
        case .bool(let flag)?: return .bool(flag)
        case .text(let text)?: return .string(text)
        case nil: return .null
        }
    }
}
