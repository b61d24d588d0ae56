import Foundation
import StateLab
import StateLabTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Hostile clients against a real `statelab serve` worker process: one that
/// pipelines and never reads, and a crowd larger than the worker's file
/// descriptor limit. Every wait is bounded; nothing asserts speed.
@Suite(.serialized)
struct HostileClientTests {
    /// `statelab serve` under shell limits (`ulimit` lines), one worker.
    static func serveLimited(_ limits: String, _ arguments: [String]) throws -> (ChildProcess, ServeProcessTests.Ready, String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("statelab-hostile-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let output = dir + "/serve.out"
        let command = "\(limits); exec \"$0\" serve --port 0 --json \"$@\""
        let process = try ChildProcess.spawn(executable: "/bin/sh", arguments: ["-c", command, Binary.path] + arguments,
                                             outputFile: output)
        let ready = Poll.value(timeout: 60) { () -> ServeProcessTests.Ready? in
            guard let text = try? String(contentsOfFile: output, encoding: .utf8),
                  let line = text.split(separator: "\n").first(where: { $0.hasPrefix("{") }) else { return nil }
            return try? JSONDecoder().decode(ServeProcessTests.Ready.self, from: Data(line.utf8))
        }
        guard let ready else {
            let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
            process.stop()
            try? FileManager.default.removeItem(atPath: dir)
            throw StoreError("serve did not become ready: \(text)")
        }
        return (process, ready, dir)
    }

    /// One increment on a fresh connection: its status, or nil when none came within 10 s.
    static func incrementStatus(port: Int) -> Int? {
        guard let fd = try? LoopbackSocket.connect(port: port, sendTimeout: 10, receiveTimeout: 10) else { return nil }
        defer { close(fd) }
        let request = Array("POST /increment HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8)
        guard send(fd, request, request.count, Int32(MSG_NOSIGNAL)) == request.count else { return nil }
        var answer = [UInt8](repeating: 0, count: 512)
        let got = recv(fd, &answer, answer.count, 0)
        guard got > 12 else { return nil }
        return Int(String(decoding: answer[9..<12], as: UTF8.self))
    }

    @Test("a client that pipelines and never reads: the worker's RSS stays within 64 MB of its start for 20 s, under an address-space limit, and others are served")
    func pipelinerThatNeverReads() throws {
        // 3 GiB of address space: the worker runs in a fraction of it, and the
        // unbounded growth this guards against (1.9 GB in 8 s) would pass it.
        let (supervisor, ready, dir) = try Self.serveLimited("ulimit -v 3145728", ["--strategy", "global", "--workers", "1"])
        defer {
            supervisor.stop()
            try? FileManager.default.removeItem(atPath: dir)
        }
        let worker = try #require(ready.pids.first)
        let start = try #require(ProcessTable.residentKiB(worker))

        let hostile = try LoopbackSocket.connect(port: ready.port)
        defer { close(hostile) }
        var small: Int32 = 4096
        setsockopt(hostile, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        _ = fcntl(hostile, F_SETFL, fcntl(hostile, F_GETFL) | O_NONBLOCK)
        let batch = Array(String(repeating: "POST /increment HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", count: 2000).utf8)

        var peak = start
        var sentBytes = 0
        var servedMeanwhile = 0
        let end = MonotonicClock.now() + 20_000_000_000
        while MonotonicClock.now() < end {
            // For 200 ms, as fast as the socket takes it: the worker must stop taking it.
            let burstEnd = min(end, MonotonicClock.now() + 200_000_000)
            var offset = 0
            while MonotonicClock.now() < burstEnd {
                let sent = batch.withUnsafeBytes { send(hostile, $0.baseAddress! + offset, batch.count - offset, Int32(MSG_NOSIGNAL)) }
                if sent <= 0 {
                    usleep(1_000)  // full: the worker is not reading
                    continue
                }
                offset = (offset + sent) % batch.count
                sentBytes += sent
            }
            if Self.incrementStatus(port: ready.port) == 200 { servedMeanwhile += 1 }
            peak = max(peak, ProcessTable.residentKiB(worker) ?? .max)
        }
        #expect(ProcessTable.exists(worker), "the worker died")
        #expect(peak - start < 64 * 1024, "RSS grew from \(start) KiB to \(peak) KiB while \(sentBytes) bytes were pipelined")
        #expect(servedMeanwhile > 0, "no other client was served meanwhile")
        // The worker stopped reading, so the client could not send without bound either.
        #expect(sentBytes < 64 << 20, "\(sentBytes) bytes went in: nothing held the client back")

        close(hostile)
        #expect(Poll.until(timeout: 30) { Self.incrementStatus(port: ready.port) == 200 }, "not served after the pipeliner left")
        #expect(ready.pids.allSatisfy(ProcessTable.exists))
    }

    @Test("out of file descriptors (RLIMIT_NOFILE 200, 1,000 connections): the worker does not spin, and serves again once they close")
    func outOfDescriptors() throws {
        let (supervisor, ready, dir) = try Self.serveLimited("ulimit -n 200", ["--strategy", "global", "--workers", "1"])
        defer {
            supervisor.stop()
            try? FileManager.default.removeItem(atPath: dir)
        }
        let worker = try #require(ready.pids.first)
        var crowd: [Int32] = []
        defer { crowd.forEach { close($0) } }
        for _ in 0..<1000 {
            guard let fd = try? LoopbackSocket.connect(port: ready.port) else { break }
            crowd.append(fd)
        }
        #expect(crowd.count > 200, "only \(crowd.count) connections were made")
        // The worker has taken what it can; what is left waits in the listen queue.
        usleep(500_000)
        let before = try #require(ProcessTable.cpuSeconds(worker))
        let window = 3.0
        usleep(UInt32(window * 1_000_000))
        let used = try #require(ProcessTable.cpuSeconds(worker)) - before
        // Spinning on accept takes a whole core (a busy machine still gives it half);
        // backing off takes next to nothing.
        #expect(used < window * 0.25, "the worker used \(used) s of CPU in \(window) s while out of descriptors")
        #expect(ProcessTable.exists(worker))

        crowd.forEach { close($0) }
        crowd.removeAll()
        #expect(Poll.until(timeout: 30) { Self.incrementStatus(port: ready.port) == 200 }, "not served once the connections closed")
    }
}
