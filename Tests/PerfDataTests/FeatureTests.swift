import FlamedSystem
import Foundation
import PerfDataBuilder
import Testing
@testable import PerfData

let kernelBuildID: [UInt8] = (0..<20).map { UInt8(0xA0 + $0) }
let bashBuildID: [UInt8] = (0..<20).map { UInt8($0 * 3) }
let libBuildID: [UInt8] = (0..<16).map { UInt8(0xF0 - $0) }

func buildIDFeature(type: UInt32 = 0) -> [UInt8] {
    buildIDEvent(pid: -1, buildID: kernelBuildID, filename: "[kernel.kallsyms]", misc: RecordMisc.kernel, type: type)
        + buildIDEvent(pid: 1234, buildID: bashBuildID, filename: "/usr/bin/bash", misc: RecordMisc.user, withSize: false, type: type)
        + buildIDEvent(pid: 1234, buildID: libBuildID, filename: "/usr/lib/libfoo.so", misc: RecordMisc.user, type: type)
        + buildIDEvent(pid: 77, buildID: [1, 2, 3, 4], filename: "[guest.kernel.kallsyms]", misc: RecordMisc.guestKernel, type: type)
}

let expectedBuildIDs = [
    BuildIDEntry(pid: -1, buildID: kernelBuildID, filename: "[kernel.kallsyms]", isKernel: true),
    BuildIDEntry(pid: 1234, buildID: bashBuildID, filename: "/usr/bin/bash", isKernel: false),
    BuildIDEntry(pid: 1234, buildID: libBuildID, filename: "/usr/lib/libfoo.so", isKernel: false),
    BuildIDEntry(pid: 77, buildID: [1, 2, 3, 4], filename: "[guest.kernel.kallsyms]", isKernel: true),
]

let commandLine = ["/usr/bin/perf", "record", "-g", "-F", "999", "--", "sh", "-c", "echo 'hi there'"]

/// Every feature flamed reads, plus two it does not (TOTAL_MEM and an unknown high bit).
func allFeatures(attrs: [Attr]) -> [(id: Int, body: [UInt8])] {
    [
        (FeatureID.buildID, buildIDFeature()),
        (FeatureID.hostname, FeatureBody.string("build-host.example.org")),
        (FeatureID.osRelease, FeatureBody.string("6.1.0-18-amd64")),
        (FeatureID.version, FeatureBody.string("6.1.76")),
        (FeatureID.arch, FeatureBody.string("x86_64")),
        (FeatureID.nrCPUs, FeatureBody.nrCPUs(available: 8, online: 4)),
        (FeatureID.cpuDesc, FeatureBody.string("Intel(R) Xeon(R) CPU E5-2690 v4 @ 2.60GHz")),
        (FeatureID.cpuID, FeatureBody.string("GenuineIntel,6,79,1")),
        (FeatureID.totalMemory, le64(16_384_000)),
        (FeatureID.cmdline, FeatureBody.cmdline(commandLine)),
        (FeatureID.eventDesc, FeatureBody.eventDesc(attrs.enumerated().map { ($1, "event-\($0)", $1.ids) })),
        (FeatureID.sampleTime, FeatureBody.sampleTime(first: 1_000_000, last: 2_500_000)),
        (200, [UInt8](repeating: 0x5A, count: 24)),
    ]
}

@Suite("Feature sections")
struct FeatureTests {
    let attrs = [
        Attr(type: 0, config: 0, sampleType: SampleFormat.identifier | SampleFormat.ip, ids: [1, 2]),
        Attr(type: 0, config: 1, sampleType: SampleFormat.identifier | SampleFormat.ip, ids: [3]),
    ]

