import FlamedSystem
import Logging
import PerfData
import SystemPackage

/// One open perf event (kept in a class so events can live in arrays).
final class OpenEvent {
    let event: PerfEvent
    init(_ event: consuming PerfEvent) { self.event = event }
}

/// The ring of one CPU, shared by every event on that CPU through SET_OUTPUT.
final class CPURing {
    let cpu: Int32
    let fd: Int32
    let ring: RingBuffer
    var hungUp = false
    init(cpu: Int32, fd: Int32, ring: consuming RingBuffer) {
        self.cpu = cpu
        self.fd = fd
        self.ring = ring
    }
}

/// Why a sampling run ended.
public enum StopReason: Equatable, Sendable {
    case durationElapsed
    case signal(Int32)
    case commandExited(ChildStatus)
    /// Every sampled process has exited.
    case targetsExited
}

/// What the kernel delivered and dropped.
public struct SamplingStatistics: Sendable, Equatable {
    public var records: UInt64 = 0
    /// Records too short or malformed to decode.
    public var undecodable: UInt64 = 0
}

/// The live sampling engine: one perf event per CPU (and per thread for `-p`), one ring
/// per CPU, read from an epoll loop. Records from all rings are merged by time: each pass
/// notes the clock, drains every ring, and hands on the records older than the clock less
/// a small holding window, so a process's MMAP or COMM comes before samples that need it.
public final class Sampler: RecordDecoding {
    /// The one event layout every opened event shares.
    public let attrs: [EventAttr]
    public let layouts: [RecordLayout]
    /// The event actually sampled (after any fallback), as perf names it.
    public let eventName: String
    /// Fallbacks taken while opening, to be announced (for example cycles → cpu-clock).
    public let notices: [String]
    /// The started command's pid (`-- CMD`).
    public let commandPID: Int32?
    public let options: SamplingOptions
    public let config: PerfEventConfig
    public let cpus: [Int32]
    public let ringPages: Int
    public private(set) var statistics = SamplingStatistics()

    private let events: [OpenEvent]
    private let rings: [CPURing]
    private let loop: EventLoop
    private let logger: Logger
    private var pending: [(time: UInt64, sequence: UInt64, record: ByteView)] = []
    private var sequence: UInt64 = 0
    private var enabled = false
    /// The command, forked and waiting for `start()`.
    private var held: HeldChild?
    /// Called with each user-space MMAP2 record and each exec's COMM record as soon as it is
    /// seen, before the records are put in time order: live modes open (and hold) a mapped
    /// file at once, and look again at a process that called exec, while the process and the
    /// file still exist. Set before `start()`: a side-band thread (`MappingSideband`) then
    /// reports them as they happen; without one, when the rings are read. May be called from
    /// any thread, and more than once for a record.
    public var onSideband: (@Sendable (PerfRecord) -> Void)?
    /// The tasks the events follow (-1: all), for the mapping side band.
    private let tasks: [Int32]
    private var sideband: MappingSideband?

    public func attrIndex(forID id: UInt64) -> Int? { 0 }
    public func noteUnknownID() {}

