import ArgumentParser
import Dispatch
import Foundation
import StateLab

extension StateLabCommand {
    struct Serve: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "serve",
            abstract: "Run the counter app: N worker processes sharing one loopback port.",
            discussion: """
                Every worker answers POST /increment, GET /report and POST /reset with JSON and an \
                X-Worker-Pid header, on the shared port and on a private Unix socket in the run directory. \
                Ctrl-C or SIGTERM stops every process statelab started and removes its files, then exits \
                130 or 143.
                """)

        @OptionGroup var app: AppOptions

        @Option(help: "Loopback port the workers share; 0 picks a free one.")
        var port: Int = 8000

        @Flag(help: "Print one JSON line with the port and pids when ready (for scripts).")
        var json = false

        func validate() throws {
            if let problem = InputLimits.problem("--port", port, in: InputLimits.port) { throw ValidationError(problem + "; 0 picks a free one") }
        }

        func run() throws {
            let stopRequested = SignalWatch(signals: [SIGINT, SIGTERM])
            if let hosts = app.hosts {
                try serveHosts(hosts, stopRequested: stopRequested)
                return
            }
            let supervisor: Supervisor
            do {
                supervisor = try Supervisor.start(app.config(port: port)) { line in
                    FileHandle.standardError.write(Data("statelab serve: \(line)\n".utf8))
                }
            } catch {
                throw fail("\(error)")
            }
            defer { supervisor.stop() }
            printReady(supervisor)
            // The supervisor restarts a worker that dies as soon as it exits (and logs it); wait for a signal.
            while !stopRequested.fired {
                stopRequested.wait(seconds: 0.25)
            }
            FileHandle.standardError.write(Data("statelab serve: stopping \(supervisor.workers.count) workers\n".utf8))
            supervisor.stop()
            // Like a shell: 128 + the signal (130 for SIGINT, 143 for SIGTERM).
            throw ExitCode(128 + (stopRequested.received ?? SIGTERM))
        }

        /// The app on `hosts` namespaced hosts behind nginx on `--port`, until a signal.
        private func serveHosts(_ hosts: Int, stopRequested: SignalWatch) throws {
            let say: @Sendable (String) -> Void = { FileHandle.standardError.write(Data("statelab serve: \($0)\n".utf8)) }
            let cluster: HostCluster
            do {
                cluster = try HostCluster.start(app.config(port: port), hosts: hosts, log: say)
            } catch {
                throw fail("\(error)")
            }
            defer { cluster.stop() }
            if json {
                let entries = cluster.supervisors.enumerated().map { index, supervisor in
                    "{\"host\":\(index + 1),\"address\":\"\(cluster.addresses[index])\",\"url\":\"\(supervisor.url)\",\"pids\":[\(supervisor.workers.map { String($0.pid) }.joined(separator: ","))]}"
                }
                var line = "{\"url\":\"\(cluster.url)\",\"port\":\(cluster.nginx.port),\"strategy\":\"\(app.strategy.rawValue)\","
                line += "\"mode\":\"\(app.mode.rawValue)\",\"nginx_pid\":\(cluster.nginx.pid),\"bridge\":\"\(cluster.network.bridge)\","
                line += "\"control_dir\":\"\(cluster.control.path)\",\"store_address\":\(cluster.storeAddress.map(JSONText.quoted) ?? "null"),"
                line += "\"store_pid\":\(cluster.storePID.map(String.init) ?? "null"),\"hosts\":[\(entries.joined(separator: ","))]}"
                print(line)
            } else {
                print("statelab serve: \(app.strategy.rawValue) / \(app.mode.rawValue) on \(hosts) hosts behind nginx at \(cluster.url)")
                print("  \(app.strategy.describe(app.mode))")
                for (index, supervisor) in cluster.supervisors.enumerated() {
                    print("  host \(index + 1)  \(supervisor.url)  workers \(supervisor.workers.map { "pid \($0.pid)" }.joined(separator: ", "))")
                }
                if let address = cluster.storeAddress { print("  store host  \(address)  \(app.strategy.rawValue) pid \(cluster.storePID.map(String.init) ?? "?")") }
                print("  nginx  pid \(cluster.nginx.pid)  bridge \(cluster.network.bridge)")
                print("Try: curl -X POST \(cluster.url)/increment; curl \(cluster.url)/report (each host answers its own). Ctrl-C stops.")
            }
            fflush(nil)
            // Each host's supervisor restarts a worker that dies (and logs it); wait for a signal.
            while !stopRequested.fired {
                stopRequested.wait(seconds: 0.25)
            }
            say("stopping \(hosts) hosts")
            cluster.stop()
            throw ExitCode(128 + (stopRequested.received ?? SIGTERM))
        }

        private func printReady(_ supervisor: Supervisor) {
            let workers = supervisor.workers
            if json {
                let pids = workers.map { String($0.pid) }.joined(separator: ",")
                var line = "{\"url\":\"\(supervisor.url)\",\"port\":\(supervisor.port),\"strategy\":\"\(app.strategy.rawValue)\","
                line += "\"mode\":\"\(app.mode.rawValue)\",\"pids\":[\(pids)],\"run_dir\":\"\(supervisor.runDirectory.path)\""
                line += ",\"manager_pid\":\(supervisor.managerPID.map(String.init) ?? "null")"
                line += ",\"redis_pid\":\(supervisor.redisPID.map(String.init) ?? "null")"
                line += ",\"postgres_pid\":\(supervisor.postgresPID.map(String.init) ?? "null")"
                line += ",\"postgres_data\":\(supervisor.postgresDataDirectory.map(JSONText.quoted) ?? "null")}"
                print(line)
            } else {
                print("statelab serve: \(app.strategy.rawValue) / \(app.mode.rawValue), \(workers.count) workers on \(supervisor.url)")
                print("  \(app.strategy.describe(app.mode))")
                for worker in workers {
                    print("  worker \(worker.index)  pid \(worker.pid)  control socket \(worker.socketPath)")
                }
                if let pid = supervisor.managerPID { print("  manager  pid \(pid)") }
                if let pid = supervisor.redisPID { print("  redis-server  pid \(pid)") }
                if let pid = supervisor.postgresPID {
                    print("  postgres  pid \(pid)  data \(supervisor.postgresDataDirectory ?? "?")\(supervisor.config.postgres.fsync ? "" : "  (fsync=off: a demo setting)")")
                }
                print("Try: curl -X POST \(supervisor.url)/increment; curl \(supervisor.url)/report. Ctrl-C stops.")
            }
            fflush(nil)
        }
    }
}
