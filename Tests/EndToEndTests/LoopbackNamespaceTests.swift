import Foundation
import StateLab
import StateLabTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A name that a resolver maps off the machine is refused before any
/// connect. Run in a fresh network and mount namespace (`unshare -n -m`, as
/// root): its own /etc/hosts maps the names to 10.0.0.1, an address given to
/// the namespace's own loopback device, where a listener counts connections.
/// Nothing can leave the namespace even if the check failed, and the listener
/// would see any connect.
@Suite(.serialized, .enabled(if: geteuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare")
                             && FileManager.default.isExecutableFile(atPath: "/usr/bin/python3"),
                             "needs root, unshare and python3"))
struct LoopbackNamespaceTests {
    static let script = """
        set -eu
        mount --bind "$HOSTS" /etc/hosts
        ip link set lo up
        ip addr add 10.0.0.1/32 dev lo
        python3 -c '
        import socket, sys
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("10.0.0.1", 8080)); s.listen(64); s.settimeout(0.2)
        open(sys.argv[1], "w").write("listening\\n")
        n = 0
        while True:
            try:
                c, _ = s.accept(); n += 1; c.close()
                open(sys.argv[1], "w").write("accepted %d\\n" % n)
            except socket.timeout:
                pass
        ' "$LOG" &
        listener=$!
        for _ in $(seq 100); do grep -q listening "$LOG" 2>/dev/null && break; sleep 0.1; done
        # The listener works: a direct connect to it is counted.
        python3 -c 'import socket; socket.create_connection(("10.0.0.1", 8080), timeout=5).close()'
        for _ in $(seq 100); do grep -q "accepted 1" "$LOG" && break; sleep 0.1; done
        set +e
        "$STATELAB" "$@"
        status=$?
        sleep 0.5
        kill $listener
        echo "exit $status"
        echo "listener $(cat "$LOG")"
        """

    static func runInNamespace(_ arguments: [String]) throws -> (output: String, status: Int32) {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("statelab-netns-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(at: scratch) }
        // A test run killed meanwhile leaves it for the next run's sweep.
        try RunDirectory.markOwned(scratch.path)
        let hosts = scratch.appendingPathComponent("hosts").path
        try "127.0.0.1 localhost\n10.0.0.1 127.evil.test loopy.test 127.0.0.1.nip.io\n".write(toFile: hosts, atomically: true, encoding: .utf8)
        let result = try RunCommand.run("/usr/bin/unshare", ["-n", "-m", "--propagation", "private", "/bin/sh", "-c", script, "sh"] + arguments,
                                        environment: ["HOSTS": hosts, "LOG": scratch.appendingPathComponent("log").path,
                                                      "STATELAB": Binary.path, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                                                      "TMPDIR": scratch.path],
                                        timeout: 120)
        return (result.stdout + result.stderr, result.status)
    }

    @Test("names that resolve off the machine are refused with exit 2 and one line, and nothing connects to where they point",
          arguments: [
              ["load", "--url", "http://127.evil.test:8080", "--increments", "5"],
              ["load", "--url", "http://loopy.test:8080", "--increments", "5"],
              ["load", "--url", "http://127.0.0.1.nip.io:8080", "--increments", "5"],
              ["load", "--strategy", "redis", "--redis-url", "redis://127.evil.test:8080", "--increments", "5"],
              ["load", "--strategy", "postgres", "--postgres-url", "postgres://u@127.evil.test:8080/db", "--increments", "5"],
          ])
    func namesAreRefused(_ arguments: [String]) throws {
        let (output, status) = try Self.runInNamespace(arguments)
        #expect(status == 0, "the namespace script failed: \(output)")
        #expect(output.contains("exit 2"), "\(output)")
        #expect(output.contains("not a loopback address"), "\(output)")
        // The direct probe is the listener's only connection.
        #expect(output.contains("listener accepted 1\n"), "statelab connected to where the name points: \(output)")
    }
}
