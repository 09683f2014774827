#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import FlamedSystem
@testable import ProcText

@Suite("Reading the process table from /proc")
struct ProcFSTests {
    @Test("maps: executable lines only, with range, offset, device, inode and path (spaces kept, padding dropped)")
    func parseMaps() {
        let text = """
            55d0c0a00000-55d0c0a28000 r--p 00000000 fe:01 1835073                    /usr/bin/python3.11
            55d0c0a28000-55d0c0d1f000 r-xp 00028000 fe:01 1835073                    /usr/bin/python3.11
            7f3a1c000000-7f3a1c021000 rw-p 00000000 00:00 0
            7f3a1d5e0000-7f3a1d5f0000 r-xp 00000000 00:00 0
            7f3a1d600000-7f3a1d7a5000 r-xp 00028000 103:0a 42 /opt/my app/lib (deleted)
            7ffd4b1fe000-7ffd4b200000 r-xp 00000000 00:00 0                          [vdso]
            ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
            garbage
            12-
            """
        let maps = ProcText.parseMaps(text)
        #expect(maps.count == 5)
        #expect(maps.first == ProcMapping(start: 0x55d0c0a28000, end: 0x55d0c0d1f000, pageOffset: 0x28000, path: "/usr/bin/python3.11",
                                          identity: MappingIdentity(major: 0xfe, minor: 1, inode: 1835073)))
        #expect(maps.count > 1 && maps[1].path == "//anon" && maps[1].identity == nil, "anonymous executable memory")
        #expect(maps.count > 2 && maps[2].path == "/opt/my app/lib (deleted)" && maps[2].identity == MappingIdentity(major: 0x103, minor: 0xa, inode: 42))
        #expect(maps.count > 4 && maps[3].path == "[vdso]" && maps[4].start == 0xffffffffff600000)
    }

    @Test("this process's own maps name its executable")
    func ownMaps() {
        let maps = ProcFS.executableMappings(pid: getpid())
        let executable = FileStamp.realPath("/proc/self/exe")
        #expect(executable != nil && maps.contains { $0.path == executable }, "\(maps.map(\.path)) lacks \(executable ?? "?")")
        #expect(maps.allSatisfy { $0.start < $0.end })
    }
}