    /// Opens the events and rings for `options`. A command target is started here, held
    /// until its events exist, then released to exec with them enabled on exec.
    public init(options: SamplingOptions, logger: Logger) throws(SamplingError) {
        self.options = options
        self.logger = logger
        // `-p` opens one event per thread and CPU.
        CurrentProcess.raiseOpenFileLimit()
        let cpus = ProcFS.onlineCPUs()
        guard !cpus.isEmpty else { throw SamplingError("no online CPUs found in /sys/devices/system/cpu/online") }
        self.cpus = cpus
        let pages = try Self.ringPages(options)
        ringPages = pages

        var tasks: [Int32]
        var held: HeldChild?
        switch options.target {
        case .systemWide:
            tasks = [-1]
            if let companion = options.companionCommand {
                switch HeldChild.spawn(companion) {
                case .failure(let error): throw SamplingError(error.description)
                case .success(let child): held = consume child
                }
            }
        case .processes(let pids):
            tasks = []
            for pid in pids {
                let threads = ProcFS.threads(of: pid)
                guard !threads.isEmpty else { throw SamplingError("process \(pid) does not exist (no /proc/\(pid)/task)") }
                tasks += threads
            }
        case .command(let arguments):
            switch HeldChild.spawn(arguments) {
            case .failure(let error): throw SamplingError(error.description)
            case .success(let child):
                tasks = [child.pid]
                held = consume child
            }
        }

        var notices: [String] = []
        var eventName = options.eventName
        var userOnly = options.userOnly
        var opened: (events: [OpenEvent], rings: [CPURing], config: PerfEventConfig)?
        while opened == nil {
            guard let (type, value) = EventCatalog.lookup(eventName) else {
                if let held { held.abandon() }
                throw SamplingError("unknown event '\(eventName)'; flamed samples \(EventCatalog.names.joined(separator: ", "))")
            }
            var config = Self.makeConfig(options, type: type, config: value, userOnly: userOnly)
            config.wakeupWatermark = UInt32(pages * systemPageSize / 4)
            switch Self.open(config, tasks: tasks, cpus: cpus, pages: pages) {
            case .success(let result):
                opened = (result.events, result.rings, config)
            case .failure(let failure):
                let code = failure.errno
                if failure.stage == .open, EventCatalog.isHardware(eventName),
                   ([Errno.noSuchFileOrDirectory, .notSupported, .operationNotSupportedByDevice, .invalidArgument] as [Errno]).contains(code) {
                    notices.append("\(eventName) is not available here (\(FileReader.describe(code)): no hardware PMU); sampling cpu-clock instead")
                    eventName = "cpu-clock"
                    continue
                }
                let systemWide = options.target == .systemWide
                if failure.stage == .open, code == .permissionDenied || code == .notPermitted, !systemWide, !userOnly, !options.kernelOnly,
                   !PerfPrivileges.current().canProfileKernel {
                    let paranoid = PerfPrivileges.current().paranoid.map(String.init) ?? "?"
                    notices.append("kernel.perf_event_paranoid is \(paranoid) and flamed lacks CAP_PERFMON: sampling user space only (kernel frames need CAP_PERFMON or paranoid <= 1)")
                    userOnly = true
                    continue
                }
                if let held { held.abandon() }
                let privileges = PerfPrivileges.current()
                switch failure.stage {
                case .open where code == .permissionDenied || code == .notPermitted:
                    throw SamplingError(PerfPermission.explainOpenFailure(code, systemWide: systemWide,
                                                                          includesKernel: !userOnly, privileges: privileges))
                case .map where code == .notPermitted || code == .noMemory:
                    throw SamplingError(PerfPermission.explainMmapFailure(code, pages: pages, pageSize: systemPageSize,
                                                                          cpus: cpus.count, privileges: privileges))
                default:
                    throw SamplingError(failure.description)
                }
            }
        }
        let (events, rings, config) = opened!
        self.events = events
        self.rings = rings
        self.config = config
        self.eventName = eventName
        self.notices = notices
        attrs = [EventAttr(type: config.type, config: config.config, samplePeriodOrFrequency: config.periodOrFrequency,
                           sampleType: config.sampleType, flags: config.attrFlags, name: eventName)]
        layouts = attrs.map(RecordLayout.init)

        switch EventLoop.make() {
        case .failure(let code):
            if let held { held.abandon() }
            throw SamplingError("epoll_create1: \(FileReader.describe(code))")
        case .success(let made): loop = made
        }
        for (index, ring) in rings.enumerated() {
            if case .failure(let code) = loop.watch(ring.fd, token: UInt64(index)) {
                if let held { held.abandon() }
                throw SamplingError("epoll_ctl on the CPU \(ring.cpu) ring: \(FileReader.describe(code))")
            }
        }
        commandPID = held?.pid
        self.held = held
        self.tasks = tasks
    }

    deinit { held?.abandon() }

    /// Enables every event, then lets a held command exec (a command's own events enable
    /// themselves on exec).
    public func start() throws(SamplingError) {
        guard !enabled else { return }
        enabled = true
        if let onSideband {
            var waitsForExec = false
            if case .command = options.target { waitsForExec = true }
            sideband = MappingSideband.start(like: config, tasks: tasks, cpus: cpus, attrs: attrs, enable: !waitsForExec,
                                             logger: logger, handler: onSideband)
        }
        if case .command = options.target {} else {
            for open in events {
                if case .failure(let code) = open.event.enable() {
                    throw SamplingError("PERF_EVENT_IOC_ENABLE on CPU \(open.event.cpu): \(FileReader.describe(code))")
                }
            }
        }
        guard let child = held.take() else { return }
        if let code = child.release() {
            _ = ChildStatus.wait(pid: child.pid, blocking: true)
            let name = options.companionCommand?.first ?? { if case .command(let arguments) = options.target { return arguments[0] }; return "command" }()
            throw SamplingError("\(name): cannot execute: \(FileReader.describe(code))")
        }
    }

