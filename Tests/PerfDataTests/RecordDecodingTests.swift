import FlamedSystem
import PerfDataBuilder
import Testing
@testable import PerfData

/// A file-mode perf.data with one event and `records` in its data section.
func singleEventFile(_ attr: Attr = Attr(), _ records: [[UInt8]]) -> [UInt8] {
    PerfFileBuilder(attrs: [attr], records: records.isEmpty ? [finishedRound()] : records).build().bytes
}

@Suite("Record decoding")
struct RecordDecodingTests {
    // MARK: SAMPLE

    @Test("SAMPLE: every field flamed uses, in perf_event.h order")
    func sampleAllFields() throws {
        let type = SampleFormat.identifier | SampleFormat.ip | SampleFormat.tid | SampleFormat.time | SampleFormat.addr
            | SampleFormat.id | SampleFormat.streamID | SampleFormat.cpu | SampleFormat.period | SampleFormat.callchain
        let attr = Attr(sampleType: type, ids: [77])
        let bytes = singleEventFile(attr, [
            sample(type, misc: RecordMisc.kernel, id: 77, ip: 0xffff_ffff_8100_1234, pid: 4242, tid: 4243, time: 123_456_789,
                   addr: 0xdead_beef, streamID: 99, cpu: 7, period: 250_000, callchain: [CallchainContext.kernel, 0xffff_ffff_8100_1234]),
        ])
        let (reader, records) = try readAll(bytes)
        #expect(records.count == 1)
        let s = try #require(records.first?.sample)
        #expect(s.attrIndex == 0)
        #expect(s.ip == 0xffff_ffff_8100_1234)
        #expect(s.pid == 4242)
        #expect(s.tid == 4243)
        #expect(s.time == 123_456_789)
        #expect(s.cpu == 7)
        #expect(s.period == 250_000)
        #expect(s.cpumode == RecordMisc.kernel)
        #expect(s.callchain?.entries == [CallchainContext.kernel, 0xffff_ffff_8100_1234])
        #expect(reader.warnings.isEmpty)
        #expect(reader.unknownIDSamples == 0)
        #expect(!reader.isPipe)
    }

    @Test("SAMPLE: fields absent from sample_type get their defaults")
    func sampleDefaults() throws {
        let attr = Attr(sampleType: SampleFormat.ip)
        let (_, records) = try readAll(singleEventFile(attr, [sample(SampleFormat.ip, misc: RecordMisc.user, ip: 0x401000)]))
        let s = try #require(records.first?.sample)
        #expect(s.ip == 0x401000)
        #expect(s.pid == -1)
        #expect(s.tid == -1)
        #expect(s.time == 0)
        #expect(s.period == 1)
        #expect(s.cpu == 0)
        #expect(s.callchain == nil)
        #expect(s.cpumode == RecordMisc.user)
    }

    @Test("SAMPLE: pid and tid are signed (-1 for the idle task's pid)")
    func samplePidSigned() throws {
        let type = SampleFormat.ip | SampleFormat.tid
        let (_, records) = try readAll(singleEventFile(Attr(sampleType: type), [sample(type, ip: 1, pid: -1, tid: 0)]))
        let s = try #require(records.first?.sample)
        #expect(s.pid == -1)
        #expect(s.tid == 0)
    }

    @Test("SAMPLE: cpumode is misc & 7, other misc bits ignored",
          arguments: [RecordMisc.kernel, RecordMisc.user, RecordMisc.hypervisor, RecordMisc.guestKernel, RecordMisc.guestUser, 0])
    func sampleCpumode(mode: UInt16) throws {
        let type = SampleFormat.ip
        let (_, records) = try readAll(singleEventFile(Attr(sampleType: type), [sample(type, misc: mode | 1 << 14 | 1 << 13, ip: 5)]))
        #expect(records.first?.sample?.cpumode == mode)
    }

