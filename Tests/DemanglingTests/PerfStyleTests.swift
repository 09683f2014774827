import Testing
@testable import Demangling

@Suite("Demangling as perf prints it")
struct DemanglerTests {
    @Test("C++ names lose the top-level parameters and return type, keep nested ones")
    func cxx() {
        #expect(Demangler.perfStyle("_ZN2ns1K4spinIlEElT_RSt6vectorIiSaIiEE") == "ns::K::spin<long>")
        #expect(Demangler.perfStyle("_Z3fooi") == "foo")
        #expect(Demangler.perfStyle("_ZNK3Foo3barEv") == "Foo::bar")
        #expect(Demangler.perfStyle("_ZThn8_N4llvm13FPPassManagerD1Ev") == "non-virtual thunk to llvm::FPPassManager::~FPPassManager()")
        #expect(Demangler.perfStyle("main") == "main")
        #expect(Demangler.perfStyle("_Znot_valid") == "_Znot_valid")
        #expect(Demangler.stripSignature("f(int) const::$_0::operator()(int) const") == "f(int) const::$_0::operator()")
    }
}
