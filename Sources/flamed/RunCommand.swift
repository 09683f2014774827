import ArgumentParser
import Demangling
import Dispatch
import FlamedDaemon
import FlamedLive
import FlamedSystem
import Logging
import ServiceLifecycle
import Symbolizer

/// `flamed run`: the always-on daemon.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the always-on profiling daemon (in the foreground; systemd Type=notify).",
        discussion: """
            Samples every CPU continuously into a rolling flame tree of the last window.duration \
            (5 min by default) and writes snapshots into snapshot.directory on a timer, on SIGUSR1 \
            and on request (flamed snapshot). SIGHUP reloads the config; SIGTERM or SIGINT stops it.

            The config defaults to /etc/flamed/flamed.toml when that file exists; flags override it.
            """
    )

    @Option(help: ArgumentHelp("The TOML config file (default: /etc/flamed/flamed.toml if it exists).", valueName: "file"))
    var config: String?

    @Option(help: ArgumentHelp("The control socket (overrides [control] socket).", valueName: "path"))
    var socket: String?

    @Option(name: .customLong("snapshot-dir"), help: ArgumentHelp("Where snapshots go (overrides [snapshot] directory).", valueName: "dir"))
    var snapshotDirectory: String?

    @Option(help: DemangleStyle.help)
    var demangle: DemangleStyle = .perf

    @Flag(name: .shortAndLong, help: "Log debug detail.")
    var verbose = false

    static let defaultConfigPath = "/etc/flamed/flamed.toml"
    /// Symbols the daemon keeps loaded at once; least recently used tables go first.
    static let symbolBudget = 600_000

    func validate() throws {
        if let socket, !socket.hasPrefix("/") { throw ValidationError("--socket needs an absolute path") }
        if let snapshotDirectory, snapshotDirectory.isEmpty { throw ValidationError("--snapshot-dir needs a directory") }
    }

    /// The config file, then the flags over it.
    func loadConfig() -> Result<DaemonConfig, ConfigError> {
        var loaded = DaemonConfig()
        let path = config ?? (FileReader.exists(Self.defaultConfigPath) ? Self.defaultConfigPath : nil)
        if let path {
            do { loaded = try DaemonConfig.load(path: path) } catch { return .failure(error) }
        }
        if let socket { loaded.control.socket = socket }
        if let snapshotDirectory {
            loaded.snapshot.directory = snapshotDirectory.hasPrefix("/")
                ? snapshotDirectory : (CurrentProcess.workingDirectory + "/" + snapshotDirectory)
        }
        return .success(loaded)
    }

    func run() throws {
        // A daemon runs for months: two malloc arenas instead of one per thread, and a
        // bounded symbol cache (about 17 bytes per symbol), keep its memory flat.
        HeapTuning.limitArenas(2)
        SymbolCache.shared.limit(symbols: Self.symbolBudget)
        var logger = Logger(label: "flamed") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = verbose ? .debug : .info
        let settings: DaemonConfig
        switch loadConfig() {
        case .failure(let error): fail(error.description)
        case .success(let loaded): settings = loaded
        }

        let sampler: Sampler
        do {
            sampler = try Sampler(options: samplingOptions(settings), logger: logger)
        } catch {
            logger.critical("sampling refused: \(error)")
            throw ExitCode(1)
        }
        let state = DaemonState(config: settings, demangle: demangle, logger: logger)
        for warning in state.warnings { logger.warning("\(warning)") }
        // From here on SIGHUP and SIGUSR1 wait for the signal service instead of ending the
        // daemon (a reload sent as soon as the socket exists). Children start with the
        // default mask: flamed run starts none.
        if case .failure(let code) = Threads.blockSignals([SignalNumber.hangup, SignalNumber.user1]) {
            logger.warning("could not block SIGHUP and SIGUSR1 until the signal service runs: \(FileReader.describe(code))")
        }
        let control: ControlService
        do {
            control = try ControlService(config: settings.control, state: state, logger: logger)
        } catch {
            logger.critical("\(error)")
            throw ExitCode(1)
        }
        if CurrentProcess.isRoot {
            // Events are open and the socket is bound: keep only what sampling on (reopening
            // events after a reload) and symbolizing need. Capabilities belong to threads, so
            // this runs on the main thread before any other thread exists; every thread
            // started later inherits the reduced set.
            let keep: Set<Capability> = [.perfmon, .syslog, .sysPtrace, .dacReadSearch]
            if case .failure(let code) = Capabilities.dropAll(except: keep) {
                logger.warning("could not drop capabilities: \(FileReader.describe(code))")
            } else {
                logger.info("dropped every capability but CAP_PERFMON, CAP_SYSLOG, CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH")
            }
        }
        let writer = SnapshotWriter(state: state, logger: logger)
        let aggregation = try AggregationService(state: state)
        let sampling = try SamplingService(sampler: sampler, state: state, aggregation: aggregation, logger: logger)
        let configLoader = self
        let signals = SignalService(state: state, writer: writer, sampling: sampling, logger: logger) {
            configLoader.loadConfig()
        }
        let group = ServiceGroup(configuration: .init(
            services: [aggregation, sampling, control, signals, SnapshotTimerService(state: state, writer: writer)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        // The services run on Swift's concurrency threads; the main thread waits for them.
        let finished = DispatchSemaphore(value: 0)
        let outcome = Outcome()
        Task {
            do { try await group.run() } catch { outcome.error = "\(error)" }
            finished.signal()
        }
        finished.wait()
        if let error = outcome.error {
            logger.critical("stopped: \(error)")
            throw ExitCode(1)
        }
        logger.info("stopped")
        // Leave at once: tearing down symbol tables and the tree only delays the exit.
        CurrentProcess.exitNow(0)
    }
}

/// How the service group ended, handed from its task to the waiting main thread.
private final class Outcome: @unchecked Sendable {
    var error: String?
}
