/// Record types from `include/uapi/linux/perf_event.h` and perf's own user records.
public enum RecordType {
    public static let mmap: UInt32 = 1
    public static let lost: UInt32 = 2
    public static let comm: UInt32 = 3
    public static let exit: UInt32 = 4
    public static let throttle: UInt32 = 5
    public static let unthrottle: UInt32 = 6
    public static let fork: UInt32 = 7
    public static let read: UInt32 = 8
    public static let sample: UInt32 = 9
    public static let mmap2: UInt32 = 10
    public static let lostSamples: UInt32 = 13
    public static let ksymbol: UInt32 = 17
    public static let auxtrace: UInt32 = 71
    public static let compressed2: UInt32 = 83
    public static let headerAttr: UInt32 = 64
    public static let headerEventType: UInt32 = 65
    public static let headerTracingData: UInt32 = 66
    public static let headerBuildID: UInt32 = 67
    public static let finishedRound: UInt32 = 68
    public static let idIndex: UInt32 = 69
    public static let threadMap: UInt32 = 73
    public static let cpuMap: UInt32 = 74
    public static let eventUpdate: UInt32 = 78
    public static let headerFeature: UInt32 = 80
    public static let compressed: UInt32 = 81
    public static let finishedInit: UInt32 = 82

    /// A short name for diagnostics.
    public static func name(_ type: UInt32) -> String {
        switch type {
        case mmap: return "MMAP"
        case lost: return "LOST"
        case comm: return "COMM"
        case exit: return "EXIT"
        case throttle: return "THROTTLE"
        case unthrottle: return "UNTHROTTLE"
        case fork: return "FORK"
        case read: return "READ"
        case sample: return "SAMPLE"
        case mmap2: return "MMAP2"
        case lostSamples: return "LOST_SAMPLES"
        case ksymbol: return "KSYMBOL"
        case headerAttr: return "HEADER_ATTR"
        case headerBuildID: return "HEADER_BUILD_ID"
        case finishedRound: return "FINISHED_ROUND"
        case idIndex: return "ID_INDEX"
        case threadMap: return "THREAD_MAP"
        case cpuMap: return "CPU_MAP"
        case eventUpdate: return "EVENT_UPDATE"
        case headerFeature: return "HEADER_FEATURE"
        case compressed: return "COMPRESSED"
        case compressed2: return "COMPRESSED2"
        case auxtrace: return "AUXTRACE"
        default: return "type \(type)"
        }
    }
}

/// `perf_event_attr.sample_type` bits.
public enum SampleFormat {
    public static let ip: UInt64 = 1 << 0
    public static let tid: UInt64 = 1 << 1
    public static let time: UInt64 = 1 << 2
    public static let addr: UInt64 = 1 << 3
    public static let read: UInt64 = 1 << 4
    public static let callchain: UInt64 = 1 << 5
    public static let id: UInt64 = 1 << 6
    public static let cpu: UInt64 = 1 << 7
    public static let period: UInt64 = 1 << 8
    public static let streamID: UInt64 = 1 << 9
    public static let raw: UInt64 = 1 << 10
    public static let branchStack: UInt64 = 1 << 11
    public static let identifier: UInt64 = 1 << 16
}

/// `perf_event_attr.read_format` bits.
public enum ReadFormat {
    public static let totalTimeEnabled: UInt64 = 1 << 0
    public static let totalTimeRunning: UInt64 = 1 << 1
    public static let id: UInt64 = 1 << 2
    public static let group: UInt64 = 1 << 3
    public static let lost: UInt64 = 1 << 4
}

/// `perf_event_header.misc` values.
public enum RecordMisc {
    public static let cpumodeMask: UInt16 = 7
    public static let kernel: UInt16 = 1
    public static let user: UInt16 = 2
    public static let hypervisor: UInt16 = 3
    public static let guestKernel: UInt16 = 4
    public static let guestUser: UInt16 = 5
    public static let commExec: UInt16 = 1 << 13
    public static let mmapBuildID: UInt16 = 1 << 14
    public static let buildIDSize: UInt16 = 1 << 15
}

/// Callchain context markers (`PERF_CONTEXT_*`): entries at or above `max` are not frames.
public enum CallchainContext {
    public static let hypervisor: UInt64 = UInt64(bitPattern: -32)
    public static let kernel: UInt64 = UInt64(bitPattern: -128)
    public static let user: UInt64 = UInt64(bitPattern: -512)
    public static let guest: UInt64 = UInt64(bitPattern: -2048)
    public static let guestKernel: UInt64 = UInt64(bitPattern: -2176)
    public static let guestUser: UInt64 = UInt64(bitPattern: -2560)
    public static let max: UInt64 = UInt64(bitPattern: -4095)
}

/// Feature section numbers (`HEADER_*` in perf's header.h).
public enum FeatureID {
    public static let buildID = 2
    public static let hostname = 3
    public static let osRelease = 4
    public static let version = 5
    public static let arch = 6
    public static let nrCPUs = 7
    public static let cpuDesc = 8
    public static let cpuID = 9
    public static let totalMemory = 10
    public static let cmdline = 11
    public static let eventDesc = 12
    public static let sampleTime = 21
    public static let compressed = 27
    public static let lastFeature = 256
}
