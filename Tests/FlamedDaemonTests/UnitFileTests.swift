import FlamedTestSupport
import Foundation
import Testing

// Tests of the systemd unit (systemd/flamed.service) and of scripts/install: the sandbox score
// systemd-analyze gives the unit, the four capabilities and nothing else, the service type and
// signals, and a staged (DESTDIR) installation that never overwrites a configuration.

@Suite struct UnitFileTests {
    /// The package root, three levels above this file (Tests/FlamedDaemonTests/UnitFileTests.swift).
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let unitPath = root.appendingPathComponent("systemd/flamed.service").path
    static let installScript = root.appendingPathComponent("scripts/install").path

    /// The highest `systemd-analyze security` exposure the unit may have.
    static let maximumExposure = 2.0
    /// Exactly the capabilities flamed holds, in the bounding and the ambient set.
    static let capabilities: Set<String> = ["CAP_PERFMON", "CAP_SYSLOG", "CAP_SYS_PTRACE", "CAP_DAC_READ_SEARCH"]

    static let systemdAnalyze: String? = Requirement.systemdAnalyze.path

    // MARK: - The sandbox score

    @Test(.requires(.systemdAnalyze))
    func securityExposureIsAtMostTwo() throws {
        let result = try run([Self.systemdAnalyze!, "security", "--offline=true", "--no-pager", Self.unitPath])
        let line = result.output.split(separator: "\n").first { $0.contains("Overall exposure level for") }
        let exposure = line.flatMap { $0.split(separator: ":").last }
            .flatMap { $0.split(separator: " ").first }
            .flatMap { Double($0) }
        let score = try #require(exposure, "no exposure line in systemd-analyze output:\n\(result.output)")
        let flagged = result.output.split(separator: "\n").filter { $0.hasPrefix("✗") }.joined(separator: "\n")
        #expect(score <= Self.maximumExposure, "exposure \(score) > \(Self.maximumExposure); flagged:\n\(flagged)")
    }

    // MARK: - The unit's settings

    @Test func capabilitiesAreExactlyTheFour() throws {
        let unit = try UnitFile(path: Self.unitPath)
        #expect(unit.words("Service", "CapabilityBoundingSet") == Self.capabilities)
        #expect(unit.words("Service", "AmbientCapabilities") == Self.capabilities)
        // Ambient capabilities only do their work for a non-root user.
        #expect(unit.last("Service", "DynamicUser") == "yes" || unit.last("Service", "User") != nil)
        #expect(unit.last("Service", "NoNewPrivileges") == "yes")
    }

    @Test func serviceTypeReloadAndRestart() throws {
        let unit = try UnitFile(path: Self.unitPath)
        #expect(unit.last("Service", "Type") == "notify")
        #expect(unit.last("Service", "NotifyAccess") == "main")
        #expect(unit.last("Service", "ExecStart") == "/usr/local/bin/flamed run --config /etc/flamed/flamed.toml")
        let reload = try #require(unit.last("Service", "ExecReload"))
        #expect(reload.contains("kill") && reload.contains("-HUP") && reload.contains("$MAINPID"))
        #expect(unit.last("Service", "Restart") == "on-failure")
        #expect(unit.last("Service", "RestartSec") != nil)
        #expect(unit.last("Service", "WatchdogSec") != nil)
        #expect(unit.last("Install", "WantedBy") == "multi-user.target")
    }

    /// Settings that look like hardening but would break flamed: each one hides or strips what
    /// one of the capabilities is there for.
    @Test func noHardeningThatBreaksProfiling() throws {
        let unit = try UnitFile(path: Self.unitPath)
        // Makes /proc/kallsyms inaccessible: no kernel symbols.
        #expect(unit.last("Service", "ProtectKernelTunables") != "yes")
        // Drops CAP_SYSLOG from the bounding set: kallsyms addresses read as zeros.
        #expect(unit.last("Service", "ProtectKernelLogs") != "yes")
        // Hide other processes' /proc entries.
        #expect(unit.last("Service", "ProcSubset") != "pid")
        #expect(unit.last("Service", "ProtectProc").map { $0 == "default" } ?? true)
        // Capabilities would only hold inside a new user namespace.
        #expect(unit.last("Service", "PrivateUsers") != "yes")
        // perf_event_open is not in @system-service; it has to be allowed by name.
        #expect(unit.words("Service", "SystemCallFilter").contains("perf_event_open"))
        #expect(unit.words("Service", "RestrictAddressFamilies") == ["AF_UNIX"])
        #expect(unit.last("Service", "StateDirectory") == "flamed")
        #expect(unit.last("Service", "CacheDirectory") == "flamed")
        #expect(unit.last("Service", "CacheDirectoryMode") == "0700", "the kernel symbol cache holds kernel addresses")
        #expect(unit.last("Service", "RuntimeDirectory") == "flamed")
        #expect(unit.last("Service", "ConfigurationDirectory") == "flamed")
    }

    // MARK: - scripts/install

