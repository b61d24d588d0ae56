import Foundation
import StateLabTestSupport
import Testing
@testable import StateLab
#if canImport(Glibc)
import Glibc
#endif

/// `listen: shared`: the supervisor listens once and every worker accepts on
/// the socket it inherited. Which worker takes which connection is up to the
/// scheduler, so nothing here depends on the share; tests that need traffic on
/// every worker use reuseport, the default.
@Suite(.serialized)
struct SharedListenTests {
    static func start(workers: Int = 4, port: Int = 0) throws -> Supervisor {
        try Supervisor.start(AppConfig(strategy: .shm, mode: .atomic, workers: workers, port: port,
                                       executable: Binary.path, listen: .shared))
    }

    @Test("a shared-listen app answers from its workers, and its check is ok (shm atomic, 4 workers)")
    func answersFromItsWorkersAndChecksOk() async throws {
        let supervisor = try Self.start()
        defer { supervisor.stop() }
        let pids = Set(supervisor.workers.map(\.pid))
        let outcome = try await RunPipeline.run(
            target: SupervisorTarget(supervisor: supervisor),
            plan: LoadPlan(port: supervisor.port, stop: .count(2000), concurrency: 32, timeout: 30),
            steps: RunSteps(), sharing: .yes
        ) { _, _ in }
        let check = outcome.check
        #expect(check.acknowledged == 2000, "failed \(check.failed), indeterminate \(check.indeterminate)")
        #expect(check.lost == 0)
        #expect(check.verdict == .ok, "\(check.inconclusive ?? "")")
        #expect(Set(check.perWorker.map(\.pid)) == pids, "every worker read: \(check.perWorker)")
        #expect(check.perWorker.map(\.acknowledged).reduce(0, +) == check.acknowledged,
                "every acknowledged increment came from one of the app's workers: \(check.perWorker)")
    }

    @Test("every worker, a restarted one too, holds the one listening socket")
    func restartedWorkerInheritsTheSocket() throws {
        let supervisor = try Self.start(workers: 2)
        defer { supervisor.stop() }
        let socket = try #require(Self.listeningSocket(of: supervisor.workers[0].pid))
        #expect(Self.listeningSocket(of: supervisor.workers[1].pid) == socket)
        let killed = supervisor.workers[1].pid
        supervisor.kill(worker: 1)
        let events = supervisor.monitor()
        let fresh = supervisor.workers[1]
        #expect(fresh.pid != killed, "\(events)")
        #expect(fresh.status == .alive, "\(events)")
        #expect(Self.listeningSocket(of: fresh.pid) == socket)
        // And it serves, through its private socket at least (the port is the kernel's pick).
        let answer = try ControlClient.request("GET", "/report", socketPath: fresh.socketPath, timeout: 5)
        #expect(answer.status == 200)
    }

    @Test("a port in use fails the start, naming the port")
    func portInUse() throws {
        let (fd, port) = try Self.listenOnFreePort()
        defer { close(fd) }
        let error = #expect(throws: StoreError.self) { try Self.start(workers: 1, port: port) }
        #expect("\(error.map { "\($0)" } ?? "")".contains("port \(port) on 127.0.0.1 is not available"))
    }

    /// What the worker's fd 4 is ("socket:[inode]"), or nil.
    static func listeningSocket(of pid: Int32) -> String? {
        try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(ListenMode.inheritedFD)")
    }

    static func listenOnFreePort() throws -> (Int32, Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && listen(fd, 1) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard bound else {
            close(fd)
            throw StoreError("cannot listen on a free port: \(String(cString: strerror(errno)))")
        }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }
}
