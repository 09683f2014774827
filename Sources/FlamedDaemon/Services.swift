import FlamedLive
import FlamedSystem
import FoundationEssentials
import Logging
import ServiceLifecycle
import UnixSignals

/// Commands sent to the sampling thread through its `Waker`.
enum SamplingCommand {
    static let stop: UInt8 = 1
    static let restart: UInt8 = 2
}

/// The sampling options a config asks for (system-wide, on every CPU).
public func samplingOptions(_ config: DaemonConfig) -> SamplingOptions {
    var options = SamplingOptions(target: .systemWide)
    options.eventName = config.sampling.event
    options.frequency = config.sampling.frequency
    options.callchains = config.sampling.callchain
    options.userOnly = !config.sampling.kernel
    return options
}

/// Runs the sampler on its own thread (its epoll loop blocks) and hands what it reads to the
/// aggregation service's queue: the sampling thread never symbolizes, names or takes the
/// state's lock for a record. Has READY=1 sent once sampling runs and the processes running
/// before it are known, sends WATCHDOG=1 from the loop when
/// systemd asks for it and the aggregation thread is making progress too, and STOPPING=1 on
/// shutdown. A config reload with new sampling settings reopens the events.
public final class SamplingService: Service, @unchecked Sendable {
    private let state: DaemonState
    private let queue: RecordQueue
    private let logger: Logger
    private let waker: Waker
    private var initial: Sampler?

    /// `sampler` was opened (and checked) before the service starts; what it reads goes to
    /// `aggregation`.
    public init(sampler: Sampler, state: DaemonState, aggregation: AggregationService, logger: Logger) throws {
        guard let waker = Waker() else { throw SamplingError("cannot create a wake-up pipe") }
        self.waker = waker
        self.initial = sampler
        self.state = state
        self.queue = aggregation.queue
        self.logger = logger
    }

    /// Reopens the events with the current config's sampling settings.
    public func restart() { waker.wake(SamplingCommand.restart) }

    public func run() async throws {
        let waker = self.waker
        try await withTaskCancellationHandler {
            try await withGracefulShutdownHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
                    let started = Threads.detach { [self] in
                        do {
                            try loop()
                            continuation.resume()
                        } catch {
                            continuation.resume(throwing: error)
                        }
                    }
                    if case .failure(let code) = started {
                        continuation.resume(throwing: SamplingError("cannot start the sampling thread: \(FileReader.describe(code))"))
                    }
                }
            } onGracefulShutdown: {
                SystemdNotify.send("STOPPING=1")
                waker.wake(SamplingCommand.stop)
            }
        } onCancel: {
            waker.wake(SamplingCommand.stop)
        }
    }

    private func loop() throws {
        var first = true
        var previous = samplingOptions(state.currentConfig)
        let watchdog = SystemdNotify.watchdogInterval
        var lastPing: UInt64 = 0
        while true {
            let sampler: Sampler
            if let initial {
                sampler = initial
                self.initial = nil
            } else {
                let wanted = samplingOptions(state.currentConfig)
                do {
                    sampler = try Sampler(options: wanted, logger: logger)
                    previous = wanted
                } catch {
                    logger.error("new sampling settings refused, keeping the old ones: \(error)")
                    sampler = try Sampler(options: previous, logger: logger)
                }
            }
            for notice in sampler.notices { logger.notice("\(notice)") }
            // Mapped files are opened as soon as they are mapped (short-lived processes).
            sampler.onSideband = state.sidebandHandler
            try sampler.start()
            state.noteSampler(event: sampler.eventName, frequency: sampler.config.periodOrFrequency, cpus: sampler.cpus.count)
            if first {
                // READY=1 follows once the aggregation thread has seeded the processes.
                queue.pushSeed()
                logger.info("sampling", metadata: ["event": "\(sampler.eventName)", "frequency": "\(sampler.config.periodOrFrequency)",
                                                   "cpus": "\(sampler.cpus.count)"])
                first = false
            } else {
                logger.info("sampling restarted with new settings", metadata: ["event": "\(sampler.eventName)",
                                                                              "frequency": "\(sampler.config.periodOrFrequency)"])
            }
            var restart = false
            _ = sampler.run(until: nil, wakeFD: waker.readFD, onWake: {
                let commands = waker.take()
                if commands.contains(SamplingCommand.stop) { return .signal(SignalNumber.terminate) }
                if commands.contains(SamplingCommand.restart) {
                    restart = true
                    return .signal(SignalNumber.hangup)
                }
                return nil
            }, afterPass: {
                let now = MonotonicClock.now
                if let watchdog, now &- lastPing >= watchdog / 2, queue.isConsumerAlive(now: now, within: watchdog / 2) {
                    SystemdNotify.send("WATCHDOG=1")
                    lastPing = now
                }
            }, { records in queue.push(records) })
            if !restart { return }
        }
    }
}