    @Test("hostname, osrelease, version, arch, nrcpus, cpudesc, cpuid, cmdline, event_desc, build_id, sample_time")
    func allParsed() throws {
        let file = PerfFileBuilder(attrs: attrs, records: [sample(SampleFormat.identifier | SampleFormat.ip, id: 3, ip: 9)],
                                   features: allFeatures(attrs: attrs))
        let (reader, records) = try readAll(file.build().bytes)
        let header = reader.header
        #expect(header.hostname == "build-host.example.org")
        #expect(header.osRelease == "6.1.0-18-amd64")
        #expect(header.perfVersion == "6.1.76")
        #expect(header.arch == "x86_64")
        #expect(header.cpusAvailable == 8)
        #expect(header.cpusOnline == 4)
        #expect(header.cpuDescription == "Intel(R) Xeon(R) CPU E5-2690 v4 @ 2.60GHz")
        #expect(header.cpuID == "GenuineIntel,6,79,1")
        #expect(header.commandLine == commandLine)
        #expect(header.firstSampleTime == 1_000_000)
        #expect(header.lastSampleTime == 2_500_000)
        #expect(header.buildIDs == expectedBuildIDs)
        #expect(header.buildIDs.first?.hex == "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3")
        #expect(header.buildIDs.last?.hex == "01020304")
        #expect(header.eventNames.map(\.name) == ["event-0", "event-1"])
        #expect(reader.attrs.map(\.name) == ["event-0", "event-1"])
        #expect(reader.warnings.isEmpty)
        #expect(records.first?.sample?.attrIndex == 1)
    }

    @Test("A file without features has an empty header description")
    func noFeatures() throws {
        let reader = try PerfDataReader(bytes: ByteView(singleEventFile(Attr(), [])))
        #expect(reader.header.hostname == nil)
        #expect(reader.header.commandLine == nil)
        #expect(reader.header.buildIDs.isEmpty)
        #expect(reader.header.eventNames.isEmpty)
        #expect(reader.header.cpusOnline == nil)
        #expect(reader.warnings.isEmpty)
    }

    @Test("Each feature alone, to check that the section table follows the bitmap", arguments: 0..<12)
    func eachFeatureAlone(index: Int) throws {
        let feature = allFeatures(attrs: attrs)[index]
        let reader = try PerfDataReader(bytes: ByteView(PerfFileBuilder(attrs: attrs, features: [feature]).build().bytes))
        let header = reader.header
        switch feature.id {
        case FeatureID.buildID: #expect(header.buildIDs == expectedBuildIDs)
        case FeatureID.hostname: #expect(header.hostname == "build-host.example.org")
        case FeatureID.osRelease: #expect(header.osRelease == "6.1.0-18-amd64")
        case FeatureID.version: #expect(header.perfVersion == "6.1.76")
        case FeatureID.arch: #expect(header.arch == "x86_64")
        case FeatureID.nrCPUs: #expect(header.cpusOnline == 4)
        case FeatureID.cpuDesc: #expect(header.cpuDescription?.hasPrefix("Intel") == true)
        case FeatureID.cpuID: #expect(header.cpuID == "GenuineIntel,6,79,1")
        case FeatureID.cmdline: #expect(header.commandLine == commandLine)
        case FeatureID.eventDesc: #expect(reader.attrs.map(\.name) == ["event-0", "event-1"])
        case FeatureID.sampleTime: #expect(header.lastSampleTime == 2_500_000)
        default: #expect(header.hostname == nil)
        }
        #expect(reader.warnings.isEmpty)
    }

    @Test("perf_header_string: the length counts the padding; a string that fills it has no NUL")
    func headerStringForms() throws {
        let exact = le32(8) + Array("abcdefgh".utf8)
        let padded = le32(16) + Array("ab".utf8) + [UInt8](repeating: 0, count: 14)
        let reader = try PerfDataReader(bytes: ByteView(PerfFileBuilder(features: [
            (FeatureID.hostname, exact), (FeatureID.arch, padded), (FeatureID.version, le32(0)),
        ]).build().bytes))
        #expect(reader.header.hostname == "abcdefgh")
        #expect(reader.header.arch == "ab")
        #expect(reader.header.perfVersion == "")
    }