    @Test func stagedInstallPutsFilesInPlaceAndKeepsAConfiguration() throws {
        let stage = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: stage) }
        let first = try run(["/bin/bash", Self.installScript, "--no-build"],
                            environment: ["DESTDIR": stage.path, "FLAMED_BINARY": "/bin/true"])
        #expect(first.status == 0, "scripts/install failed:\n\(first.output)")

        let binary = stage.appendingPathComponent("usr/local/bin/flamed").path
        let unit = stage.appendingPathComponent("etc/systemd/system/flamed.service").path
        let config = stage.appendingPathComponent("etc/flamed/flamed.toml").path
        let state = stage.appendingPathComponent("var/lib/flamed").path
        #expect(try mode(binary) == 0o755)
        #expect(try mode(unit) == 0o644)
        #expect(try mode(config) == 0o644)
        #expect(try mode(state) == 0o750)
        var isDirectory: ObjCBool = false
        #expect(FileManager.default.fileExists(atPath: state, isDirectory: &isDirectory) && isDirectory.boolValue)
        #expect(FileManager.default.contents(atPath: binary) == FileManager.default.contents(atPath: "/bin/true"))
        #expect(FileManager.default.contents(atPath: unit) == FileManager.default.contents(atPath: Self.unitPath))
        let shipped = try String(contentsOfFile: Self.root.appendingPathComponent("config/flamed.toml").path, encoding: .utf8)
        #expect(try String(contentsOfFile: config, encoding: .utf8) == shipped)
        #expect(first.output.contains("systemd was not told"))

        // An edited configuration survives a second installation.
        let edited = shipped + "\n# edited by the administrator\n"
        try edited.write(toFile: config, atomically: true, encoding: .utf8)
        let second = try run(["/bin/bash", Self.installScript, "--no-build"],
                             environment: ["DESTDIR": stage.path, "FLAMED_BINARY": "/bin/true"])
        #expect(second.status == 0, "second scripts/install failed:\n\(second.output)")
        #expect(try String(contentsOfFile: config, encoding: .utf8) == edited)
        #expect(second.output.contains("left as it is"))
        #expect(try mode(binary) == 0o755)
    }

    @Test func prefixMovesTheBinaryAndTheUnitFollows() throws {
        let stage = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: stage) }
        let result = try run(["/bin/bash", Self.installScript, "--no-build"],
                             environment: ["DESTDIR": stage.path, "FLAMED_BINARY": "/bin/true",
                                           "PREFIX": "/opt/flamed", "SYSTEMD_DIR": "/usr/lib/systemd/system"])
        #expect(result.status == 0, "scripts/install failed:\n\(result.output)")
        #expect(try mode(stage.appendingPathComponent("opt/flamed/bin/flamed").path) == 0o755)
        let unit = try UnitFile(path: stage.appendingPathComponent("usr/lib/systemd/system/flamed.service").path)
        #expect(unit.last("Service", "ExecStart") == "/opt/flamed/bin/flamed run --config /etc/flamed/flamed.toml")
    }

    @Test func installRefusesAMissingBinaryAndUnknownOptions() throws {
        let stage = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: stage) }
        let missing = try run(["/bin/bash", Self.installScript, "--no-build"],
                              environment: ["DESTDIR": stage.path, "FLAMED_BINARY": stage.appendingPathComponent("nothing").path])
        #expect(missing.status != 0)
        #expect(missing.output.contains("no executable at"))
        #expect(!FileManager.default.fileExists(atPath: stage.appendingPathComponent("etc").path))
        let unknown = try run(["/bin/bash", Self.installScript, "--frobnicate"], environment: ["DESTDIR": stage.path])
        #expect(unknown.status == 2)
    }
}

// MARK: - Helpers

/// A systemd unit file: sections of `Key=Value` lines, a key possibly repeated.
private struct UnitFile {
    /// (section, key) -> values in order; an empty assignment clears the earlier ones, as in systemd.
    var entries: [String: [String]] = [:]

    init(path: String) throws {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var section = ""
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") && line.hasSuffix("]") {
                section = String(line.dropFirst().dropLast())
                continue
            }
            guard let equals = line.firstIndex(of: "=") else { continue }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            let id = "\(section)/\(key)"
            if value.isEmpty { entries[id] = [] } else { entries[id, default: []].append(value) }
        }
    }

    /// The value that counts for a single-valued setting: the last one.
    func last(_ section: String, _ key: String) -> String? { entries["\(section)/\(key)"]?.last }

    /// Every word of a list setting, over all its lines.
    func words(_ section: String, _ key: String) -> Set<String> {
        Set((entries["\(section)/\(key)"] ?? []).flatMap { $0.split(separator: " ").map(String.init) })
    }
}

private struct CommandResult {
    var status: Int32
    /// Standard output and standard error, interleaved.
    var output: String
}

/// Runs a command to completion with `environment` added to (and PREFIX, SYSTEMD_DIR, DESTDIR and
/// FLAMED_BINARY taken out of) this process's environment.
private func run(_ command: [String], environment: [String: String] = [:]) throws -> CommandResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: command[0])
    process.arguments = Array(command.dropFirst())
    var merged = ProcessInfo.processInfo.environment
    for key in ["PREFIX", "SYSTEMD_DIR", "DESTDIR", "FLAMED_BINARY"] { merged[key] = nil }
    merged.merge(environment) { _, new in new }
    process.environment = merged
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return CommandResult(status: process.terminationStatus, output: String(decoding: data, as: UTF8.self))
}

private func mode(_ path: String) throws -> Int {
    let attributes = try FileManager.default.attributesOfItem(atPath: path)
    return (attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1
}

private func temporaryDirectory() throws -> URL {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("flamed-unit-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return directory
}