/// Applies what the sampling thread read, on a thread of its own: follows processes,
/// symbolizes and names frames, adds stacks to the rolling window, and keeps memory bounded
/// (`DaemonState.maintain`). Work here can take as long as a process's files make it (within
/// the symbolizer's and demanglers' bounds) without costing a sample.
public final class AggregationService: Service, @unchecked Sendable {
    let queue: RecordQueue
    private let state: DaemonState

    public init(state: DaemonState) throws {
        self.queue = try RecordQueue()
        self.state = state
    }

    public func run() async throws {
        let queue = self.queue
        try await withTaskCancellationHandler {
            try await withGracefulShutdownHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
                    let started = Threads.detach { [self] in
                        loop()
                        continuation.resume()
                    }
                    if case .failure(let code) = started {
                        continuation.resume(throwing: SamplingError("cannot start the aggregation thread: \(FileReader.describe(code))"))
                    }
                }
            } onGracefulShutdown: {
                queue.close()
            }
        } onCancel: {
            queue.close()
        }
    }

    private func loop() {
        while let items = queue.take(timeoutMilliseconds: 1000) {
            for item in items {
                switch item {
                case .seed:
                    state.seedFromProc(until: { queue.isClosed })
                    SystemdNotify.send("READY=1")
                case .records(let records): state.apply(records)
                }
            }
            let now = MonotonicClock.now
            state.maintain(now: now)
            queue.beat(now: now)
        }
    }
}

/// SIGUSR1 writes a snapshot; SIGHUP reloads the config (a bad one is logged and the old
/// one kept; sampling restarts only when its settings changed).
public struct SignalService: Service {
    let state: DaemonState
    let writer: SnapshotWriter
    let sampling: SamplingService
    let reload: @Sendable () -> Result<DaemonConfig, ConfigError>
    let logger: Logger

    public init(state: DaemonState, writer: SnapshotWriter, sampling: SamplingService, logger: Logger,
                reload: @escaping @Sendable () -> Result<DaemonConfig, ConfigError>) {
        self.state = state
        self.writer = writer
        self.sampling = sampling
        self.reload = reload
        self.logger = logger
    }

    public func run() async throws {
        for await signal in await UnixSignalsSequence(trapping: .sigusr1, .sighup).cancelOnGracefulShutdown() {
            if signal == .sigusr1 {
                writer.request(reason: "SIGUSR1")
            } else if signal == .sighup {
                switch reload() {
                case .failure(let error):
                    logger.error("config reload failed, keeping the old config: \(error)")
                case .success(let config):
                    let old = state.currentConfig
                    state.update(config: config)
                    if config.control != old.control {
                        logger.warning("[control] changes take effect when flamed restarts")
                    }
                    if config.sampling != old.sampling {
                        sampling.restart()
                    }
                    logger.info("config reloaded", metadata: ["sampling restarted": "\(config.sampling != old.sampling)"])
                }
            }
        }
    }
}

/// Writes a snapshot every `snapshot.interval` (re-read after each reload; "off" pauses it).
public struct SnapshotTimerService: Service {
    let state: DaemonState
    let writer: SnapshotWriter

    public init(state: DaemonState, writer: SnapshotWriter) {
        self.state = state
        self.writer = writer
    }

    public func run() async throws {
        var waited: Duration = .zero
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(1)) }
            } catch {
                return
            }
            waited += .seconds(1)
            guard let interval = state.currentConfig.snapshot.interval else {
                waited = .zero
                continue
            }
            if waited >= interval {
                waited = .zero
                writer.request(reason: "timer")
            }
        }
    }
}