    @Test("A malformed feature gives a warning and the others are still read")
    func malformedFeature() throws {
        let built = PerfFileBuilder(features: [
            (FeatureID.hostname, le32(100) + Array("host".utf8) + [0, 0, 0, 0]),  // says 100 bytes, has 8
            (FeatureID.arch, FeatureBody.string("aarch64")),
            (FeatureID.nrCPUs, le32(8)),                                          // online count missing
            (FeatureID.cmdline, le32(3) + FeatureBody.string("perf") + FeatureBody.string("record")),
            (FeatureID.eventDesc, le32(2) + le32(136) + [UInt8](repeating: 0, count: 20)),
        ]).build()
        let reader = try PerfDataReader(bytes: ByteView(built.bytes))
        #expect(reader.header.hostname == nil)
        #expect(reader.header.arch == "aarch64")
        #expect(reader.header.cpusOnline == nil)
        #expect(reader.header.commandLine == ["perf", "record"])
        #expect(reader.header.eventNames.isEmpty)
        #expect(reader.attrs.first?.name == "cpu-clock")
        for feature in [FeatureID.hostname, FeatureID.nrCPUs, FeatureID.cmdline, FeatureID.eventDesc] {
            #expect(reader.warnings.contains { $0.hasPrefix("feature \(feature) at offset 0x") && $0.contains("malformed") },
                    "\(reader.warnings)")
        }
        #expect(reader.warnings.count == 4)
        // The offset in the warning is the feature body's.
        let hostnameOffset = Int(read64(built.bytes, at: built.featureTableOffset))
        #expect(reader.warnings.first == "feature 3 at offset 0x\(String(hostnameOffset, radix: 16)) is malformed; ignored")
    }

    @Test("A feature section outside the file is skipped with a warning")
    func featureOutsideFile() throws {
        var built = PerfFileBuilder(features: [
            (FeatureID.hostname, FeatureBody.string("h")), (FeatureID.osRelease, FeatureBody.string("r")),
            (FeatureID.arch, FeatureBody.string("a")),
        ]).build()
        patch64(&built.bytes, at: built.featureTableOffset + 16, UInt64(built.bytes.count + 100))
        patch64(&built.bytes, at: built.featureTableOffset + 32 + 8, UInt64.max)
        let reader = try PerfDataReader(bytes: ByteView(built.bytes))
        #expect(reader.header.hostname == "h")
        #expect(reader.header.osRelease == nil)
        #expect(reader.header.arch == nil)
        #expect(reader.warnings == ["feature 4 points outside the file; ignored", "feature 6 points outside the file; ignored"])
    }

    @Test("A feature section table cut short by the end of the file gives a warning")
    func featureTableCutShort() throws {
        let built = PerfFileBuilder(records: [commRecord(pid: 1, tid: 1, name: "x")], features: [
            (FeatureID.hostname, FeatureBody.string("h")), (FeatureID.arch, FeatureBody.string("a")),
        ]).build()
        let bytes = Array(built.bytes.prefix(built.featureTableOffset + 16 + 8))
        let (reader, records) = try readAll(bytes)
        #expect(records.map(\.label) == ["comm:x"])
        #expect(reader.warnings == [
            "feature 3 points outside the file; ignored",  // the hostname section itself is gone with the cut
            "feature section table at offset 0x\(String(built.featureTableOffset + 16, radix: 16)) is cut short; features ignored",
        ])
        #expect(reader.header.hostname == nil)
    }

    @Test("Pipe mode: HEADER_FEATURE and HEADER_BUILD_ID records fill the header")
    func pipeFeatures() throws {
        let attr = Attr(type: 0, config: 0, sampleType: SampleFormat.ip, ids: [1])
        let (reader, records) = try readAll(pipeStream([
            headerAttrRecord(attr),
            headerFeatureRecord(FeatureID.hostname, FeatureBody.string("pipe-host")),
            headerFeatureRecord(FeatureID.osRelease, FeatureBody.string("6.8.0")),
            headerFeatureRecord(FeatureID.version, FeatureBody.string("6.8")),
            headerFeatureRecord(FeatureID.arch, FeatureBody.string("riscv64")),
            headerFeatureRecord(FeatureID.nrCPUs, FeatureBody.nrCPUs(available: 64, online: 62)),
            headerFeatureRecord(FeatureID.cpuDesc, FeatureBody.string("SiFive")),
            headerFeatureRecord(FeatureID.cmdline, FeatureBody.cmdline(["perf", "record", "-o", "-"])),
            headerFeatureRecord(FeatureID.sampleTime, FeatureBody.sampleTime(first: 5, last: 6)),
            headerFeatureRecord(FeatureID.eventDesc, FeatureBody.eventDesc([(attr, "cycles:u", [1])])),
            headerFeatureRecord(FeatureID.buildID, buildIDFeature()),
            headerFeatureRecord(FeatureID.totalMemory, le64(1)),
            headerFeatureRecord(FeatureID.lastFeature, []),   // perf's end-of-features mark
            headerFeatureRecord(1000, []),
            record(RecordType.headerFeature, []),            // too short to name a feature
            sample(SampleFormat.ip, ip: 0x42),
        ]))
        let header = reader.header
        #expect(header.hostname == "pipe-host")
        #expect(header.osRelease == "6.8.0")
        #expect(header.perfVersion == "6.8")
        #expect(header.arch == "riscv64")
        #expect(header.cpusAvailable == 64)
        #expect(header.cpusOnline == 62)
        #expect(header.cpuDescription == "SiFive")
        #expect(header.commandLine == ["perf", "record", "-o", "-"])
        #expect(header.firstSampleTime == 5)
        #expect(header.buildIDs == expectedBuildIDs)
        #expect(reader.attrs.first?.name == "cycles:u")
        #expect(records.first?.sample?.ip == 0x42)
        #expect(reader.warnings.isEmpty)
    }

    @Test("Pipe mode: HEADER_BUILD_ID records, one build id each")
    func pipeBuildIDRecords() throws {
        let (reader, _) = try readAll(pipeStream([
            headerAttrRecord(Attr()),
            buildIDEvent(pid: -1, buildID: kernelBuildID, filename: "[kernel.kallsyms]", misc: RecordMisc.kernel, type: RecordType.headerBuildID),
            buildIDEvent(pid: 1234, buildID: libBuildID, filename: "/usr/lib/libfoo.so", misc: RecordMisc.user, type: RecordType.headerBuildID),
        ]))
        #expect(reader.header.buildIDs == [expectedBuildIDs[0], expectedBuildIDs[2]])
    }

    @Test("Pipe mode: a malformed HEADER_FEATURE is a warning")
    func pipeMalformedFeature() throws {
        let records = [headerAttrRecord(Attr()), headerFeatureRecord(FeatureID.hostname, le32(64) + [0x41, 0, 0, 0])]
        let (reader, _) = try readAll(pipeStream(records))
        #expect(reader.header.hostname == nil)
        #expect(reader.warnings.count == 1)
        let offset = String(pipeOffsets(records)[1], radix: 16)
        #expect(reader.warnings.first == "feature 3 at offset 0x\(offset) is malformed; ignored", "\(reader.warnings)")
    }

    @Test("BUILD_ID entries: a short or zero-size entry ends the list")
    func buildIDListEnds() throws {
        let body = buildIDEvent(pid: 1, buildID: bashBuildID, filename: "/a", misc: RecordMisc.user)
            + record(0, [UInt8](repeating: 0, count: 8))  // 16 bytes: too short for an entry
            + buildIDEvent(pid: 2, buildID: bashBuildID, filename: "/b", misc: RecordMisc.user)
        let reader = try PerfDataReader(bytes: ByteView(PerfFileBuilder(features: [(FeatureID.buildID, body)]).build().bytes))
        #expect(reader.header.buildIDs.map(\.filename) == ["/a"])
    }

    @Test("PerfDataReader.open reads a file from disk; a missing file is a file error")
    func openPath() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("perfdata-tests-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("perf.data").path
        let bytes = PerfFileBuilder(records: [commRecord(pid: 1, tid: 1, name: "on-disk")],
                                    features: [(FeatureID.hostname, FeatureBody.string("disk"))]).build().bytes
        #expect(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
        let reader = try PerfDataReader.open(path: path)
        var names: [String] = []
        try reader.readRecords { if let c = $0.comm { names.append(c.name) } }
        #expect(names == ["on-disk"])
        #expect(reader.header.hostname == "disk")
        #expect(reader.dataSize == 24)

        let empty = directory.appendingPathComponent("empty.data").path
        #expect(FileManager.default.createFile(atPath: empty, contents: Data()))
        expectPerfError(.notPerfData, at: 0, messageContains: "file is empty") { _ = try PerfDataReader.open(path: empty) }

        #expect(throws: FileError.self) { _ = try PerfDataReader.open(path: directory.appendingPathComponent("missing").path) }
        #expect(throws: FileError.self) { _ = try PerfDataReader.open(path: directory.path) }
    }
}
