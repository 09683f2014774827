import FlamedSystem
import Logging
import PerfData
import Synchronization

/// Reports new file mappings (and execs) as they happen, so that the mapped file can be
/// opened, and the process looked at, while the process and the file still exist.
///
/// The main rings are read in passes, and a pass's records are folded into the tree before
/// the next is read; loading a large binary's symbols can hold a pass up long enough for a
/// short-lived process to exit and its binary to be deleted. So a dummy software event per
/// CPU (and per task for `-p` and commands) asks for the side-band records only, into small
/// rings of its own that wake their reader on every record, and a thread of its own hands
/// each user-space MMAP2 and each exec's COMM to `handler`. The main events still carry every MMAP2, in order,
/// for the address spaces; this only opens files early.
final class MappingSideband: @unchecked Sendable {
    private let events: [OpenEvent]
    private let rings: [CPURing]
    private let loop: EventLoop
    private let decoder: Decoder
    private let handler: @Sendable (PerfRecord) -> Void
    private let stopped = Atomic<Bool>(false)

    /// Decodes MMAP2 records with the sampled event's layout (the side band uses the same
    /// sample type, so its records end with the same trailer).
    final class Decoder: RecordDecoding, @unchecked Sendable {
        let attrs: [EventAttr]
        let layouts: [RecordLayout]
        init(attrs: [EventAttr]) {
            self.attrs = attrs
            layouts = attrs.map(RecordLayout.init)
        }
        func attrIndex(forID id: UInt64) -> Int? { 0 }
        func noteUnknownID() {}
    }

    /// Ring pages per CPU: side-band records are few and read at once.
    static let pages = 8

    private init(events: [OpenEvent], rings: [CPURing], loop: consuming EventLoop, attrs: [EventAttr],
                 handler: @escaping @Sendable (PerfRecord) -> Void) {
        self.events = events
        self.rings = rings
        self.loop = loop
        decoder = Decoder(attrs: attrs)
        self.handler = handler
    }

    /// Opens the side band like `main` (same tasks, CPUs, inheritance and enable-on-exec),
    /// enables it unless it waits for an exec, and starts its thread. Nil, logged, when it
    /// cannot be had: files are then opened when the main rings are read.
    static func start(like main: PerfEventConfig, tasks: [Int32], cpus: [Int32], attrs: [EventAttr], enable: Bool,
                      logger: Logger, handler: @escaping @Sendable (PerfRecord) -> Void) -> MappingSideband? {
        var config = PerfEventConfig(type: 1 /* PERF_TYPE_SOFTWARE */, config: 9 /* PERF_COUNT_SW_DUMMY */,
                                     periodOrFrequency: 1, usesFrequency: false, sampleType: main.sampleType)
        config.tracksTasks = true
        config.sampleIDAll = true
        config.inherit = main.inherit
        config.enableOnExec = main.enableOnExec
        config.disabled = main.disabled
        config.excludeKernel = main.excludeKernel
        config.excludeUser = main.excludeUser
        config.clockID = main.clockID
        // One byte: every record wakes the reader.
        config.wakeupWatermark = 1
        let opened: (events: [OpenEvent], rings: [CPURing])
        switch Sampler.open(config, tasks: tasks, cpus: cpus, pages: pages) {
        case .failure(let failure):
            logger.debug("no mapping side band", metadata: ["error": "\(failure.description)"])
            return nil
        case .success(let result): opened = result
        }
        let loop: EventLoop
        switch EventLoop.make() {
        case .failure(let code):
            logger.debug("no mapping side band", metadata: ["error": "epoll_create1: \(FileReader.describe(code))"])
            return nil
        case .success(let made): loop = made
        }
        for (index, ring) in opened.rings.enumerated() {
            if case .failure(let code) = loop.watch(ring.fd, token: UInt64(index)) {
                logger.debug("no mapping side band", metadata: ["error": "epoll_ctl: \(FileReader.describe(code))"])
                return nil
            }
        }
        if enable {
            for open in opened.events { _ = open.event.enable() }
        }
        let sideband = MappingSideband(events: opened.events, rings: opened.rings, loop: loop, attrs: attrs, handler: handler)
        if case .failure(let code) = Threads.detach({ sideband.run() }) {
            logger.debug("no mapping side band", metadata: ["error": "pthread_create: \(FileReader.describe(code))"])
            sideband.stop()
            return nil
        }
        return sideband
    }

    /// How often the thread looks whether it was stopped when no record wakes it. Nothing
    /// waits for it: a stopped side band only holds its disabled events a little longer.
    static let stopCheckMilliseconds: Int32 = 500

    /// Stops the thread (within `stopCheckMilliseconds`) and disables the events.
    func stop() {
        stopped.store(true, ordering: .releasing)
        for open in events { _ = open.event.disable() }
    }

    private func run() {
        while !stopped.load(ordering: .acquiring) {
            if case .success(let ready) = loop.wait(timeoutMilliseconds: Self.stopCheckMilliseconds) {
                for (token, hungUp) in ready where hungUp && Int(token) < rings.count {
                    let ring = rings[Int(token)]
                    if !ring.hungUp {
                        ring.hungUp = true
                        loop.unwatch(ring.fd)
                    }
                }
            }
            for ring in rings {
                guard let bytes = ring.ring.drain() else { continue }
                scan(bytes)
            }
            if rings.allSatisfy(\.hungUp) { break }
        }
    }

    /// Hands on each user-space MMAP2 and exec COMM of a drained chunk.
    private func scan(_ bytes: ByteView) {
        var offset = 0
        while offset + 8 <= bytes.count {
            let type = bytes.u32(offset)!
            let size = Int(bytes.u16(offset + 6)!)
            guard size >= 8, let record = bytes.slice(offset, size) else { return }
            offset += size
            if let decoded = Self.relevant(record, type: type, decoder: decoder) { handler(decoded) }
        }
    }

    /// `record` decoded when the side band cares about it: a user-space MMAP2, or the COMM
    /// of an exec.
    static func relevant(_ record: ByteView, type: UInt32, decoder: some RecordDecoding) -> PerfRecord? {
        guard type == RecordType.mmap2 || type == RecordType.comm, let misc = record.u16(4),
              let decoded = try? decoder.decode(record, type: type, misc: misc, fileOffset: 0) else { return nil }
        switch decoded {
        case .mmap(let map) where !map.isKernel: return decoded
        case .comm(let comm) where comm.isExec: return decoded
        default: return nil
        }
    }
}
