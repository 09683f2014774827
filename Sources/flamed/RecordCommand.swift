import ArgumentParser
import Demangling
import FlameRender
import FlamedLive
import FlamedReport
import FlamedSystem
import Logging
import Symbolizer

/// `flamed record`: sample live through perf_event_open and write a flame graph.
struct RecordCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "record",
        abstract: "Sample the system, some processes or a command, and write a flame graph.",
        discussion: """
            flamed talks to the kernel itself (perf_event_open, one ring buffer per CPU); no perf \
            binary and no perf.data file are involved. It stops when the duration ends, on Ctrl-C \
            or SIGTERM (writing what it has), or when the command exits, whose exit status it returns.

            Examples:
              flamed record -a -d 10 -o now.html
              flamed record -p 1234,1240 -d 30 -f folded -o - | flamegraph.pl > app.svg
              flamed record -F 4999 -- ./build.sh release
              flamed record -a -d 10 --container 1a2b3c4d5e6f -o web.html

            JIT code is named from /tmp/perf-PID.map (read while the process lives, again as it \
            grows, and kept after it is deleted). Processes in other mount namespaces are read \
            through /proc/PID/root (links resolved inside it), else /proc/PID/map_files.
            """
    )

    @Flag(name: [.customShort("a"), .customLong("all-cpus")], help: "Sample every process on every CPU (system-wide).")
    var allCPUs = false

    @Option(name: [.customShort("p"), .customLong("pid")], help: ArgumentHelp("Sample these processes, with all their threads, including ones started later.", valueName: "pid[,pid...]"))
    var pid: String?

    @Option(name: [.customShort("F"), .customLong("freq")], help: ArgumentHelp("Samples per second on each CPU.", valueName: "hz"))
    var frequency: UInt64?

    @Option(name: [.customShort("c"), .customLong("count")], help: ArgumentHelp("Sample every PERIOD events instead of at a frequency.", valueName: "period"))
    var period: UInt64?

    @Option(name: [.customShort("d"), .customLong("duration")], help: ArgumentHelp("Stop after this many seconds (default: until Ctrl-C, or until the command exits).", valueName: "seconds"))
    var duration: Double?

    @Option(name: [.customShort("e"), .customLong("event")], help: ArgumentHelp(
        "Event to sample: cpu-clock (default), task-clock, cycles, ….",
        discussion: "Hardware events (cycles, instructions) fall back to cpu-clock, announced, where there is no PMU. Known: \(EventCatalog.names.joined(separator: ", ")).",
        valueName: "event"))
    var event: String = "cpu-clock"

    @Flag(name: [.customShort("g"), .customLong("call-graph")], help: "Record callchains (the default).")
    var callGraph = false

    @Flag(name: .customLong("no-callchain"), help: "Record only the sampled instruction, no callchain.")
    var noCallchain = false

    @Flag(name: .customLong("user-only"), help: "Sample user space only (no kernel frames).")
    var userOnly = false

    @Flag(name: .customLong("kernel-only"), help: "Sample the kernel only (no user frames).")
    var kernelOnly = false

    @Option(name: [.customShort("m"), .customLong("mmap-pages")], help: ArgumentHelp(
        "Ring buffer data pages per CPU, a power of two.",
        discussion: "Default: what kernel.perf_event_mlock_kb allows per CPU, at most 512 KiB.",
        valueName: "pages"))
    var pages: Int?

    @Option(help: ArgumentHelp(
        "Keep only processes in this container (its id, short or full, as docker, podman or crictl show it).",
        discussion: "Processes in a container are named `comm (pid) [container ID]` either way; the id comes from /proc/PID/cgroup.",
        valueName: "id"))
    var container: String?

    @OptionGroup var outputOptions: OutputOptions

    @Option(help: DemangleStyle.help)
    var demangle: DemangleStyle = .perf

    @Flag(name: .shortAndLong, help: "Log more detail to standard error.")
    var verbose = false

    @Argument(parsing: .postTerminator, help: ArgumentHelp("A command to run and sample, after --.", valueName: "command"))
    var command: [String] = []

    func validate() throws {
        let targets = (allCPUs ? 1 : 0) + (pid != nil ? 1 : 0) + (command.isEmpty || allCPUs ? 0 : 1)
        if targets == 0 { throw ValidationError("say what to sample: -a, -p PID[,PID...] or -- COMMAND [ARGS...]") }
        if targets > 1 || (pid != nil && !command.isEmpty) {
            throw ValidationError("-a, -p and a command are alternatives (a command with -a only bounds the time)")
        }
        if let pid {
            for part in pid.split(separator: ",", omittingEmptySubsequences: false) where (Int32(part) ?? 0) <= 0 {
                throw ValidationError("-p: '\(part)' is not a process id")
            }
        }
        if frequency != nil && period != nil { throw ValidationError("-F and -c are alternatives: a frequency or a period") }
        if let frequency, frequency == 0 { throw ValidationError("-F must be at least 1 Hz") }
        if let period, period == 0 { throw ValidationError("-c must be at least 1") }
        if let duration, !(duration > 0) || !duration.isFinite { throw ValidationError("-d must be a positive number of seconds") }
        if let pages, pages <= 0 || pages & (pages - 1) != 0 { throw ValidationError("-m must be a power of two (pages per CPU), not \(pages)") }
        if userOnly && kernelOnly { throw ValidationError("--user-only and --kernel-only are alternatives") }
        if callGraph && noCallchain { throw ValidationError("-g and --no-callchain are alternatives") }
        if let container, !Self.isContainerID(container) {
            throw ValidationError("--container: '\(container)' is not a container id (hex digits, as docker ps shows)")
        }
        if EventCatalog.lookup(event) == nil {
            throw ValidationError("-e: unknown event '\(event)'; known: \(EventCatalog.names.joined(separator: ", "))")
        }
    }

    func run() throws {
        HeapTuning.fixMmapThreshold(128 << 10)
        var logger = Logger(label: "flamed.record") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = verbose ? .debug : .warning
        let outputPath = outputOptions.resolvedPath
        if case .failure(let error) = OutputFile.checkWritable(outputPath) { fail(error.description) }

        var options: SamplingOptions
        if allCPUs {
            options = SamplingOptions(target: .systemWide)
            if !command.isEmpty { options.companionCommand = command }
        } else if let pid {
            options = SamplingOptions(target: .processes(pid.split(separator: ",").compactMap { Int32($0) }))
        } else {
            options = SamplingOptions(target: .command(command))
        }
        options.eventName = event
        options.period = period
        if let frequency { options.frequency = frequency }
        options.callchains = !noCallchain
        options.userOnly = userOnly
        options.kernelOnly = kernelOnly
        options.ringPages = pages
        if options.period == nil, let limit = ProcFS.integer("kernel/perf_event_max_sample_rate"), options.frequency > UInt64(limit) {
            Terminal.writeError("flamed: note: -F \(options.frequency) is above kernel.perf_event_max_sample_rate; using \(limit) Hz\n")
            options.frequency = UInt64(limit)
        }

        let signals: SignalPipe
        switch SignalPipe.catching([SignalNumber.interrupt, SignalNumber.terminate, SignalNumber.child]) {
        case .success(let pipe): signals = pipe
        case .failure(let code): fail("cannot install signal handlers: \(FileReader.describe(code))")
        }
        let sampler: Sampler
        do {
            sampler = try Sampler(options: options, logger: logger)
        } catch {
            fail(error.description)
        }
        for notice in sampler.notices { Terminal.writeError("flamed: note: \(notice)\n") }

        // Frames are named after sampling, on every CPU: nothing a process's symbols make
        // slow (reading, demangling) holds up the rings.
        let profile = LiveProfile(cacheDirectory: PrivateFiles.cacheDirectory(), buildIDCache: ReportCommand.buildIDCache(), maxStack: 127,
                                  demangle: demangle, naming: .deferred, logger: logger)
        profile.containerFilter = container
        // Mapped files are opened as soon as they are mapped (a side-band thread), while
        // short-lived processes and replaced binaries still exist.
        sampler.onSideband = profile.sidebandHandler
        do {
            try sampler.start()
        } catch {
            fail(error.description)
        }
        let deadline = duration.map { MonotonicClock.now &+ UInt64($0 * 1e9) }
        switch options.target {
        case .systemWide: profile.seed(processes: ProcFS.ids())
        case .processes(let pids): profile.seed(processes: pids)
        case .command: break
        }
        if Terminal.isTTY(2) {
            let rate = sampler.config.usesFrequency ? "\(sampler.config.periodOrFrequency) Hz" : "every \(sampler.config.periodOrFrequency) events"
            Terminal.writeError("flamed: sampling \(sampler.eventName) at \(rate) on \(sampler.cpus.count) CPUs; Ctrl-C stops\n")
        }
        let reason = sampler.run(until: deadline, signals: signals, pollMilliseconds: 200) { records in
            for (index, record) in records.enumerated() {
                profile.apply(record)
                if index & 255 == 255 { sampler.readAhead() }
            }
        }

        var exitCode: Int32 = 0
        if let child = sampler.commandPID {
            var status: ChildStatus?
            if case .commandExited(let ended) = reason { status = ended }
            if status == nil {
                status = ChildStatus.wait(pid: child, blocking: false)
                if status == nil {
                    CurrentProcess.terminate(child)
                    status = ChildStatus.wait(pid: child, blocking: true)
                }
            }
            exitCode = status?.shellCode ?? 0
        }

        // The warnings are about kernel symbols: moot when the kernel was not sampled.
        if !sampler.config.excludeKernel {
            for warning in profile.warnings { Terminal.writeError("flamed: warning: \(warning)\n") }
        }
        var context = profile.context(sampler: sampler, commandLine: CommandLine.arguments.joined(separator: " "))
        context.capturedAt = Self.utcTimestamp()
        let tree = profile.namedTree(threads: ProcFS.onlineCPUs().count)
        let bytes = outputOptions.resolvedFormat.render(tree, context: context, title: "flamed record",
                                                        colorScheme: outputOptions.colorscheme)
        if case .failure(let error) = OutputFile.write(bytes, to: outputPath) { fail(error.description) }
        var summary = "\(profile.samples) samples, \(profile.lost) lost, \(profile.throttled) throttled"
        if sampler.statistics.undecodable > 0 { summary += ", \(sampler.statistics.undecodable) undecodable records" }
        let destination = outputPath == "-" ? "standard output" : outputPath
        Terminal.writeError("flamed: wrote \(destination) (\(summary); \(tree.nodeCount) nodes)\n")
        if let container, profile.samples == 0 {
            Terminal.writeError("flamed: warning: no samples from container \(container) (\(profile.filtered) samples of other processes left out)\n")
        }
        if profile.lost > 0 {
            Terminal.writeError("flamed: warning: the kernel dropped \(profile.lost) records; try a larger -m or a lower -F\n")
        }
        if exitCode != 0 { throw ExitCode(exitCode) }
    }

    /// Whether `text` can be (a prefix of) a container id: hex digits.
    static func isContainerID(_ text: String) -> Bool {
        !text.isEmpty && text.count <= 64 && text.allSatisfy(\.isHexDigit)
    }

    /// Now, as an ISO 8601 UTC timestamp.
    static func utcTimestamp() -> String { CurrentProcess.utcNow(pattern: "%Y-%m-%dT%H:%M:%SZ") }
}
