import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What a run drives: where the load goes, and how workers are read and reset.
/// statelab's own app reads each exact worker through its private socket; an
/// app at a URL is read through GET /report on fresh connections, best effort.
public protocol RunTarget: Sendable {
    var host: String { get }
    var port: Int { get }
    /// The worker count the report shows.
    var workerCount: Int { get }
    /// One read while the load runs (the `turn`-th worker, round robin), or nil.
    func sampleRead(turn: Int) async -> ReadRecord?
    /// One read of every worker: those that answered and those that did not.
    /// `skipping` names workers already found unreadable, not tried again.
    func readAll(expecting pids: Set<Int32>, skipping: [UnreadWorker]) async -> (reads: [ReadRecord], unread: [UnreadWorker])
    /// POST /reset through one worker (nil: whichever answers), bounded by `timeout`.
    func reset(through worker: Int?, timeout: Double) async -> ResetAnswer

    // The dashboard's needs; each has a default for a target that cannot do it.

    /// What the target says about each worker now (its rows); empty when it
    /// cannot tell (an app at a URL: the pids come from the answers).
    func workers() async -> [TargetWorker]
    /// A quick read of every worker for the dashboard's rows: bounded by
    /// `timeout` in all, best effort for a shared socket.
    func quickReads(expecting pids: Set<Int32>, timeout: Double) async -> [ReadRecord]
    /// SIGKILL to one worker; nil, or why it cannot.
    func kill(pid: Int32) async -> String?
    /// Restarts or notices workers that died; one line per event.
    func monitor() async -> [String]
    /// A short description for headers and logs ("statelab shm/atomic", "uvicorn app:app ...").
    var label: String { get }
    /// The app's requests and what its answers mean (statelab's counter API unless the app names its own).
    var appRequests: AppRequests { get }
    /// Names each connection's worker from /proc; nil when the answers name it (statelab's own app).
    var socketOwners: SocketOwners? { get }
    /// With `--hosts` and a store each host has its own of: each pid's host,
    /// so the check takes one counter per host. Nil otherwise.
    var hostOf: (@Sendable (Int32) -> Int?)? { get }
}

/// One worker as its target sees it.
public struct TargetWorker: Sendable, Equatable {
    public enum Status: String, Sendable { case alive, dead, restarting }
    /// A stable row number: statelab's own worker index, or the order the pid was first seen.
    public var index: Int
    public var pid: Int32
    public var status: Status
    /// Its host (`--hosts`, 0-based).
    public var host: Int?

    public init(index: Int, pid: Int32, status: Status) {
        self.index = index
        self.pid = pid
        self.status = status
    }
}

extension RunTarget {
    public func workers() async -> [TargetWorker] { [] }
    public func quickReads(expecting pids: Set<Int32>, timeout: Double) async -> [ReadRecord] {
        await readAll(expecting: pids, skipping: []).reads
    }
    public func kill(pid: Int32) async -> String? {
        "k kills a worker of statelab's own app or of an app statelab launched (--app-command), not of an app at a URL"
    }
    public func monitor() async -> [String] { [] }
    public var label: String { "http://\(host):\(port)" }
    public var appRequests: AppRequests { .counterAPI }
    public var socketOwners: SocketOwners? { nil }
    public var hostOf: (@Sendable (Int32) -> Int?)? { nil }
}

/// How a reset ended, as the history records it.
public struct ResetAnswer: Sendable {
    public var outcome: Outcome
    /// The worker that answered, when known.
    public var pid: Int32?
    public var error: String?
}

/// statelab's own app, through its supervisor.
public struct SupervisorTarget: RunTarget {
    public let supervisor: Supervisor
    public var host: String { "127.0.0.1" }
    public var port: Int { supervisor.port }
    public var workerCount: Int { supervisor.config.workers }

    public init(supervisor: Supervisor) { self.supervisor = supervisor }

    public func sampleRead(turn: Int) async -> ReadRecord? {
        let workers = supervisor.workers
        guard !workers.isEmpty else { return nil }
        let worker = workers[turn % workers.count]
        return await OffThread.run { try? Self.read(worker, timeout: 2) }
    }

