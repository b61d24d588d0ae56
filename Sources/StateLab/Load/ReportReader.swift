/// Reads `GET /report` from every worker of an app that shares one port.
///
/// The kernel picks the worker for each new connection, so it opens fresh
/// connections until each expected pid has answered once, bounded by a
/// number of attempts and by `timeout` seconds in all.
public enum ReportReader {
    /// Attempts when no pids are expected: enough to see most workers of a small app.
    static let discoveryAttempts = 16
    static let retriesKey = Array("\"retries\"".utf8)

    /// - Returns: the first read of each pid that answered (unexpected pids
    ///   included: a respawned worker is still a worker), and the expected
    ///   pids that never answered.
    public static func readAll(
        host: String = "127.0.0.1",
        port: Int,
        expecting pids: Set<Int32>,
        timeout: Double,
        requests: AppRequests = .counterAPI,
        owners: SocketOwners? = nil
    ) async -> (reads: [ReadRecord], unreached: Set<Int32>) {
        guard let request = requests.read else { return ([], pids) }
        let deadline = MonotonicClock.now() + UInt64(max(timeout, 0) * 1_000_000_000)
        let maxAttempts = pids.isEmpty ? discoveryAttempts : max(discoveryAttempts, pids.count * 32)
        var reads: [ReadRecord] = []
        var unreached = pids
        var attempts = 0
        while attempts < maxAttempts, pids.isEmpty || !unreached.isEmpty, !Task.isCancelled {
            let start = MonotonicClock.now()
            guard start < deadline else { break }
            attempts += 1
            // One hung worker must not use up the whole budget of the others.
            let remaining = Double(deadline - start) / 1_000_000_000
            let attemptTimeout = min(remaining, max(1, timeout / 4))
            do {
                let answer = try await AppExchange.send(request, host: host, port: port, timeout: attemptTimeout, owners: owners)
                let end = MonotonicClock.now()
                guard let read = readRecord(from: answer, start: start, end: end, requests: requests) else { continue }
                if !reads.contains(where: { $0.pid == read.pid }) { reads.append(read) }
                unreached.remove(read.pid)
            } catch {
                // Refused or reset: the app may be restarting a worker; try again shortly.
                try? await Task.sleep(nanoseconds: 20_000_000)
            }
        }
        return (reads, unreached)
    }

    /// The read an answer carries: its worker (from /proc, else the answer) and its value; nil when either is missing.
    static func readRecord(from answer: AppExchange.Answer, start: UInt64, end: UInt64,
                           requests: AppRequests = .counterAPI) -> ReadRecord? {
        guard (200..<300).contains(answer.status) else { return nil }
        guard let pid = answer.pid(field: requests.pidField),
              let value = requests.readField.integer(in: answer.body) else { return nil }
        let body = CounterAnswer.parse(answer.body, fields: requests.answerFields)
        let retries = answer.body.withUnsafeBytes { JSONFieldScanner(bytes: $0).integer(for: retriesKey) }
        var read = ReadRecord(pid: pid, worker: body.worker, value: requests.normalized(value), start: start, end: end, retries: retries)
        read.hostName = answer.headerHost
        return read
    }
}
