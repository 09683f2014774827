import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Something a test needs from the machine: a tool, the kernel's perf events, root.
///
/// Use it through the `.requires(...)` trait. Outside CI a test whose requirement is missing
/// is skipped, with the reason; with `CI=true` it runs into a failure naming what is missing
/// and how to install it, so that CI never passes by skipping.
public struct Requirement: Sendable, CustomStringConvertible {
    /// What is needed, as the failure names it ("perf", "rustc", "root", ...).
    public let name: String
    /// The executable, for a tool that was found.
    public let path: String?
    /// Why it is missing, or nil when it is there.
    public let missingReason: String?

    public var description: String { name }

    /// A requirement called `name`, missing for `missingReason` (nil: met).
    public init(name: String, path: String? = nil, missingReason: String?) {
        self.name = name
        self.path = path
        self.missingReason = missingReason
    }

    /// Whether the tests run in CI (`CI=true`, as CI services set it).
    public static let inCI: Bool = {
        guard let value = ProcessInfo.processInfo.environment["CI"]?.lowercased() else { return false }
        return ["true", "1", "yes"].contains(value)
    }()

    /// `name` on PATH or in one of `extra` directories.
    public static func executable(_ name: String, also extra: [String] = []) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":").map(String.init) + extra {
            let candidate = directory + "/" + name
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// A tool found on PATH (or in `extra`), installed by the Debian package `package`.
    public static func tool(_ name: String, package: String, also extra: [String] = []) -> Requirement {
        let path = executable(name, also: extra)
        return Requirement(name: name, path: path,
                           missingReason: path == nil ? "\(name) is not installed (apt-get install \(package); scripts/install-deps --test installs it)" : nil)
    }

    public static let gcc = tool("gcc", package: "gcc")
    public static let gxx = tool("g++", package: "g++")
    public static let zstd = tool("zstd", package: "zstd")
    public static let xz = tool("xz", package: "xz-utils")
    /// objcopy, strip and nm.
    public static let binutils = tool("objcopy", package: "binutils")
    public static let python3 = tool("python3", package: "python3")
    public static let systemdAnalyze = tool("systemd-analyze", package: "systemd")
    public static let rustc = tool("rustc", package: "rustc",
                                   also: [NSHomeDirectory() + "/.cargo/bin", "/root/.cargo/bin", "/usr/local/cargo/bin"])
    public static let swiftc = tool("swiftc", package: "a Swift toolchain", also: ["/opt/swift/usr/bin", "/usr/share/swift/usr/bin"])

    /// Chromium for the viewer's browser tests (`FLAMED_CHROMIUM` names another binary).
    public static let chromium: Requirement = {
        if let explicit = ProcessInfo.processInfo.environment["FLAMED_CHROMIUM"], !explicit.isEmpty {
            let usable = FileManager.default.isExecutableFile(atPath: explicit)
            return Requirement(name: "chromium", path: usable ? explicit : nil,
                               missingReason: usable ? nil : "FLAMED_CHROMIUM=\(explicit) is not an executable")
        }
        for name in ["chromium", "chromium-browser", "google-chrome"] {
            let found = tool(name, package: "chromium")
            if found.path != nil { return found }
        }
        return tool("chromium", package: "chromium")
    }()

    /// linux-perf installed and the kernel letting this user open perf events.
    public static let perf: Requirement = {
        let binary = "/usr/bin/perf"
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            return Requirement(name: "perf", path: nil,
                               missingReason: "perf is not installed (apt-get install linux-perf; scripts/install-deps --test installs it)")
        }
        var failure = ""
        for _ in 0..<3 {
            let probe = Support.run([binary, "record", "-q", "-e", "cpu-clock", "-o", "/dev/null", "--", "/bin/true"])
            if probe.status == 0 { return Requirement(name: "perf", path: binary, missingReason: nil) }
            failure = "perf record exited \(probe.status): \(probe.stderr.prefix(200))"
        }
        return Requirement(name: "perf", path: binary,
                           missingReason: "the kernel refused perf_event_open (perf_event_paranoid / CAP_PERFMON): \(failure)")
    }()

    /// Running as root (uid and euid 0).
    public static let root = Requirement(name: "root", path: nil,
                                         missingReason: getuid() == 0 && geteuid() == 0 ? nil : "needs root (uid \(getuid()), euid \(geteuid()))")
}

/// The error a `.requires` condition throws in CI: the test fails with it.
public struct MissingRequirement: Error, CustomStringConvertible {
    public let reasons: [String]
    public var description: String { "CI=true and a requirement is missing: " + reasons.joined(separator: "; ") }
}

extension Trait where Self == ConditionTrait {
    /// Runs the test only when every requirement is met. Outside CI a missing one skips the
    /// test; with `CI=true` the test fails, naming what is missing.
    public static func requires(_ requirements: Requirement..., sourceLocation: SourceLocation = #_sourceLocation) -> Self {
        let reasons = requirements.compactMap(\.missingReason)
        let comment = reasons.isEmpty ? "needs \(requirements.map(\.name).joined(separator: ", "))" : reasons.joined(separator: "; ")
        return .enabled(Comment(rawValue: comment), sourceLocation: sourceLocation) {
            if reasons.isEmpty { return true }
            if Requirement.inCI { throw MissingRequirement(reasons: reasons) }
            return false
        }
    }
}
