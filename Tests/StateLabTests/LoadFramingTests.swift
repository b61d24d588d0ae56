import Foundation
import Testing
@testable import StateLab

/// A load run against a real server that frames its answers the ways external
/// apps do and statelab's own app does not: chunked (with an extension and a
/// trailer), and HTTP/1.0 with the body ending at the close. Python's
/// http.server plays that server.
@Suite(.serialized, .enabled(if: ChildProcess.which("python3") != nil, "python3 not found on PATH"))
struct LoadFramingTests {
    @Test(arguments: ["/chunked", "/close"])
    func everyAnswerIsCounted(path: String) async throws {
        let server = try FramingServer.start()
        defer { server.stop() }
        let plan = LoadPlan(port: server.port, path: path, stop: .count(30), concurrency: 3, timeout: 5)
        let result = try await LoadGenerator(plan: plan).run()
        #expect(result.okCount == 30)
        #expect(result.indeterminateCount == 0)
        #expect(result.increments.compactMap(\.count).sorted() == Array(1...30))
        #expect(Set(result.increments.map(\.pid)) == [server.serverPid])
    }
}

/// A Python http.server child answering POST /chunked and POST /close with
/// `{"count": n, "pid": p}`; stopped by its pid, its temp dir removed.
private final class FramingServer {
    let process: ChildProcess
    let directory: URL
    let port: Int
    let serverPid: Int32

    private init(process: ChildProcess, directory: URL, port: Int, serverPid: Int32) {
        self.process = process
        self.directory = directory
        self.port = port
        self.serverPid = serverPid
    }

    static func start() throws -> FramingServer {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("statelab-framing-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let script = directory.appendingPathComponent("server.py")
        let ready = directory.appendingPathComponent("ready")
        try pythonSource.write(to: script, atomically: true, encoding: .utf8)
        guard let python = ChildProcess.which("python3") else { throw StoreError("python3 not found") }
        let process: ChildProcess
        do {
            process = try ChildProcess.spawn(executable: python, arguments: [script.path, ready.path],
                                             outputFile: directory.appendingPathComponent("server.log").path)
        } catch {
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
        // The script writes "port pid" once it listens: wait for it, 15 s at most.
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline, process.isRunning {
            if let text = try? String(contentsOf: ready, encoding: .utf8) {
                let fields = text.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
                if fields.count == 2 {
                    return FramingServer(process: process, directory: directory, port: fields[0], serverPid: Int32(fields[1]))
                }
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        let log = (try? String(contentsOf: directory.appendingPathComponent("server.log"), encoding: .utf8)) ?? ""
        process.stop()
        try? FileManager.default.removeItem(at: directory)
        throw StoreError("the Python framing server did not start: \(log)")
    }

    func stop() {
        process.stop()
        try? FileManager.default.removeItem(at: directory)
    }

    private static let pythonSource = #"""
    import http.server, os, sys, threading

    count = 0
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):
            global count
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                count += 1
                body = ('{"count": %d, "pid": %d}' % (count, os.getpid())).encode()
            if self.path == "/chunked":
                half = len(body) // 2
                self.wfile.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Worker-Pid: %d\r\n\r\n" % os.getpid())
                self.wfile.write(b"%x;part=one\r\n%s\r\n" % (half, body[:half]))
                self.wfile.write(b"%X\r\n%s\r\n0\r\nX-Checksum: none\r\n\r\n" % (len(body) - half, body[half:]))
            else:
                self.wfile.write(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + body)
                self.close_connection = True

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write("%d %d" % (server.server_address[1], os.getpid()))
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    server.serve_forever()
    """#
}