    /// Reads records until the deadline (CLOCK_MONOTONIC ns), a signal from `signals`
    /// (SIGINT, SIGTERM; SIGCHLD checks the command), the command's exit, or the exit of
    /// every sampled process. Records reach `consume` in time order, a pass at a time;
    /// after a stop every remaining record is delivered.
    public func run(until deadline: UInt64?, signals: borrowing SignalPipe, pollMilliseconds: Int32 = 200,
                    _ consume: ([PerfRecord]) -> Void) -> StopReason {
        let pid = commandPID
        return run(until: deadline, wakeFD: signals.readFD, pollMilliseconds: pollMilliseconds, onWake: {
            var reason: StopReason?
            for signal in signals.take() {
                if signal == SignalNumber.child, let pid {
                    if let status = ChildStatus.wait(pid: pid, blocking: false) { reason = .commandExited(status) }
                } else if signal == SignalNumber.interrupt || signal == SignalNumber.terminate {
                    reason = .signal(signal)
                }
            }
            return reason
        }, afterPass: {}, consume)
    }

    /// The loop itself: `wakeFD` becoming readable calls `onWake`, which returns a reason to
    /// stop or nil; `afterPass` runs after each pass's records were consumed.
    public func run(until deadline: UInt64?, wakeFD: Int32, pollMilliseconds: Int32 = 200,
                    onWake: () -> StopReason?, afterPass: () -> Void, _ consume: ([PerfRecord]) -> Void) -> StopReason {
        if case .failure(let code) = loop.watch(wakeFD, token: .max) {
            logger.warning("cannot watch the wake-up descriptor: \(FileReader.describe(code))")
        }
        defer { loop.unwatch(wakeFD) }
        var reason: StopReason?
        while reason == nil {
            let now = MonotonicClock.now
            var timeout = pollMilliseconds
            if let deadline {
                if now >= deadline { reason = .durationElapsed; break }
                timeout = Int32(min(UInt64(pollMilliseconds), (deadline - now) / 1_000_000 + 1))
            }
            switch loop.wait(timeoutMilliseconds: timeout) {
            case .failure(let code):
                logger.error("epoll_wait: \(FileReader.describe(code))")
                reason = .signal(SignalNumber.terminate)
            case .success(let ready):
                for (token, hungUp) in ready where token != .max && hungUp {
                    let ring = rings[Int(token)]
                    ring.hungUp = true
                    loop.unwatch(ring.fd)
                }
                if ready.contains(where: { $0.token == .max }) { reason = onWake() }
            }
            let passStart = MonotonicClock.now
            drainRings()
            deliver(upTo: passStart &- options.holdingWindowNanoseconds, consume)
            afterPass()
            if reason == nil, case .processes = options.target, rings.allSatisfy(\.hungUp) { reason = .targetsExited }
        }
        stop()
        drainRings()
        deliver(upTo: .max, consume)
        afterPass()
        return reason!
    }

    /// Disables every event.
    public func stop() {
        for open in events { _ = open.event.disable() }
        sideband?.stop()
        sideband = nil
    }

    /// Reads the rings now, during a long pass: the records wait for the next delivery, and
    /// `onSideband` sees new mappings while their processes and files still exist. At most
    /// every `readAheadInterval`; cheap to call often.
    public func readAhead() {
        let now = MonotonicClock.now
        guard now &- lastReadAhead >= Self.readAheadInterval else { return }
        lastReadAhead = now
        drainRings()
    }

    private var lastReadAhead: UInt64 = 0
    static let readAheadInterval: UInt64 = 5_000_000

    private func drainRings() {
        for ring in rings {
            guard let bytes = ring.ring.drain() else { continue }
            split(bytes)
        }
    }

    /// Queues each whole record of a drained chunk with its time.
    private func split(_ bytes: ByteView) {
        var offset = 0
        while offset + 8 <= bytes.count {
            let type = bytes.u32(offset)!
            let size = Int(bytes.u16(offset + 6)!)
            guard size >= 8, let record = bytes.slice(offset, size) else {
                statistics.undecodable += 1
                return
            }
            statistics.records += 1
            pending.append((recordTime(record, type: type), sequence, record))
            sequence &+= 1
            offset += size
            // Without a running side band, the main rings are the first to see new mappings.
            if sideband == nil, let onSideband, let decoded = MappingSideband.relevant(record, type: type, decoder: self) {
                onSideband(decoded)
            }
        }
    }

