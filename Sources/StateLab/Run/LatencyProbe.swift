import NIOPosix

/// A short run at concurrency 1 before the load: sequential requests on one
/// keep-alive connection, with the machine's CPU measured around them. With
/// one request in flight there is no queue, so its latency is what a single
/// request costs; `Diagnoser` compares it with the load's.
public enum LatencyProbe {
    public struct Result: Sendable, Codable, Equatable {
        /// Requests sent, and those answered with a 2xx status.
        public var requests: Int
        public var answered: Int
        public var p50Millis: Double
        public var p90Millis: Double
        public var maxMillis: Double
        /// Share of all cores' time that was busy during the probe (0...1);
        /// nil when /proc/stat could not be read.
        public var cpuBusyFraction: Double?
        public var cores: Int
        /// CPU the answering worker process(es) used during the probe, as a
        /// share of one core; nil when their /proc entries could not be read
        /// (a server in another pid namespace, or gone).
        public var serverCPUFraction: Double?
        public var elapsedSeconds: Double

        public init(requests: Int, answered: Int, p50Millis: Double, p90Millis: Double, maxMillis: Double,
                    cpuBusyFraction: Double?, cores: Int, serverCPUFraction: Double? = nil, elapsedSeconds: Double) {
            self.requests = requests
            self.answered = answered
            self.p50Millis = p50Millis
            self.p90Millis = p90Millis
            self.maxMillis = maxMillis
            self.cpuBusyFraction = cpuBusyFraction
            self.cores = cores
        self.serverCPUFraction = serverCPUFraction
            self.elapsedSeconds = elapsedSeconds
        }
    }

    /// Sends `requests` GETs of `path` one after another over one keep-alive
    /// connection (the load generator's own connection, at concurrency 1).
    /// GET /report changes no counter, so the probe leaves the run's count alone.
    /// - Returns: nil when no request got a 2xx answer (nothing to measure).
    public static func run(host: String, port: Int, path: String = "/report", headers: [RequestSpec.Header] = [],
                           requests: Int = 30, timeout: Double = 2) async -> Result? {
        var plan = LoadPlan(host: host, port: port, method: "GET", path: path, stop: .count(requests),
                            concurrency: 1, timeout: timeout, maxConnectAttempts: 2)
        plan.headers = headers
        let before = CPUStat.read()
        // The worker that will answer is known only from its answers: note every process's ticks.
        let processesBefore = ProcessCPU.snapshot()
        guard let load = try? await LoadGenerator(plan: plan).run()
        else { return nil }
        let after = CPUStat.read()
        guard load.okCount > 0 else { return nil }
        let busy = before.flatMap { before in after?.busyFraction(since: before) }
        let serverTicks = load.perPid.keys.map { pid -> UInt64? in
            guard let start = processesBefore[pid], let end = ProcessCPU.ticks(of: pid), end >= start else { return nil }
            return end - start
        }
        let server = serverTicks.isEmpty || serverTicks.contains(nil) || !(load.elapsed > 0) ? nil
            : Double(serverTicks.reduce(0) { $0 + $1! }) / ProcessCPU.ticksPerSecond / load.elapsed
        return Result(requests: load.attempted, answered: load.okCount,
                      p50Millis: load.latency.p50, p90Millis: load.latency.p90, maxMillis: load.latency.max,
                      cpuBusyFraction: busy, cores: after?.cores ?? 1, serverCPUFraction: server,
                      elapsedSeconds: load.elapsed)
    }
}
