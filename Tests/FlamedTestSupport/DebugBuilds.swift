import Foundation

/// Small C programs and their debug files, built with gcc, binutils and xz, for the tests of
/// ELF parsing and symbolization. Tests that use them declare `.requires(.gcc)` (and
/// `.binutils, .xz` for `buildVariants`).
public enum DebugBuilds {
    /// A build id no other build has, so that no debug file installed or cached by another
    /// run (in ~/.debug or /usr/lib/debug) is found for it; 40 hex digits.
    public static func uniqueBuildID() -> String {
        (0..<20).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    }

    /// A program with a global function and a static one.
    public static let source = """
        static volatile unsigned long sink;
        __attribute__((noinline)) void unit_global(unsigned long n) { for (unsigned long i = 0; i < n; i++) sink += i; }
        __attribute__((noinline)) static void unit_static(unsigned long n) { for (unsigned long i = 0; i < n; i++) sink ^= i; }
        int main(int argc, char **argv) { unit_global(argc); unit_static(argc); return 0; }
        """

    /// Shell lines that write `output`, `binary` stripped with MiniDebugInfo, the Fedora way:
    /// the functions missing from .dynsym, xz-compressed in `.gnu_debugdata`.
    public static func miniDebugInfo(from binary: String, to output: String) -> String {
        """
        nm -D \(binary) --format=posix --defined-only | awk '{ print $1 }' | sort > dynsyms
        nm \(binary) --format=posix --defined-only | awk '{ if ($2 == "T" || $2 == "t" || $2 == "D") print $1 }' | sort > funcsyms
        comm -13 dynsyms funcsyms > keep_symbols
        objcopy --only-keep-debug \(binary) mini.debug
        objcopy -S --remove-section .gdb_index --remove-section .comment --keep-symbols=keep_symbols mini.debug
        rm -f mini.debug.xz; xz mini.debug
        strip --strip-all -R .comment -o \(output) \(binary)
        objcopy --add-section .gnu_debugdata=mini.debug.xz \(output)
        """
    }

    /// Builds `prog` (with -g and -rdynamic: the global functions are in .dynsym, the static
    /// one only in .symtab) and its variants: stripped with a debuglink next to it, in
    /// `.debug/`, with a debug file of the wrong CRC, linked to another build's debug
    /// file, with MiniDebugInfo, and stripped with nothing.
    public static func buildVariants(in directory: URL, source: String = source) throws {
        try source.write(to: directory.appendingPathComponent("prog.c"), atomically: true, encoding: .utf8)
        try Support.checkedShell("""
            gcc -O0 -g -fno-omit-frame-pointer -rdynamic -Wl,--build-id=0x\(uniqueBuildID()) -o prog prog.c
            gcc -O0 -g -fno-omit-frame-pointer -rdynamic -Wl,--build-id=0x\(uniqueBuildID()) -o other prog.c
            objcopy --only-keep-debug prog prog.debug
            objcopy --only-keep-debug other other.debug
            strip --strip-all -o linked prog
            objcopy --add-gnu-debuglink=prog.debug linked
            mkdir -p next dot/.debug wrongcrc otherbuild
            cp linked next/prog-linked; cp prog.debug next/prog.debug
            cp linked dot/prog-linked; cp prog.debug dot/.debug/prog.debug
            cp linked wrongcrc/prog-linked; cp prog.debug wrongcrc/prog.debug; printf x >> wrongcrc/prog.debug
            # A debuglink whose CRC is right but whose file is another build's.
            cp other.debug otherbuild/prog.debug
            strip --strip-all -o otherbuild/prog-linked prog
            (cd otherbuild && objcopy --add-gnu-debuglink=prog.debug prog-linked)
            # MiniDebugInfo, the Fedora way.
            \(miniDebugInfo(from: "prog", to: "prog-mini"))
            strip --strip-all -o prog-stripped prog
            """, in: directory)
    }

    /// Compiles C `source` with gcc -O0 into `directory/name`, with `buildID` (40 hex digits)
    /// or, when nil, no build id; returns the binary's path.
    public static func compile(_ source: String, named name: String, in directory: URL, buildID: String? = uniqueBuildID()) throws -> String {
        try source.write(to: directory.appendingPathComponent(name + ".c"), atomically: true, encoding: .utf8)
        let flag = buildID.map { "-Wl,--build-id=0x\($0)" } ?? "-Wl,--build-id=none"
        try Support.checkedShell("gcc -O0 \(flag) -o \(name) \(name).c", in: directory)
        return directory.appendingPathComponent(name).path
    }
}
