import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Test-only, and deliberately not an option (so never in `--help`):
/// `STATELAB_TEST_CRASH=abort|segv|fatal` makes the dashboard crash on purpose
/// on the first frame it draws with every worker alive, so an end-to-end test
/// can check that a crash still gives the terminal back, kills the process
/// with the signal, and takes the workers with it.
enum TestCrash: String {
    /// SIGABRT, as from a C library's abort().
    case abort
    /// SIGSEGV from a real bad store (not a sent signal).
    case segv
    /// Swift's own trap (fatalError): SIGILL on x86_64, SIGTRAP on arm64.
    case fatal

    static let variable = "STATELAB_TEST_CRASH"

    static func requested(in environment: [String: String] = ProcessInfo.processInfo.environment) -> TestCrash? {
        environment[variable].flatMap(TestCrash.init(rawValue:))
    }

    /// Whether the frame just drawn is the one to crash after.
    static func isDue(_ model: DashboardModel) -> Bool {
        !model.workers.isEmpty && model.workers.allSatisfy { $0.status == .alive }
    }

    func now() -> Never {
        switch self {
        case .abort:
            Glibc.abort()
        case .segv:
            UnsafeMutablePointer<Int>(bitPattern: 16)!.pointee = 1
            fatalError("a store to address 16 did not fault")
        case .fatal:
            fatalError("\(Self.variable)=fatal")
        }
    }
}