    private func deliver(upTo limit: UInt64, _ consume: ([PerfRecord]) -> Void) {
        guard !pending.isEmpty else { return }
        var batch: [PerfRecord] = []
        pending.sort { $0.time != $1.time ? $0.time < $1.time : $0.sequence < $1.sequence }
        var delivered = 0
        for entry in pending {
            if entry.time > limit { break }
            delivered += 1
            let record = entry.record
            let type = record.u32(0)!, misc = record.u16(4)!
            do {
                if let decoded = try decode(record, type: type, misc: misc, fileOffset: 0) { batch.append(decoded) }
            } catch {
                statistics.undecodable += 1
            }
        }
        pending.removeFirst(delivered)
        if !batch.isEmpty { consume(batch) }
    }

    // MARK: Opening

    static func makeConfig(_ options: SamplingOptions, type: UInt32, config value: UInt64, userOnly: Bool) -> PerfEventConfig {
        var sampleType = SampleFormat.ip | SampleFormat.tid | SampleFormat.time | SampleFormat.cpu | SampleFormat.period
        if options.callchains { sampleType |= SampleFormat.callchain }
        var config = PerfEventConfig(type: type, config: value, periodOrFrequency: options.period ?? options.frequency,
                                     usesFrequency: options.period == nil, sampleType: sampleType)
        config.sampleMaxStack = options.maxStack
        config.disabled = true
        config.tracksTasks = true
        config.sampleIDAll = true
        switch options.target {
        case .systemWide: break
        case .processes: config.inherit = true
        case .command:
            config.inherit = true
            config.enableOnExec = true
        }
        if userOnly {
            config.excludeKernel = true
            config.excludeCallchainKernel = true
        }
        if options.kernelOnly {
            config.excludeUser = true
            config.excludeCallchainUser = true
        }
        return config
    }

    /// Data pages per ring: `-m`, else what `perf_event_mlock_kb` allows per CPU (the
    /// kernel's limit is that many KiB times the online CPUs), at most 512 KiB.
    static func ringPages(_ options: SamplingOptions) throws(SamplingError) -> Int {
        if let pages = options.ringPages {
            guard pages > 0, pages & (pages - 1) == 0 else { throw SamplingError("-m \(pages): ring pages must be a power of two") }
            return pages
        }
        let limitKiB = ProcFS.integer("kernel/perf_event_mlock_kb") ?? 516
        let allowed = max(1, limitKiB * 1024 / systemPageSize - 1)
        let cap = max(1, (512 * 1024) / systemPageSize)
        var pages = 1
        while pages * 2 <= min(allowed, cap) { pages *= 2 }
        return pages
    }

    struct OpenFailure: Error {
        enum Stage { case open, map, redirect }
        let stage: Stage
        let errno: Errno
        let description: String
    }

    /// Opens one event per task and CPU; the first event of each CPU owns that CPU's ring
    /// and the others send their records to it. Threads that exit while this runs are skipped.
    static func open(_ config: PerfEventConfig, tasks: [Int32], cpus: [Int32], pages: Int)
        -> Result<(events: [OpenEvent], rings: [CPURing]), OpenFailure> {
        var events: [OpenEvent] = []
        var rings: [CPURing] = []
        for cpu in cpus {
            var owner: OpenEvent?
            for task in tasks {
                let event: PerfEvent
                switch PerfEvent.open(config, pid: task, cpu: cpu) {
                case .success(let opened): event = opened
                case .failure(let code):
                    if code == .noSuchProcess && task > 0 { continue }
                    let target = task < 0 ? "every process" : "pid \(task)"
                    return .failure(OpenFailure(stage: .open, errno: code,
                        description: "perf_event_open (CPU \(cpu), \(target)): \(FileReader.describe(code))"))
                }
                let open = OpenEvent(event)
                if let owner {
                    if case .failure(let code) = open.event.setOutput(to: owner.event) {
                        return .failure(OpenFailure(stage: .redirect, errno: code,
                            description: "PERF_EVENT_IOC_SET_OUTPUT on CPU \(cpu): \(FileReader.describe(code))"))
                    }
                } else {
                    switch RingBuffer.map(fd: open.event.fd, dataPages: pages) {
                    case .success(let ring): rings.append(CPURing(cpu: cpu, fd: open.event.fd, ring: ring))
                    case .failure(let code):
                        return .failure(OpenFailure(stage: .map, errno: code,
                            description: "mmap of the CPU \(cpu) ring (\(pages) pages): \(FileReader.describe(code))"))
                    }
                    owner = open
                }
                events.append(open)
            }
        }
        guard !events.isEmpty else {
            return .failure(OpenFailure(stage: .open, errno: .noSuchProcess, description: "every target thread exited before sampling started"))
        }
        return .success((events, rings))
    }
}