    /// read_format variants: the READ words written, and whether a following callchain is found.
    static let readFormats: [(format: UInt64, words: [UInt64])] = [
        (0, [1000]),
        (ReadFormat.id, [1000, 77]),
        (ReadFormat.totalTimeEnabled | ReadFormat.totalTimeRunning, [1000, 5, 6]),
        (ReadFormat.totalTimeEnabled | ReadFormat.totalTimeRunning | ReadFormat.id | ReadFormat.lost, [1000, 5, 6, 77, 0]),
        (ReadFormat.lost, [1000, 3]),
        // group: nr, [enabled], [running], then nr × {value, [id], [lost]}
        (ReadFormat.group, [2, 10, 20]),
        (ReadFormat.group | ReadFormat.id, [3, 10, 77, 20, 78, 30, 79]),
        (ReadFormat.group | ReadFormat.id | ReadFormat.totalTimeEnabled, [2, 555, 10, 77, 20, 78]),
        (ReadFormat.group | ReadFormat.id | ReadFormat.totalTimeEnabled | ReadFormat.totalTimeRunning | ReadFormat.lost,
         [2, 555, 556, 10, 77, 0, 20, 78, 1]),
        (ReadFormat.group | ReadFormat.totalTimeRunning, [0, 9]),
    ]

    @Test("SAMPLE: READ values are skipped for non-group and group formats", arguments: 0..<readFormats.count)
    func sampleReadSkipped(index: Int) throws {
        let (format, words) = Self.readFormats[index]
        let type = SampleFormat.ip | SampleFormat.tid | SampleFormat.time | SampleFormat.period | SampleFormat.read | SampleFormat.callchain
        let attr = Attr(sampleType: type, readFormat: format)
        let chain: [UInt64] = [CallchainContext.user, 0x401000, 0x402000]
        let bytes = singleEventFile(attr, [sample(type, ip: 0x401000, pid: 1, tid: 2, time: 3, period: 4, read: words, callchain: chain)])
        let (_, records) = try readAll(bytes)
        let s = try #require(records.first?.sample)
        #expect(s.period == 4)
        #expect(s.callchain?.entries == chain)
    }

