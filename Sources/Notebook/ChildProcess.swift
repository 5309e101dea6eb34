import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs a trusted tool (swiftc, swift build, llvm-symbolizer) in its own process group with stdout
/// and stderr captured, and lets the caller kill the whole group from a periodic check.
public struct ChildProcess {
    public var executable: String
    public var arguments: [String]
    public var environment: [String: String]
    public init(executable: String, arguments: [String], environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
    }

    public enum Termination: Equatable, Sendable {
        case exited(Int32)
        case signalled(Int32)
        /// Killed by the caller's `check` (a timeout).
        case killed
    }

    public struct Result: Sendable {
        public var stdout: Data
        public var stderr: Data
        public var termination: Termination
    }

    /// Launches and waits (through `ProgramHost`). `check` runs at least every 100 ms and returns
    /// true to kill the process group.
    public func run(check: () -> Bool = { false }) throws -> Result {
        let outcome = try ProgramHost.run(ProgramHost.Launch(executable: executable, arguments: arguments,
                                                             environment: environment),
                                          shouldStop: check)
        let termination: Termination
        switch outcome.ending {
        case .exited(let code): termination = .exited(code)
        case .signalled(let signal): termination = .signalled(signal)
        case .timedOut, .stopped: termination = .killed
        }
        return Result(stdout: outcome.stdout, stderr: outcome.stderr, termination: termination)
    }
}
