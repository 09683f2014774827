import Testing
@testable import Demangling

/// `--demangle perf|full|none` for C++, Rust (legacy and v0) and Swift. Expected names come
/// from the reference tools: perf's rules for C++, rustc-demangle's `{:#}`/`{}` (checked
/// against llvm-cxxfilt and c++filt) for Rust, and `swift-demangle -simplified` for Swift.
@Suite("Demangling styles: C++, Rust and Swift")
struct DemangleStyleTests {
    // MARK: C++

    @Test("C++: perf drops the top-level parameter list and return type, full keeps them, none leaves the name")
    func cxx() {
        let name = "_ZN2ns1K4spinIlEElT_RSt6vectorIiSaIiEE"
        #expect(Demangler.demangle(name, style: .perf) == "ns::K::spin<long>")
        #expect(Demangler.demangle(name, style: .full) == "long ns::K::spin<long>(long, std::vector<int, std::allocator<int> >&)")
        #expect(Demangler.demangle(name, style: .none) == name)
        #expect(Demangler.demangle("_ZNK3Foo3barEv", style: .perf) == "Foo::bar")
        #expect(Demangler.demangle("_ZNK3Foo3barEv", style: .full) == "Foo::bar() const")
        #expect(Demangler.demangle("_Z3fooi", style: .full) == "foo(int)")
        // A C++ variable (`_ZN…E` with no Rust hash) is not mistaken for a legacy Rust name.
        #expect(Demangler.demangle("_ZN3foo3barE", style: .perf) == "foo::bar")
        #expect(Demangler.demangle("_ZN3foo3barE", style: .full) == "foo::bar")
        // Thunks keep their full form in perf's output; LLVM's merged "Tm" suffix is retried.
        #expect(Demangler.demangle("_ZThn8_N4llvm13FPPassManagerD1Ev", style: .perf) == "non-virtual thunk to llvm::FPPassManager::~FPPassManager()")
        #expect(Demangler.demangle("_Z3fooiTm", style: .perf) == "foo")
        #expect(Demangler.demangle("_Znot_valid", style: .perf) == "_Znot_valid")
        #expect(Demangler.demangle("main", style: .full) == "main")
    }

    @Test("a PLT stub's name is demangled before its @plt suffix, in every style")
    func plt() {
        #expect(Demangler.demangle("_Z3fooi@plt", style: .perf) == "foo@plt")
        #expect(Demangler.demangle("_Z3fooi@plt", style: .full) == "foo(int)@plt")
        #expect(Demangler.demangle("_Z3fooi@plt", style: .none) == "_Z3fooi@plt")
        #expect(Demangler.demangle("$s9swiftprog7HotspotV12churnNumbersyS2iF@plt", style: .perf) == "Hotspot.churnNumbers(_:)@plt")
    }

    // MARK: Rust legacy

