import CSupport
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The process between statelab and a launched command (`statelab guard`).
///
/// PR_SET_PDEATHSIG reaches only the direct child, and a shell line such as
/// `uvicorn app:app --workers 4` is a tree: a master and the workers it
/// forks. So statelab starts this guard, which asks for a catchable SIGTERM
/// when statelab dies (even under `kill -9`), becomes the subreaper of the
/// tree, and runs the command in a process group of its own. Whatever ends it
/// (a signal, its parent's death, the command exiting) it stops the whole
/// group: SIGTERM, up to `grace` seconds for the group to empty, then SIGKILL.
public enum ProcessGuard {
    /// How often the guard looks for a signal or an exit.
    static let pollMicros: UInt32 = 20_000

    /// Runs `command` (argv, the executable first) to the end; returns the
    /// guard's exit status: the command's own when it exited by itself,
    /// 128 + the signal when one stopped it, 125 when it could not start.
    /// `groupFile` receives the command's process group id once it started.
    public static func run(command: [String], parentPID: pid_t, grace: Double, cwd: String?, groupFile: String?) -> Int32 {
        guard sl_guard_prepare(parentPID) == 0 else {
            say("statelab (pid \(parentPID)) is already gone; not starting the command")
            return 125
        }
        guard let executable = command.first else {
            say("no command given")
            return 125
        }
        if let cwd, !FileManager.default.changeCurrentDirectoryPath(cwd) {
            say("cannot change to the directory \(cwd)")
            return 125
        }
        let child: ChildProcess
        do {
            child = try ChildProcess.spawn(executable: executable, arguments: Array(command.dropFirst()),
                                           newProcessGroup: true)
        } catch {
            say("\(error)")
            return 125
        }
        // The group is the child's own: sl_spawn calls setpgid(0, 0) before exec.
        let group = child.pid
        if let groupFile { publish(group: group, to: groupFile) }

        var commandStatus: Int32?
        // Ends when a signal comes, the command exits, or the parent is gone
        // (its SIGTERM may have been lost in a race with the prctl).
        while sl_guard_caught_signal() == 0, commandStatus == nil, getppid() == parentPID {
            commandStatus = reapChildren(watching: child.pid)
            if commandStatus == nil { usleep(pollMicros) }
        }
        let signal = sl_guard_caught_signal()
        stopGroup(group, grace: grace, watching: child.pid, status: &commandStatus)
        if let status = commandStatus, signal == 0 {
            return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        }
        return 128 + (signal == 0 ? SIGTERM : signal)
    }

    /// SIGTERM to the group, up to `grace` seconds for it to empty (reaping
    /// the orphans this subreaper inherits), then SIGKILL and a bounded wait.
    static func stopGroup(_ group: pid_t, grace: Double, watching pid: pid_t, status: inout Int32?) {
        kill(-group, SIGTERM)
        if waitEmpty(group, seconds: grace, watching: pid, status: &status) { return }
        say("the command's process group \(group) outlived \(grace) s after SIGTERM; sending SIGKILL")
        kill(-group, SIGKILL)
        if !waitEmpty(group, seconds: 5, watching: pid, status: &status) {
            say("process group \(group) still has members after SIGKILL")
        }
    }

    private static func waitEmpty(_ group: pid_t, seconds: Double, watching pid: pid_t, status: inout Int32?) -> Bool {
        let deadline = MonotonicClock.now() + UInt64(max(seconds, 0) * 1e9)
        repeat {
            if let reaped = reapChildren(watching: pid) { status = reaped }
            if kill(-group, 0) == -1 && errno == ESRCH { return true }
            usleep(pollMicros)
        } while MonotonicClock.now() < deadline
        if let reaped = reapChildren(watching: pid) { status = reaped }
        return kill(-group, 0) == -1 && errno == ESRCH
    }

    /// Reaps every exited child (the command, and orphans reparented here);
    /// returns the wait status of `pid` if it was among them. Bounded by the
    /// number of children that exited.
    private static func reapChildren(watching pid: pid_t) -> Int32? {
        var found: Int32?
        for _ in 0..<4096 {
            var status: Int32 = 0
            let reaped = waitpid(-1, &status, WNOHANG)
            if reaped <= 0 { break }
            if reaped == pid { found = status }
        }
        return found
    }

    /// Writes the group id by rename, so a reader never sees half of it.
    private static func publish(group: pid_t, to path: String) {
        let temporary = path + ".tmp"
        do {
            try "\(group)\n".write(toFile: temporary, atomically: false, encoding: .utf8)
            if rename(temporary, path) != 0 { say("cannot write \(path): \(String(cString: strerror(errno)))") }
        } catch {
            say("cannot write \(temporary): \(error)")
        }
    }

    private static func say(_ message: String) {
        FileHandle.standardError.write(Data("statelab guard: \(message)\n".utf8))
    }
}