    public func readAll(expecting pids: Set<Int32>, skipping: [UnreadWorker]) async -> (reads: [ReadRecord], unread: [UnreadWorker]) {
        let workers = supervisor.workers
        return await OffThread.run {
            var reads: [ReadRecord] = [], unread: [UnreadWorker] = []
            for worker in workers {
                if let known = skipping.first(where: { $0.pid == worker.pid }) {
                    unread.append(known)
                    continue
                }
                do {
                    reads.append(try Self.read(worker, timeout: 5))
                } catch {
                    unread.append(UnreadWorker(pid: worker.pid, worker: worker.index, reason: "\(error)"))
                }
            }
            return (reads, unread)
        }
    }

    static func read(_ worker: WorkerHandle, timeout: Double) throws -> ReadRecord {
        let start = MonotonicClock.now()
        let answer = try ControlClient.request("GET", "/report", socketPath: worker.socketPath, timeout: timeout)
        guard answer.status == 200, let count = answer.count else {
            throw StoreError(answer.error ?? "GET /report answered HTTP \(answer.status)")
        }
        return ReadRecord(pid: answer.pid ?? worker.pid, worker: worker.index, value: count,
                          start: start, end: MonotonicClock.now(), retries: answer.retries)
    }

    public var label: String { "statelab \(supervisor.config.strategy.rawValue)/\(supervisor.config.mode.rawValue)" }

    public var storeProcessProblem: String? { supervisor.storeProcessProblem }

    public func workers() async -> [TargetWorker] {
        supervisor.workers.map { worker in
            let status: TargetWorker.Status = switch worker.status {
            case .alive: .alive
            case .dead: .dead
            case .restarting: .restarting
            }
            return TargetWorker(index: worker.index, pid: worker.pid, status: status)
        }
    }

    /// Each worker through its private socket, the live ones only.
    public func quickReads(expecting pids: Set<Int32>, timeout: Double) async -> [ReadRecord] {
        let workers = supervisor.workers.filter { $0.status == .alive }
        return await OffThread.run { workers.compactMap { try? Self.read($0, timeout: timeout) } }
    }

    public func kill(pid: Int32) async -> String? {
        let supervisor = self.supervisor
        guard let worker = supervisor.workers.first(where: { $0.pid == pid }) else { return "pid \(pid) is not a worker of this app" }
        await OffThread.run { supervisor.kill(worker: worker.index) }
        return nil
    }

    public func monitor() async -> [String] {
        let supervisor = self.supervisor
        return await OffThread.run { supervisor.monitor() }
    }

    public func reset(through index: Int?, timeout: Double) async -> ResetAnswer {
        guard let worker = supervisor.workers.first(where: { $0.index == (index ?? 0) }) else {
            return ResetAnswer(outcome: .fail, error: "no worker \(index ?? 0)")
        }
        return await OffThread.run { ControlExchange.reset(socketPath: worker.socketPath, pid: worker.pid, timeout: timeout) }
    }
}

/// An app at a URL: statelab's counter API, or the requests the app names
/// (`AppRequests`). Each worker that answers is named from /proc when
/// `owners` is set, else from the answer's own pid.
public struct URLTarget: RunTarget {
    public let host: String
    public let port: Int
    public var requests: AppRequests
    public var owners: SocketOwners?
    /// Pids seen so far, for the report's worker count.
    public var workerCount: Int { 0 }

    public init(host: String, port: Int, requests: AppRequests = .counterAPI, owners: SocketOwners? = nil) {
        self.host = host
        self.port = port
        self.requests = requests
        self.owners = owners
    }

    public var appRequests: AppRequests { requests }
    public var socketOwners: SocketOwners? { owners }

    public func sampleRead(turn: Int) async -> ReadRecord? {
        guard let read = requests.read else { return nil }
        let start = MonotonicClock.now()
        guard let answer = try? await AppExchange.send(read, host: host, port: port, timeout: 2, owners: owners)
        else { return nil }
        return ReportReader.readRecord(from: answer, start: start, end: MonotonicClock.now(), requests: requests)
    }

    public func quickReads(expecting pids: Set<Int32>, timeout: Double) async -> [ReadRecord] {
        await ReportReader.readAll(host: host, port: port, expecting: pids, timeout: timeout, requests: requests, owners: owners).reads
    }