    @Test("SAMPLE: callchain with every context marker, read by subscript and as an array")
    func sampleCallchainMarkers() throws {
        let type = SampleFormat.ip | SampleFormat.tid | SampleFormat.time | SampleFormat.callchain
        let chain: [UInt64] = [
            CallchainContext.kernel, 0xffff_ffff_8100_0010, 0xffff_ffff_8100_0020,
            CallchainContext.user, 0x401000, 0x7f00_0000_1000,
            CallchainContext.hypervisor, CallchainContext.guest, CallchainContext.guestKernel, CallchainContext.guestUser,
            CallchainContext.max,
        ]
        let (_, records) = try readAll(singleEventFile(Attr(sampleType: type), [sample(type, ip: 0xffff_ffff_8100_0010, time: 1, callchain: chain)]))
        let callchain = try #require(records.first?.sample?.callchain)
        #expect(callchain.count == chain.count)
        #expect(callchain.entries == chain)
        for (i, entry) in chain.enumerated() { #expect(callchain[i] == entry) }
        #expect(callchain[chain.count] == 0, "past the end reads as 0, not out of bounds")
        #expect(callchain.entries.filter { $0 >= CallchainContext.max }.count == 7)
    }

    @Test("SAMPLE: empty callchain (nr = 0) and callchain followed by other data")
    func sampleCallchainEmptyAndTrailingData() throws {
        let type = SampleFormat.ip | SampleFormat.callchain | SampleFormat.raw
        let (_, records) = try readAll(singleEventFile(Attr(sampleType: type), [
            sample(type, ip: 1, callchain: []),
            sample(type, ip: 2, callchain: [0x10, 0x20], extra: le32(8) + [1, 2, 3, 4, 5, 6, 7, 8] + [0, 0, 0, 0]),
        ]))
        #expect(records.count == 2)
        #expect(records[0].sample?.callchain?.count == 0)
        #expect(records[0].sample?.callchain?.entries == [])
        #expect(records[1].sample?.callchain?.entries == [0x10, 0x20])
    }

    // MARK: MMAP / MMAP2

    @Test("MMAP: all fields, user and kernel")
    func mmap() throws {
        let (_, records) = try readAll(singleEventFile(Attr(), [
            mmapRecord(pid: 100, tid: 101, start: 0x400000, length: 0x2000, pageOffset: 0x1000, filename: "/usr/bin/true"),
            mmapRecord(pid: -1, tid: 0, start: 0xffff_ffff_8100_0000, length: 0x100_0000, pageOffset: 0xffff_ffff_8100_0000,
                       filename: "[kernel.kallsyms]_text", misc: RecordMisc.kernel),
            mmapRecord(pid: 5, tid: 5, start: 0x1000, length: 0x1000, pageOffset: 0, filename: "", misc: RecordMisc.guestKernel),
        ]))
        #expect(records.count == 3)
        let user = try #require(records[0].mmap)
        #expect(user.pid == 100)
        #expect(user.tid == 101)
        #expect(user.start == 0x400000)
        #expect(user.length == 0x2000)
        #expect(user.pageOffset == 0x1000)
        #expect(user.filename == "/usr/bin/true")
        #expect(user.buildID == nil)
        #expect(user.protection == nil)
        #expect(user.cpumode == RecordMisc.user)
        #expect(!user.isKernel)
        #expect(user.time == 0)
        let kernel = try #require(records[1].mmap)
        #expect(kernel.pid == -1)
        #expect(kernel.filename == "[kernel.kallsyms]_text")
        #expect(kernel.isKernel)
        #expect(kernel.start == 0xffff_ffff_8100_0000)
        let guest = try #require(records[2].mmap)
        #expect(guest.isKernel)
        #expect(guest.filename == "")
    }

    @Test("MMAP2 without build id: protection kept, no build id")
    func mmap2Plain() throws {
        let (_, records) = try readAll(singleEventFile(Attr(), [
            mmap2Record(pid: 7, tid: 8, start: 0x7f00_0000_0000, length: 0x21000, pageOffset: 0x3000, major: 259, minor: 2,
                        inode: 0x1234_5678, protection: 5, flags: 2, filename: "/usr/lib/x86_64-linux-gnu/libc.so.6"),
        ]))
        let m = try #require(records.first?.mmap)
        #expect(m.pid == 7)
        #expect(m.tid == 8)
        #expect(m.start == 0x7f00_0000_0000)
        #expect(m.length == 0x21000)
        #expect(m.pageOffset == 0x3000)
        #expect(m.filename == "/usr/lib/x86_64-linux-gnu/libc.so.6")
        #expect(m.buildID == nil)
        #expect(m.protection == 5)
        #expect(m.cpumode == RecordMisc.user)
    }

    @Test("MMAP2 with the build-id misc bit (14): the build id of build_id_size bytes",
          arguments: [20, 16, 8, 0])
    func mmap2BuildID(length: Int) throws {
        let id = (0..<length).map { UInt8($0 * 7 + 1) }
        let (_, records) = try readAll(singleEventFile(Attr(), [
            mmap2Record(pid: 1, tid: 1, start: 0x1000, length: 0x1000, pageOffset: 0, buildID: id, protection: 4, filename: "/bin/sh"),
        ]))
        let m = try #require(records.first?.mmap)
        #expect(m.buildID == id)
        #expect(m.protection == 4)
        #expect(m.filename == "/bin/sh")
    }

    @Test("MMAP2 with a build_id_size above 20 keeps 20 bytes")
    func mmap2BuildIDSizeClamped() throws {
        let id = (0..<20).map { UInt8($0 + 100) }
        let (_, records) = try readAll(singleEventFile(Attr(), [
            mmap2Record(pid: 1, tid: 1, start: 0x1000, length: 0x1000, pageOffset: 0, buildID: id, buildIDSize: 200, filename: "/bin/sh"),
        ]))
        #expect(records.first?.mmap?.buildID == id)
    }

    @Test("MMAP and MMAP2 data mappings (misc bit 13) are dropped, the records around them kept")
    func mmapDataDropped() throws {
        let (reader, records) = try readAll(singleEventFile(Attr(), [
            mmapRecord(pid: 1, tid: 1, start: 0x1000, length: 0x1000, pageOffset: 0, filename: "/code"),
            mmapRecord(pid: 1, tid: 1, start: 0x2000, length: 0x1000, pageOffset: 0, filename: "/data1", misc: RecordMisc.user | RecordMisc.commExec),
            mmap2Record(pid: 1, tid: 1, start: 0x3000, length: 0x1000, pageOffset: 0, filename: "/data2", misc: RecordMisc.user | RecordMisc.commExec),
            mmap2Record(pid: 1, tid: 1, start: 0x4000, length: 0x1000, pageOffset: 0, buildID: [1, 2, 3, 4], filename: "/data3",
                        misc: RecordMisc.user | RecordMisc.commExec),
            mmap2Record(pid: 1, tid: 1, start: 0x5000, length: 0x1000, pageOffset: 0, filename: "/code2"),
        ]))
        #expect(records.map(\.label) == ["mmap:/code", "mmap:/code2"])
        #expect(reader.warnings.isEmpty)
    }

    @Test("MMAP file name without NUL padding uses the whole remaining record")
    func mmapNameWithoutNUL() throws {
        var body = ByteWriter()
        body.i32(1); body.i32(1); body.u64(0x1000); body.u64(0x1000); body.u64(0)
        body.append(Array("/abcdefg".utf8))  // 8 bytes, no NUL
        let (_, records) = try readAll(singleEventFile(Attr(), [record(RecordType.mmap, misc: RecordMisc.user, body.bytes)]))
        #expect(records.first?.mmap?.filename == "/abcdefg")
    }

    // MARK: COMM, FORK, EXIT

    @Test("COMM: name, and the exec flag from misc bit 13")
    func comm() throws {
        let (_, records) = try readAll(singleEventFile(Attr(), [
            commRecord(pid: 10, tid: 11, name: "bash"),
            commRecord(pid: 10, tid: 10, name: "ls", exec: true),
            commRecord(pid: 12, tid: 12, name: "abcdefghijklmno"),  // 15 bytes + NUL: exactly 16
            commRecord(pid: 13, tid: 13, name: ""),
            commRecord(pid: 14, tid: 14, name: "kworker/u8:2-ev"),
        ]))
        #expect(records.count == 5)
        let first = try #require(records[0].comm)
        #expect(first.pid == 10)
        #expect(first.tid == 11)
        #expect(first.name == "bash")
        #expect(!first.isExec)
        #expect(first.time == 0)
        #expect(records[1].comm?.isExec == true)
        #expect(records[1].comm?.name == "ls")
        #expect(records[2].comm?.name == "abcdefghijklmno")
        #expect(records[3].comm?.name == "")
        #expect(records[4].comm?.name == "kworker/u8:2-ev")
    }

    @Test("COMM: invalid UTF-8 in the name is repaired, not fatal")
    func commInvalidUTF8() throws {
        var body = ByteWriter()
        body.i32(1); body.i32(1)
        body.append([0x61, 0xFF, 0xFE, 0x62, 0, 0, 0, 0])
        let (_, records) = try readAll(singleEventFile(Attr(), [record(RecordType.comm, body.bytes)]))
        let name = try #require(records.first?.comm?.name)
        #expect(name.hasPrefix("a"))
        #expect(name.hasSuffix("b"))
    }

    @Test("FORK and EXIT: pid, ppid, tid, ptid and time")
    func forkExit() throws {
        let (_, records) = try readAll(singleEventFile(Attr(sampleType: SampleFormat.ip), [
            taskRecord(RecordType.fork, pid: 200, ppid: 100, tid: 201, ptid: 101, time: 0),
            taskRecord(RecordType.exit, pid: 200, ppid: 100, tid: 201, ptid: 101, time: 0),
        ]))
        #expect(records.count == 2)
        guard case .fork(let fork) = records[0], case .exit(let exit) = records[1] else {
            Issue.record("expected FORK then EXIT, got \(records.map(\.label))")
            return
        }
        for task in [fork, exit] {
            #expect(task.pid == 200)
            #expect(task.parentPID == 100)
            #expect(task.tid == 201)
            #expect(task.parentTID == 101)
        }
    }

    @Test("FORK and EXIT carry their own time field")
    func forkExitTime() throws {
        let type = SampleFormat.tid | SampleFormat.time
        let attr = Attr(sampleType: type, flags: Attr.sampleIDAllFlag)
        let (_, records) = try readAll(singleEventFile(attr, [
            taskRecord(RecordType.fork, pid: 2, ppid: 1, tid: 2, ptid: 1, time: 5000, trailer: sampleID(type, pid: 2, tid: 2, time: 5000)),
            taskRecord(RecordType.exit, pid: 2, ppid: 1, tid: 2, ptid: 1, time: 6000, trailer: sampleID(type, pid: 2, tid: 2, time: 6000)),
        ]))
        guard case .fork(let fork) = records.first, case .exit(let exit) = records.last else {
            Issue.record("expected FORK then EXIT, got \(records.map(\.label))")
            return
        }
        #expect(fork.time == 5000)
        #expect(exit.time == 6000)
    }

    // MARK: LOST, LOST_SAMPLES, THROTTLE, KSYMBOL

    @Test("LOST, LOST_SAMPLES, THROTTLE and UNTHROTTLE")
    func lostAndThrottle() throws {
        let (_, records) = try readAll(singleEventFile(Attr(sampleType: SampleFormat.ip), [
            lostRecord(id: 5, lost: 42),
            lostSamplesRecord(lost: 7),
            throttleRecord(time: 0, id: 5, streamID: 5),
            throttleRecord(unthrottle: true, time: 0, id: 5, streamID: 5),
        ]))
        #expect(records.map(\.label) == ["lost:42", "lostSamples:7", "throttle", "unthrottle"])
    }

    @Test("KSYMBOL: address, length, type, unregister flag and name")
    func ksymbol() throws {
        let (_, records) = try readAll(singleEventFile(Attr(sampleType: SampleFormat.ip), [
            ksymbolRecord(address: 0xffff_ffff_c000_1000, length: 0x200, type: 1, flags: 0, name: "bpf_prog_6deef7357e7b4530_sd_fw_ingress"),
            ksymbolRecord(address: 0xffff_ffff_c000_1000, length: 0x200, type: 1, flags: 1, name: "bpf_prog_6deef7357e7b4530_sd_fw_ingress"),
            ksymbolRecord(address: 0xffff_ffff_c000_3000, length: 64, type: 2, flags: 0, name: "bpf_trampoline_12"),
        ]))
        #expect(records.count == 3)
        guard case .ksymbol(let first) = records[0], case .ksymbol(let second) = records[1], case .ksymbol(let third) = records[2] else {
            Issue.record("expected three KSYMBOL records, got \(records.map(\.label))")
            return
        }
        #expect(first.address == 0xffff_ffff_c000_1000)
        #expect(first.length == 0x200)
        #expect(first.type == 1)
        #expect(!first.isUnregister)
        #expect(first.name == "bpf_prog_6deef7357e7b4530_sd_fw_ingress")
        #expect(second.isUnregister)
        #expect(third.type == 2)
        #expect(third.name == "bpf_trampoline_12")
    }

    @Test("KSYMBOL with no room for a name has an empty name")
    func ksymbolNoName() throws {
        var body = ByteWriter()
        body.u64(0x1000); body.u32(16); body.u16(1); body.u16(0)
        let (_, records) = try readAll(singleEventFile(Attr(sampleType: SampleFormat.ip), [record(RecordType.ksymbol, body.bytes)]))
        guard case .ksymbol(let k) = records.first else {
            Issue.record("no KSYMBOL")
            return
        }
        #expect(k.name == "")
    }

    // MARK: Skipped records

    @Test("Unknown record types are skipped by their size, whatever the size")
    func unknownTypesSkipped() throws {
        let (reader, records) = try readAll(singleEventFile(Attr(sampleType: SampleFormat.ip), [
            commRecord(pid: 1, tid: 1, name: "a"),
            record(200, [1, 2, 3, 4]),                             // 12 bytes: not a multiple of 8
            record(11, misc: 3, [UInt8](repeating: 0xAB, count: 40)),  // AUX: a kernel type flamed ignores
            record(0xFFFF_FFFF, [UInt8](repeating: 0xFF, count: 16)),
            record(72, [UInt8](repeating: 0, count: 24)),          // STAT_CONFIG
            record(8, [UInt8](repeating: 0, count: 32)),           // READ
            commRecord(pid: 2, tid: 2, name: "b"),
        ]))
        #expect(records.map(\.label) == ["comm:a", "comm:b"])
        #expect(reader.skippedRecords == 3)
        #expect(reader.warnings.isEmpty)
    }

    @Test("FINISHED_ROUND, FINISHED_INIT, THREAD_MAP, CPU_MAP and other perf records are not delivered")
    func userRecordsNotDelivered() throws {
        let (reader, records) = try readAll(singleEventFile(Attr(sampleType: SampleFormat.ip), [
            record(RecordType.threadMap, le64(1) + le64(1234) + [UInt8](repeating: 0, count: 16)),
            record(RecordType.cpuMap, le16(0) + le16(2) + le16(0) + le16(1)),
            record(RecordType.finishedInit, []),
            commRecord(pid: 1, tid: 1, name: "x"),
            finishedRound(),
            record(RecordType.headerEventType, [UInt8](repeating: 0, count: 72)),
            finishedRound(),
            sample(SampleFormat.ip, ip: 9),
        ]))
        #expect(records.map(\.label) == ["comm:x", "s#9"])
        #expect(reader.skippedRecords == 4)
    }

    @Test("A record whose header size is exactly 8 (no body) is fine when its type needs none")
    func emptyBodies() throws {
        let (reader, records) = try readAll(singleEventFile(Attr(sampleType: SampleFormat.ip), [
            record(RecordType.throttle, []),
            finishedRound(),
            record(99, []),
        ]))
        #expect(records.map(\.label) == ["throttle"])
        #expect(reader.skippedRecords == 1)
    }
}
