// swift-tools-version:6.0
import PackageDescription

// Dependencies run one way: shim -> system -> core libraries -> pipeline -> CLI.

/// Release builds skip the run-time exclusivity checks (about a tenth of report's time on
/// the per-frame path); debug builds, which the tests run, keep them, so a violation is
/// still caught there.
let releaseSpeed: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let package = Package(
    name: "flamed",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "flamed", targets: ["flamed"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        // Kernel and C-library glue that Swift cannot reach directly.
        .target(name: "CFlamedShim", linkerSettings: [.linkedLibrary("stdc++"), .linkedLibrary("cap")]),
        .systemLibrary(name: "CLibElf", pkgConfig: "libelf", providers: [.apt(["libelf-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CLZMA", pkgConfig: "liblzma", providers: [.apt(["liblzma-dev"])]),
        // Parsers of the text the kernel writes in /proc and /sys (maps, status, cgroup, CPU
        // lists): pure, no I/O; FlamedSystem reads the bytes.
        .target(name: "ProcText"),
        // The only module that calls the kernel: files, mappings, perf events, rings, /proc,
        // sockets, capabilities (and libzstd).
        .target(
            name: "FlamedSystem",
            dependencies: [
                "CFlamedShim", "CZstd", "ProcText",
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        // ELF parsed from bytes (libelf, liblzma for MiniDebugInfo): segments, symbols, notes,
        // build id, debuglink. No I/O of its own.
        .target(name: "ObjectFile", dependencies: ["FlamedSystem", "CLibElf", "CLZMA"], swiftSettings: releaseSpeed),
        // C++ (through the shim), Rust and Swift demangling: pure, no I/O, fuzzable alone.
        .target(name: "Demangling", dependencies: ["CFlamedShim", "FlamedCollections"], swiftSettings: releaseSpeed),
        // Pure perf.data decoding: header, attributes, features and records.
        .target(name: "PerfData", dependencies: ["FlamedSystem"], swiftSettings: releaseSpeed),
        // Address spaces, ELF and kallsyms symbol tables.
        .target(
            name: "Symbolizer",
            dependencies: ["FlamedSystem", "ObjectFile", "Demangling", "ProcText", "FlamedCollections", .product(name: "Logging", package: "swift-log")],
            swiftSettings: releaseSpeed
        ),
        // Small, fast collections for the hot paths (pure Swift).
        .target(name: "FlamedCollections", swiftSettings: releaseSpeed),
        // The flame tree: interned names, insertion-ordered children.
        .target(name: "FlameGraph", dependencies: ["FlamedCollections"], swiftSettings: releaseSpeed),
        // JSON, folded and HTML renderers.
        .target(name: "FlameRender", dependencies: ["FlameGraph"], exclude: ["Viewer"], swiftSettings: releaseSpeed),
        // The pipeline core: process model, stack source, aggregator, naming step.
        .target(
            name: "FlamedPipeline",
            dependencies: ["PerfData", "Symbolizer", "FlameGraph", "FlamedSystem", "FlamedCollections", "ProcText"],
            swiftSettings: releaseSpeed
        ),
        // perf.data -> the pipeline -> flame tree, on one thread or several.
        .target(
            name: "FlamedReport",
            dependencies: [
                "FlamedPipeline", "PerfData", "Symbolizer", "Demangling", "FlameGraph", "FlameRender", "FlamedSystem", "FlamedCollections",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: releaseSpeed
        ),
        // Live sampling: perf_event_open per CPU, ring buffers, /proc synthesis, time-ordered
        // records into the pipeline.
        .target(
            name: "FlamedLive",
            dependencies: [
                "FlamedPipeline", "PerfData", "Symbolizer", "Demangling", "FlameGraph", "FlameRender", "FlamedSystem", "ProcText",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: releaseSpeed
        ),
        // The always-on daemon: configuration, the rolling window tree, snapshots, the
        // control socket; each part a swift-service-lifecycle Service.
        .target(
            name: "FlamedDaemon",
            dependencies: [
                "FlamedLive", "FlamedReport", "Symbolizer", "Demangling", "FlameGraph", "FlameRender", "FlamedSystem", "FlamedCollections",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "flamed",
            dependencies: [
                "FlamedDaemon", "FlamedLive", "FlamedReport", "Symbolizer", "Demangling", "FlameGraph", "FlameRender", "FlamedSystem", "FlamedCollections",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Test support (not part of flamed): running commands and the flamed binary, and
        // `.requires(...)`, which skips a test whose tool is missing but fails it with CI=true.
        .target(name: "FlamedTestSupport", dependencies: ["FlamedSystem", "ObjectFile"], path: "Tests/FlamedTestSupport"),
        // Writes perf.data files byte by byte for the tests (not part of flamed).
        .target(name: "PerfDataBuilder", dependencies: ["PerfData"], path: "Tests/PerfDataBuilder"),
        .testTarget(
            name: "PerfDataTests",
            dependencies: ["PerfData", "PerfDataBuilder", "FlamedSystem", "FlamedTestSupport"]
        ),
        .testTarget(name: "FlamedDaemonTests", dependencies: ["FlamedDaemon", "FlameGraph", "FlamedSystem", "FlamedCollections", "PerfData", "FlamedTestSupport"]),
        // The system module: rings (records decoded as the live sampler does), sockets,
        // permissions, /proc.
        .testTarget(name: "FlamedSystemTests", dependencies: ["FlamedSystem", "PerfData", "ProcText", "FlamedTestSupport"]),
        .testTarget(name: "FlamedLiveTests", dependencies: ["FlamedLive", "FlamedSystem"]),
        .testTarget(name: "FlameRenderTests", dependencies: ["FlameRender", "FlameGraph", "FlamedTestSupport"]),
        // ELF images, CRC-32, xz and string tables, from bytes (files mapped through FlamedSystem).
        .testTarget(name: "ObjectFileTests", dependencies: ["ObjectFile", "FlamedSystem", "FlamedTestSupport"]),
        .testTarget(
            name: "SymbolizerTests",
            dependencies: ["Symbolizer", "ObjectFile", "FlamedSystem", "ProcText", "FlamedTestSupport", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(name: "DemanglingTests", dependencies: ["Demangling"]),
        .testTarget(
            name: "FlamedIntegrationTests",
            dependencies: [
                "FlamedReport", "FlamedPipeline", "FlameGraph", "FlameRender", "Symbolizer", "Demangling", "PerfData", "ProcText", "flamed",
                "FlamedTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["Fixtures", "Browser"]
        ),
        // perf.data files written by PerfDataBuilder, through the flamed binary, against
        // committed folded and JSON outputs (FLAMED_BLESS=1 rewrites them).
        .testTarget(
            name: "FlamedGoldenTests",
            dependencies: ["PerfDataBuilder", "PerfData", "FlamedTestSupport", "flamed"],
            exclude: ["Fixtures"]
        ),
    ]
)