    @Test("Rust legacy: escapes decoded, the ::h<hash> element dropped in perf style and kept in full")
    func rustLegacy() {
        let lang = "_ZN3std2rt10lang_start17h0123456789abcdefE"
        #expect(Demangler.demangle(lang, style: .perf) == "std::rt::lang_start")
        #expect(Demangler.demangle(lang, style: .full) == "std::rt::lang_start::h0123456789abcdef")
        #expect(Demangler.demangle(lang, style: .none) == lang)
        #expect(Demangler.demangle("_ZN105_$LT$std..collections..hash..map..Iter$LT$K$C$V$GT$$u20$as$u20$core..iter..traits..iterator..Iterator$GT$4next17h88428599330e4b52E", style: .perf)
                == "<std::collections::hash::map::Iter<K,V> as core::iter::traits::iterator::Iterator>::next")
        #expect(Demangler.demangle("_ZN3big13Wrap$LT$T$GT$4show17ha39f2ae830141f71E", style: .perf) == "big::Wrap<T>::show")
        #expect(Demangler.demangle("_ZN3std2rt10lang_start28_$u7b$$u7b$closure$u7d$$u7d$17h0123456789abcdefE", style: .perf)
                == "std::rt::lang_start::{{closure}}")
        #expect(Demangler.demangle("_ZN4core3ptr85drop_in_place$LT$std..rt..lang_start$LT$$LP$$RP$$GT$..$u7b$$u7b$closure$u7d$$u7d$$GT$17h0123456789abcdefE", style: .perf)
                == "core::ptr::drop_in_place<std::rt::lang_start<()>::{{closure}}>")
        // ThinLTO's `.llvm.N` suffix goes; other suffixes stay.
        #expect(Demangler.demangle("_ZN3foo3bar17h0123456789abcdefE.llvm.1234567890", style: .perf) == "foo::bar")
        #expect(Demangler.demangle("_ZN3foo3bar17h0123456789abcdefE.cold", style: .perf) == "foo::bar.cold")
        // `@`, `*`, `&`, `(`, `)` and `,` escapes, and an element that starts with `_$`.
        #expect(RustDemangler.demangle("_ZN1a8$SP$$BP$5_$RF$8$LP$$RP$4$C$x17h0123456789abcdefE", verbose: false) == "a::@*::&::()::,x")
    }

    // MARK: Rust v0

    @Test("Rust v0: paths, impls, generic arguments, closures and back-references; crate hashes only in full")
    func rustV0() {
        let cases: [(String, perf: String, full: String)] = [
            ("_RNvC6_123foo3bar", "123foo::bar", "123foo[0]::bar"),
            ("_RNCNCNgCs6DXkGYLi8lr_2cc5spawn00B5_", "cc::spawn::{closure#0}::{closure#0}",
             "cc[4d6468d6c9fd4bb3]::spawn::{closure#0}::{closure#0}"),
            ("_RNCINkXs25_NgCsbmNqQUJIY6D_4core5sliceINyB9_4IterhENuNgNoBb_4iter8iterator8Iterator9rpositionNCNgNpB9_6memchr7memrchrs_0E0Bb_",
             "<core::slice::Iter<u8> as core::iter::iterator::Iterator>::rposition::<core::slice::memchr::memrchr::{closure#1}>::{closure#0}",
             "<core[846817f741e54dfd]::slice::Iter<u8> as core[846817f741e54dfd]::iter::iterator::Iterator>::rposition::<core[846817f741e54dfd]::slice::memchr::memrchr::{closure#1}>::{closure#0}"),
            ("_RINbNbCskIICzLVDPPb_5alloc5alloc8box_freeDINbNiB4_5boxed5FnBoxuEp6OutputuEL_ECs1iopQbuBiw2_3std",
             "alloc::alloc::box_free::<dyn alloc::boxed::FnBox<(), Output = ()>>",
             "alloc[f15a878b47eb696b]::alloc::box_free::<dyn alloc[f15a878b47eb696b]::boxed::FnBox<(), Output = ()>>"),
            ("_RINvCsl0gHu2WDNTj_3big5applyNCNvB2_4main0EB2_", "big::apply::<big::main::{closure#0}>",
             "big[f4a68d661a74a253]::apply::<big[f4a68d661a74a253]::main::{closure#0}>"),
            ("_RINvMNtCsgEmfK2I1SDS_4core3stre18trim_start_matchesReECsgY6Mt91CT9J_14rustc_demangle",
             "<str>::trim_start_matches::<&str>", "<str>::trim_start_matches::<&str>"),
            ("_RNvXNvNtCsjrHSEGnQ3l9_3std2io17default_write_fmtINtB2_7AdapterINtNtB4_6cursor6CursorQShEENtNtCsgEmfK2I1SDS_4core3fmt5Write9write_strB6_",
             "<std::io::default_write_fmt::Adapter<std::io::cursor::Cursor<&mut [u8]>> as core::fmt::Write>::write_str",
             "<std[e28293b1aa0f68bd]::io::default_write_fmt::Adapter<std[e28293b1aa0f68bd]::io::cursor::Cursor<&mut [u8]>> as core[c1f1a4ba060b9bfa]::fmt::Write>::write_str"),
            ("_RNvMs3_NtCslNYArtu3iFV_5alloc7raw_vecINtB5_6RawVecTOhFUKCBN_EuENtNtCsjrHSEGnQ3l9_3std5alloc6SystemE8grow_oneB13_",
             "<alloc::raw_vec::RawVec<(*mut u8, unsafe extern \"C\" fn(*mut u8)), std::alloc::System>>::grow_one",
             "<alloc[fdfd2bd8633a6659]::raw_vec::RawVec<(*mut u8, unsafe extern \"C\" fn(*mut u8)), std[e28293b1aa0f68bd]::alloc::System>>::grow_one"),
            ("_RNSNvYNCNvCsl0gHu2WDNTj_3big4mains_0INtNtNtCsgEmfK2I1SDS_4core3ops8function6FnOnceTReEE9call_once6vtableB8_",
             "<big::main::{closure#1} as core::ops::function::FnOnce<(&str,)>>::call_once::{shim:vtable#0}",
             "<big[f4a68d661a74a253]::main::{closure#1} as core[c1f1a4ba060b9bfa]::ops::function::FnOnce<(&str,)>>::call_once::{shim:vtable#0}"),
            ("_RINvNtNtCsjrHSEGnQ3l9_3std3sys9backtrace28___rust_begin_short_backtraceFEuuECsl0gHu2WDNTj_3big",
             "std::sys::backtrace::__rust_begin_short_backtrace::<fn(), ()>",
             "std[e28293b1aa0f68bd]::sys::backtrace::__rust_begin_short_backtrace::<fn(), ()>"),
            ("_RNvMNtNtCsgEmfK2I1SDS_4core3ptr9const_ptrPu13is_aligned_toCsl0gHu2WDNTj_3big",
             "<*const ()>::is_aligned_to", "<*const ()>::is_aligned_to"),
            // Const generics and arrays: constants carry their type suffix only in full.
            ("_RINvNtCsgEmfK2I1SDS_4core3ptr10swap_chunkKj8_ECsl0gHu2WDNTj_3big", "core::ptr::swap_chunk::<8>",
             "core[c1f1a4ba060b9bfa]::ptr::swap_chunk::<8usize>"),
            ("_RINvNtCs8NwYtU1Mohg_4core9panicking13assert_failedAhj4_RShECsi4IsKQVxMg0_3std",
             "core::panicking::assert_failed::<[u8; 4], &[u8]>", "core[667c7a611d73a360]::panicking::assert_failed::<[u8; 4usize], &[u8]>"),
            // Punycode identifiers (`mod gödel { fn schön }`).
            ("_RNvNtCs4eYjyvNHrqb_3uniu8gdel_5qau8schn_7qa", "uni::gödel::schön", "uni[31674169a63efd9d]::gödel::schön"),
        ]
        for (symbol, perf, full) in cases {
            #expect(Demangler.demangle(symbol, style: .perf) == perf, "\(symbol)")
            #expect(Demangler.demangle(symbol, style: .full) == full, "\(symbol)")
            #expect(Demangler.demangle(symbol, style: .none) == symbol)
        }
    }

    @Test("Rust v0: lifetimes, binders, dyn bounds, fn types and string constants")
    func rustV0Types() {
        // for<'a> fn(&'a u8) -> &'a u8, as a generic argument of a function in crate `x`.
        #expect(RustDemangler.demangle("_RINvC1x1fFG_RL0_hERL0_hE", verbose: false) == "x::f::<for<'a> fn(&'a u8) -> &'a u8>")
        #expect(RustDemangler.demangle("_RINvC1x1fDNtC1y5TraitEL_E", verbose: false) == "x::f::<dyn y::Trait>")
        #expect(RustDemangler.demangle("_RINvC1x1fKRe616263_E", verbose: false) == "x::f::<\"abc\">")
        #expect(RustDemangler.demangle("_RINvC1x1fKlnff_E", verbose: true) == "x[0]::f::<-255i32>")
        #expect(RustDemangler.demangle("_RINvC1x1fKb1_Kc41_E", verbose: false) == "x::f::<true, 'A'>")
        #expect(RustDemangler.demangle("_RINvC1x1fTaxEE", verbose: false) == "x::f::<(i8, i64)>")
        #expect(RustDemangler.demangle("_RINvC1x1fThEE", verbose: false) == "x::f::<(u8,)>")
    }

    @Test("Rust: malformed names are left alone and never crash")
    func rustMalformed() {
        for name in ["_R", "_RNv", "_RNvC3foo", "_RB_", "_RNvB0_3foo", "_RINvC1x1f", "_ZN3foo17h0123456789abcdefE",
                     "_ZN3foo3bar17hxyz3456789abcdefE", "_RNvC1x1f.llvm.\u{1}", "_Rfoo", "_ZN99999999999999999999foo17h0123456789abcdefE"] {
            let perf = Demangler.demangle(name, style: .perf)
            #expect(!perf.isEmpty)
        }
        #expect(RustDemangler.demangle("_ZN3foo3barE", verbose: false) == nil, "no hash: a C++ name")
        #expect(RustDemangler.demangle("_RNvC3foo", verbose: false) == nil, "truncated")
        #expect(RustDemangler.demangle("_RB_", verbose: false) == nil, "a back-reference must point backwards")
        // Deep nesting is refused, not followed down the stack.
        #expect(RustDemangler.demangle("_R" + String(repeating: "INv", count: 5000) + "C3foo", verbose: false) == nil)
        #expect(RustDemangler.demangle("_R" + String(repeating: "NvNv", count: 2000) + "C1x1a", verbose: false) == nil)
    }

    // MARK: Swift

    @Test("Swift: perf is the simplified form (no module, argument labels), full the runtime's, none the symbol")
    func swift() {
        let churn = "$s9swiftprog7HotspotV12churnNumbersyS2iF"
        #expect(Demangler.demangle(churn, style: .perf) == "Hotspot.churnNumbers(_:)")
        #expect(Demangler.demangle(churn, style: .full) == "swiftprog.Hotspot.churnNumbers(Swift.Int) -> Swift.Int")
        #expect(Demangler.demangle(churn, style: .none) == churn)
        let cases: [(String, String)] = [
            ("$s9swiftprog7HotspotV3foo3bar3bazySi_SStF", "Hotspot.foo(bar:baz:)"),
            ("$s9swiftprog7HotspotV3runSiyFS2icfU_", "closure #1 in Hotspot.run()"),
            ("$s9swiftprog7HotspotV3runSiyFS2icfU_TA", "partial apply for closure #1 in Hotspot.run()"),
            ("$s9swiftprog7HotspotV3runSiyFS2i_Sitcfu_", "implicit closure #1 in Hotspot.run()"),
            ("$s9swiftprog7HotspotV4makeACyFZ", "static Hotspot.make()"),
            ("$s9swiftprog7HotspotV4seedACSi_tcfC", "Hotspot.init(seed:)"),
            ("$s9swiftprog7HotspotV5countSivg", "Hotspot.count.getter"),
            ("$ss27_finalizeUninitializedArrayySayxGABnlF", "_finalizeUninitializedArray<A>(_:)"),
            // Swift 4.2 and 4.0 manglings, LLVM's merged suffix and an unmangled suffix.
            ("$S9swiftprog7HotspotV12churnNumbersyS2iF", "Hotspot.churnNumbers(_:)"),
            ("_T09swiftprog7HotspotV12churnNumbersS2iF", "Hotspot.churnNumbers(_:)"),
            ("$s9swiftprog7HotspotV12churnNumbersyS2iFTm", "Hotspot.churnNumbers(_:)"),
            ("$s9swiftprog7HotspotV12churnNumbersyS2iF.cold.1", "Hotspot.churnNumbers(_:)"),
        ]
        for (symbol, simplified) in cases {
            #expect(Demangler.demangle(symbol, style: .perf) == simplified, "\(symbol)")
            #expect(Demangler.demangle(symbol, style: .full).hasPrefix(symbol) == false, "\(symbol)")
        }
        // What the runtime cannot demangle stays as it is.
        #expect(Demangler.demangle("$sfoo", style: .perf) == "$sfoo")
        #expect(Demangler.demangle("$s", style: .full) == "$s")
    }

    @Test("Swift simplifier: specializations, witnesses, thunks, sugar, private and extension contexts")
    func swiftSimplifier() {
        let cases: [(String, String)] = [
            ("generic specialization <Swift.String, Foundation.JSONValue> of Swift._NativeDictionary._insert(at: Swift._HashTable.Bucket, key: __owned A, value: __owned B) -> ()",
             "specialized _NativeDictionary._insert(at:key:value:)"),
            ("function signature specialization <Arg[2] = Dead> of generic specialization <serialized, Swift.String, Swift.String> of static (extension in Swift):Swift.StringProtocol.== infix<A where A1: Swift.StringProtocol>(A, A1) -> Swift.Bool",
             "specialized static StringProtocol.== infix<A>(_:_:)"),
            ("protocol witness for Swift.RandomAccessCollection.index(_: A.Index, offsetBy: Swift.Int, limitedBy: A.Index) -> Swift.Optional<A.Index> in conformance _FoundationCollections.OrderedSet<A>.SubSequence : Swift.RandomAccessCollection in _FoundationCollections",
             "protocol witness for RandomAccessCollection.index(_:offsetBy:limitedBy:) in conformance OrderedSet<A>.SubSequence"),
            ("reabstraction thunk helper from @callee_guaranteed (@unowned Swift.Int) -> (@unowned Swift.Int) to @escaping @callee_guaranteed (@in_guaranteed Swift.Int) -> (@out Swift.Int, @error @out Swift.Never)",
             "thunk for @callee_guaranteed (@unowned Int) -> (@unowned Int)"),
            ("(3) suspend resume partial function for closure #1 () async throws -> () in FlamedDaemon.SamplingService.run() async throws -> ()",
             "closure #1 in SamplingService.run()"),
            ("lazy protocol witness table accessor for type Swift.LazySequence<Swift.Array<ArgumentParser.ArgumentDefinition>> and conformance Swift.LazySequence<A> : Swift.LazySequenceProtocol in Swift",
             "lazy protocol witness table accessor for type LazySequence<[ArgumentDefinition]> and conformance LazySequence<A>"),
            ("Foundation.NSKeyedUnarchiver.(_validateAndMapClassDictionary in _8A4A1351250253AE495C4D706D70227B)(_: Swift.Optional<Swift.Dictionary<Swift.String, Any>>, allowedClasses: Swift.Optional<Swift.Array<Swift.AnyObject.Type>>, classToConstruct: inout Swift.Optional<Swift.AnyObject.Type>) -> Swift.Bool",
             "NSKeyedUnarchiver._validateAndMapClassDictionary(_:allowedClasses:classToConstruct:)"),
            ("(extension in SystemPackage):Swift.String.init(platformString: Swift.Array<Swift.Int8>) -> Swift.String",
             "String.init(platformString:)"),
            ("Swift.Dictionary._variant.modify : Swift.Dictionary<A, B>._Variant with unmangled suffix \".resume.0\"", "Dictionary._variant.modify"),
            ("fail #1 (code: FoundationEssentials.CocoaError.Code, _: Swift.String) -> () in Foundation.NSCharacterSet.init(coder: Foundation.NSCoder) -> Swift.Optional<Foundation.NSCharacterSet>",
             "fail #1 (code:_:) in NSCharacterSet.init(coder:)"),
            ("offsetInFile.getter : Swift.UInt64 in NullDevice #1 in closure #1 () -> Foundation.FileHandle in variable initialization expression of static Foundation.FileHandle._nulldeviceFileHandle : Foundation.FileHandle",
             "offsetInFile.getter in NullDevice #1 in closure #1 in variable initialization expression of static FileHandle._nulldeviceFileHandle"),
            ("default argument 1 of Swift.print(_: Any..., separator: Swift.String, terminator: Swift.String) -> ()",
             "default argument 1 of print(_:separator:terminator:)"),
            ("static Swift.Int.+ infix(Swift.Int, Swift.Int) -> Swift.Int", "static Int.+ infix(_:_:)"),
            ("static Swift.Comparable...< infix(A, A) -> Swift.Range<A>", "static Comparable...< infix(_:_:)"),
            ("outlined destroy of Swift.Optional<(Swift.Int) -> ()>", "outlined destroy of ((Int) -> ())?"),
            ("vtable thunk for Foundation.Formatter.string(for: Any) -> Swift.Optional<Swift.String> dispatching to Foundation.ByteCountFormatter.string(for: Swift.Optional<Any>) -> Swift.Optional<Swift.String>",
             "vtable thunk for Formatter.string(for:) dispatching to ByteCountFormatter.string(for:)"),
            ("key path getter for ArgumentParser.HelpCommand.help : Swift.Bool : ArgumentParser.HelpCommand", "key path getter for HelpCommand.help : HelpCommand"),
            // Swift Testing's generated functions: a function type's attributes right after the name.
            ("$s13PerfDataTests010CompressedC0V04pipeD04TestfMp_7__localfMu0_ #1 @Sendable (isolated Swift.Optional<Swift.Actor>) async throws -> () in static PerfDataTests.CompressedTests.($s13PerfDataTests010CompressedC0V04pipeD04TestfMp_17Z858ba6c84ed3e5fefMu_ in _5B40B4ECB9307F6010197912DCF2F0F3)@Sendable () async throws -> ()",
             "$s13PerfDataTests010CompressedC0V04pipeD04TestfMp_7__localfMu0_ #1 @Sendable (_:) in static CompressedTests.$s13PerfDataTests010CompressedC0V04pipeD04TestfMp_17Z858ba6c84ed3e5fefMu_@Sendable ()"),
        ]
        for (full, simplified) in cases {
            #expect(SwiftNameSimplifier.simplify(full) == simplified, "\(full)")
        }
    }

    @Test("Swift simplifier: unbalanced or truncated text never crashes")
    func swiftSimplifierRobust() {
        for text in ["", "(", ")", "<", ">", "->", "a.(", "closure #1 ", "x #1 (", "generic specialization <", " : ", " in ",
                     "Swift.Optional<", "Swift.Dictionary<A>", "(extension in ", "a.b(c: d", "reabstraction thunk helper from x",
                     "τ_0_0.A.B.C", "Swift...", "Swift.<"] {
            _ = SwiftNameSimplifier.simplify(text)
        }
    }
}