    public func readAll(expecting pids: Set<Int32>, skipping: [UnreadWorker]) async -> (reads: [ReadRecord], unread: [UnreadWorker]) {
        guard let read = requests.read else { return ([], []) }
        // A shared socket cannot address one pid: every round tries them all.
        let (reads, unreached) = await ReportReader.readAll(host: host, port: port, expecting: pids, timeout: 10,
                                                            requests: requests, owners: owners)
        let unread = unreached.sorted().map {
            UnreadWorker(pid: $0, reason: "\(read) on fresh connections never reached it (the kernel picks the worker)")
        }
        return (reads, unread)
    }

    public func reset(through worker: Int?, timeout: Double) async -> ResetAnswer {
        guard let request = requests.reset else {
            return ResetAnswer(outcome: .fail, error: "the app has no reset request (give one with --reset 'POST /path')")
        }
        do {
            let answer = try await AppExchange.send(request, host: host, port: port, timeout: timeout, owners: owners)
            let body = CounterAnswer.parse(answer.body, fields: requests.answerFields)
            return ResetAnswer(status: answer.status, body: body, pid: answer.pid(field: requests.pidField))
        } catch HTTPOneShotError.timedOut {
            return ResetAnswer(outcome: .indeterminate, error: "no answer within \(ReportNumbers.plain(timeout) ?? "\(timeout)") s")
        } catch HTTPOneShotError.closedBeforeAnswer {
            return ResetAnswer(outcome: .indeterminate, error: "the connection closed before the answer")
        } catch {
            // Refused: nothing was sent.
            return ResetAnswer(outcome: .fail, error: "\(error)")
        }
    }
}

extension ResetAnswer {
    /// The outcome of an answered reset: 2xx applied; an explicit "not
    /// committed" or a 4xx did not; any other 5xx may have.
    init(status: Int, body: CounterAnswer, pid: Int32?) {
        self.pid = pid
        outcome = body.outcome(status: status)
        error = outcome == .ok ? nil : "HTTP \(status)"
    }
}

/// A reset through one worker's private socket, with the outcome told apart:
/// a connect that failed sent nothing (fail); a send with no answer may have
/// applied (indeterminate).
enum ControlExchange {
    static func reset(socketPath: String, pid: Int32, timeout: Double) -> ResetAnswer {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return ResetAnswer(outcome: .fail, pid: pid, error: "socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - timeout.rounded(.down)) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        do {
            try ControlClient.connectUnix(fd: fd, path: socketPath)
        } catch {
            return ResetAnswer(outcome: .fail, pid: pid, error: "\(error)")
        }
        let request = "POST /reset HTTP/1.1\r\nHost: worker\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        let sent = request.withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        guard sent == request.utf8.count else {
            // Part of it may have gone out.
            return ResetAnswer(outcome: sent <= 0 ? .fail : .indeterminate, pid: pid,
                               error: "send: \(String(cString: strerror(errno)))")
        }
        var response = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 4096)
        let deadline = MonotonicClock.now() + UInt64(timeout * 1e9)
        while response.count < 1 << 16, MonotonicClock.now() < deadline {
            let n = recv(fd, &chunk, chunk.count, 0)
            if n > 0 { response += chunk[0..<n]; continue }
            if n == 0 { break }
            if errno == EINTR { continue }
            break
        }
        guard let answer = try? ControlClient.parse(response, from: socketPath) else {
            return ResetAnswer(outcome: .indeterminate, pid: pid,
                               error: response.isEmpty ? "no answer within \(ReportNumbers.plain(timeout) ?? "\(timeout)") s" : "a malformed answer")
        }
        let headerEnd = response.indices.first { response[$0...].starts(with: [13, 10, 13, 10]) } ?? response.endIndex
        let body = CounterAnswer.parse(response[min(headerEnd + 4, response.endIndex)...])
        var result = ResetAnswer(status: answer.status, body: body, pid: answer.pid ?? pid)
        if answer.status != 200, let error = answer.error { result.error = "HTTP \(answer.status): \(error)" }
        return result
    }
}
