#if canImport(Glibc)
import Glibc
#endif
import CFlamedShim
import SystemPackage

/// What to count and sample, and which side-band records to ask for: the parts of
/// `perf_event_attr` flamed uses.
public struct PerfEventConfig: Sendable, Equatable {
    public var type: UInt32
    public var config: UInt64
    /// Sample period, or frequency in Hz when `usesFrequency`.
    public var periodOrFrequency: UInt64
    public var usesFrequency: Bool
    public var sampleType: UInt64
    /// Bytes in the ring that make it readable (0: every record wakes the reader).
    public var wakeupWatermark: UInt32 = 0
    public var sampleMaxStack: UInt16 = 0
    public var disabled = true
    public var inherit = false
    public var enableOnExec = false
    public var excludeKernel = false
    public var excludeUser = false
    public var excludeCallchainKernel = false
    public var excludeCallchainUser = false
    /// MMAP2, COMM (with exec), FORK/EXIT and KSYMBOL records.
    public var tracksTasks = false
    public var sampleIDAll = true
    /// Timestamps from this clock (CLOCK_MONOTONIC by default), comparable with `MonotonicClock.now`.
    public var clockID: Int32? = CLOCK_MONOTONIC

    public init(type: UInt32, config: UInt64, periodOrFrequency: UInt64, usesFrequency: Bool, sampleType: UInt64) {
        self.type = type
        self.config = config
        self.periodOrFrequency = periodOrFrequency
        self.usesFrequency = usesFrequency
        self.sampleType = sampleType
    }

    /// The `perf_event_attr.flags` word these settings give, as perf.data stores it.
    public var attrFlags: UInt64 {
        var flags: UInt64 = 0
        func set(_ bit: UInt64, _ on: Bool) { if on { flags |= 1 << bit } }
        set(0, disabled); set(1, inherit); set(5, excludeKernel); set(4, excludeUser)
        set(8, tracksTasks); set(9, tracksTasks); set(10, usesFrequency); set(12, enableOnExec)
        set(13, tracksTasks); set(14, wakeupWatermark > 0); set(18, sampleIDAll); set(21, excludeCallchainKernel)
        set(22, excludeCallchainUser); set(23, tracksTasks); set(24, tracksTasks); set(25, clockID != nil)
        set(29, tracksTasks)
        return flags
    }

    var shimConfig: flamed_shim_event_config {
        var c = flamed_shim_event_config()
        c.type = type
        c.config = config
        c.period_or_frequency = periodOrFrequency
        c.sample_type = sampleType
        c.wakeup_watermark = wakeupWatermark
        c.sample_max_stack = sampleMaxStack
        c.clockid = clockID ?? 0
        c.use_frequency = usesFrequency ? 1 : 0
        c.disabled = disabled ? 1 : 0
        c.inherit = inherit ? 1 : 0
        c.enable_on_exec = enableOnExec ? 1 : 0
        c.exclude_kernel = excludeKernel ? 1 : 0
        c.exclude_user = excludeUser ? 1 : 0
        c.exclude_callchain_kernel = excludeCallchainKernel ? 1 : 0
        c.exclude_callchain_user = excludeCallchainUser ? 1 : 0
        c.track_tasks = tracksTasks ? 1 : 0
        c.sample_id_all = sampleIDAll ? 1 : 0
        c.use_clockid = clockID != nil ? 1 : 0
        return c
    }
}

/// An open perf event. It owns its file descriptor and closes it when it goes away.
public struct PerfEvent: ~Copyable {
    public let fd: Int32
    public let cpu: Int32

    /// Opens an event on `pid` (-1: every process) and `cpu` (-1: any CPU), retrying EINTR.
    public static func open(_ config: PerfEventConfig, pid: Int32, cpu: Int32) -> Result<PerfEvent, Errno> {
        var shim = config.shimConfig
        switch retryingEINTR({ flamed_shim_perf_event_open(&shim, pid, cpu) }, failed: { $0 < 0 }) {
        case .success(let fd): return .success(PerfEvent(fd: fd, cpu: cpu))
        case .failure(let code): return .failure(code)
        }
    }

    private init(fd: Int32, cpu: Int32) {
        self.fd = fd
        self.cpu = cpu
    }

    deinit { close(fd) }

    public func enable() -> Result<Void, Errno> { Self.check(flamed_shim_perf_enable(fd)) }
    public func disable() -> Result<Void, Errno> { Self.check(flamed_shim_perf_disable(fd)) }

    /// Sends this event's records to `target`'s ring (both must be on the same CPU).
    public func setOutput(to target: borrowing PerfEvent) -> Result<Void, Errno> {
        Self.check(flamed_shim_perf_set_output(fd, target.fd))
    }

    private static func check(_ status: Int32) -> Result<Void, Errno> {
        status == 0 ? .success(()) : .failure(Errno(rawValue: Glibc.errno))
    }
}

/// The system's page size, from sysconf.
public let systemPageSize: Int = Int(sysconf(Int32(_SC_PAGESIZE)))

/// CLOCK_MONOTONIC in nanoseconds, the clock flamed's events stamp records with.
public enum MonotonicClock {
    public static var now: UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) &* 1_000_000_000 &+ UInt64(spec.tv_nsec)
    }
}
