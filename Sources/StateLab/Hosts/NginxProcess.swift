import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A real nginx in front of statelab's hosts, as a team's load balancer:
/// statelab writes its config (round robin over the hosts, keep-alive to
/// them, a host marked down for `failTimeout` after a failed connect) and
/// starts it on a free loopback port. One process (`master_process off`), so
/// it dies with statelab (PR_SET_PDEATHSIG) even under kill -9.
public final class NginxProcess: @unchecked Sendable {
    public let port: Int
    public let directory: String
    public let upstreams: [String]
    private let child: ChildProcess

    public var pid: pid_t { child.pid }
    public var errorLog: String { directory + "/error.log" }
    public var isRunning: Bool { child.isRunning }

    /// How long nginx leaves a host out after a failed connect or answer.
    public static let failTimeout = 2
    public static let startAttempts = 3
    public static let startTimeout = 30.0

    private init(port: Int, directory: String, upstreams: [String], child: ChildProcess) {
        self.port = port
        self.directory = directory
        self.upstreams = upstreams
        self.child = child
    }

    deinit { stop() }

    /// nil when nginx can be started here; otherwise one line with the fix.
    public static func availability() -> String? {
        ChildProcess.which("nginx") == nil
            ? "--hosts puts a real nginx in front of the hosts, and nginx is not on PATH: install it (apt-get install -y nginx)"
            : nil
    }

    /// Starts nginx balancing over `upstreams` ("address:port"), its files in
    /// `directory` (which must exist), on loopback `port` (0: a free one);
    /// returns once it accepts connections.
    public static func launch(upstreams: [String], in directory: String, port asked: Int = 0) throws -> NginxProcess {
        guard let executable = ChildProcess.which("nginx") else { throw StoreError(availability() ?? "nginx not found") }
        var failures: [String] = []
        for _ in 0..<(asked == 0 ? startAttempts : 1) {
            let port = asked == 0 ? try RedisServerProcess.freeLoopbackPort() : asked
            try config(port: port, upstreams: upstreams, directory: directory)
                .write(toFile: directory + "/nginx.conf", atomically: true, encoding: .utf8)
            let child = try ChildProcess.spawn(
                executable: executable,
                arguments: ["-p", directory + "/", "-c", directory + "/nginx.conf", "-e", directory + "/error.log"],
                outputFile: directory + "/nginx.out")
            let server = NginxProcess(port: port, directory: directory, upstreams: upstreams, child: child)
            if let problem = waitAccepting(server) {
                let log = LogTail.read(server.errorLog, lines: 2)
                server.stop()
                failures.append("nginx on 127.0.0.1:\(port) \(problem)\(log.isEmpty ? "" : ": \(log)")")
                if asked != 0 {
                    throw StoreError("\(failures.last!); choose another port with --port, or --port 0 for a free one")
                }
                continue
            }
            return server
        }
        throw StoreError("nginx failed to start \(startAttempts) times; last attempt: \(failures.last ?? "?")")
    }

    static func config(port: Int, upstreams: [String], directory: String) -> String {
        let servers = upstreams.map { "        server \($0) max_fails=1 fail_timeout=\(failTimeout)s;" }.joined(separator: "\n")
        return """
            # Written by statelab for one run; removed with it.
            daemon off;
            master_process off;
            worker_processes 1;
            pid \(directory)/nginx.pid;
            error_log \(directory)/error.log warn;
            events { worker_connections 4096; }
            http {
                access_log off;
                client_body_temp_path \(directory)/body;
                proxy_temp_path \(directory)/proxy;
                fastcgi_temp_path \(directory)/fastcgi;
                uwsgi_temp_path \(directory)/uwsgi;
                scgi_temp_path \(directory)/scgi;
                upstream statelab_hosts {
            \(servers)
                    keepalive 64;
                }
                server {
                    listen 127.0.0.1:\(port) reuseport;
                    location / {
                        proxy_pass http://statelab_hosts;
                        proxy_http_version 1.1;
                        proxy_set_header Connection "";
                        proxy_connect_timeout 2s;
                        proxy_read_timeout 30s;
                        # A host that refuses the connection got nothing: the next one is tried.
                        # A request already sent is never sent again (nginx's default for POST).
                        proxy_next_upstream error timeout;
                    }
                }
            }

            """
    }

    private static func waitAccepting(_ server: NginxProcess) -> String? {
        let deadline = MonotonicClock.now() + UInt64(startTimeout * 1e9)
        while MonotonicClock.now() < deadline {
            if let status = server.child.poll() {
                return "exited during startup with status \(status)"
            }
            if TCPProbe.accepts(port: server.port) { return nil }
            usleepChecked(10_000)
        }
        return "did not accept connections within \(Int(startTimeout)) s"
    }

    /// SIGQUIT (graceful), SIGKILL after 3 s; reaps it. Idempotent.
    public func stop() {
        child.stop(signal: SIGQUIT, grace: 3)
    }

    /// What nginx's error log says about each host: connects refused or timed
    /// out, and how often it took the host out of the rotation.
    public func hostEvents() -> [String: HostEvents] {
        guard let text = try? String(contentsOfFile: errorLog, encoding: .utf8) else { return [:] }
        var events: [String: HostEvents] = [:]
        for line in text.split(separator: "\n") {
            guard let range = line.range(of: "upstream: \"http://") else { continue }
            let rest = line[range.upperBound...]
            guard let slash = rest.firstIndex(where: { $0 == "/" || $0 == "\"" }) else { continue }
            let upstream = String(rest[..<slash])
            if line.contains("upstream server temporarily disabled") { events[upstream, default: HostEvents()].markedDown += 1 }
            if line.contains("connect() failed") { events[upstream, default: HostEvents()].connectFailures += 1 }
            else if line.contains("prematurely closed") || line.contains("reset by peer") {
                events[upstream, default: HostEvents()].brokenAnswers += 1
            }
        }
        return events
    }

    /// `hostEvents` per host, in words; hosts nginx said nothing about are left out.
    func describeHostEvents(_ hosts: [HostAddress]) -> [String] {
        let events = hostEvents()
        return hosts.compactMap { host in
            guard let seen = events["\(host.address):\(HostPlacement.appPort)"] else { return nil }
            var parts: [String] = []
            if seen.connectFailures > 0 { parts.append("\(seen.connectFailures) connect\(seen.connectFailures == 1 ? "" : "s") failed") }
            if seen.brokenAnswers > 0 { parts.append("\(seen.brokenAnswers) answer\(seen.brokenAnswers == 1 ? "" : "s") cut off") }
            if seen.markedDown > 0 { parts.append("marked down \(seen.markedDown) time\(seen.markedDown == 1 ? "" : "s")") }
            return parts.isEmpty ? nil : "nginx: host \((host.index ?? -1) + 1) (\(host.address)): " + parts.joined(separator: ", ")
        }
    }

    public struct HostEvents: Sendable, Equatable {
        public var connectFailures = 0
        public var brokenAnswers = 0
        public var markedDown = 0
    }
}

/// Whether something accepts TCP connections on a loopback port.
enum TCPProbe {
    static func accepts(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }
}
