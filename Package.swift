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
        // The only module that touches Unsafe* pointers, syscalls, libelf, libzstd and liblzma.
        .target(
            name: "FlamedSystem",
            dependencies: [
                "CFlamedShim", "CLibElf", "CZstd", "CLZMA",
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        // Pure perf.data decoding: header, attributes, features and records.
        .target(name: "PerfData", dependencies: ["FlamedSystem"], swiftSettings: releaseSpeed),
        // Address spaces, ELF and kallsyms symbol tables, demangling.
        .target(
            name: "Symbolizer",
            dependencies: ["FlamedSystem", "FlamedCollections", .product(name: "Logging", package: "swift-log")],
            swiftSettings: releaseSpeed
        ),
        // Small, fast collections for the hot paths (pure Swift).
        .target(name: "FlamedCollections", swiftSettings: releaseSpeed),
        // The flame tree: interned names, insertion-ordered children.
        .target(name: "FlameGraph", dependencies: ["FlamedCollections"], swiftSettings: releaseSpeed),
        // JSON, folded and HTML renderers.
        .target(name: "FlameRender", dependencies: ["FlameGraph"], exclude: ["Viewer"], swiftSettings: releaseSpeed),
        // perf.data -> symbolized samples -> flame tree.
        .target(
            name: "FlamedReport",
            dependencies: [
                "PerfData", "Symbolizer", "FlameGraph", "FlameRender", "FlamedSystem", "FlamedCollections",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: releaseSpeed
        ),
        // Live sampling: perf_event_open per CPU, ring buffers, /proc synthesis, time-ordered
        // records into the report's symbolizer and tree.
        .target(
            name: "FlamedLive",
            dependencies: [
                "FlamedReport", "PerfData", "Symbolizer", "FlameGraph", "FlameRender", "FlamedSystem",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: releaseSpeed
        ),
        // The always-on daemon: configuration, the rolling window tree, snapshots, the
        // control socket; each part a swift-service-lifecycle Service.
        .target(
            name: "FlamedDaemon",
            dependencies: [
                "FlamedLive", "FlamedReport", "Symbolizer", "FlameGraph", "FlameRender", "FlamedSystem",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "flamed",
            dependencies: [
                "FlamedDaemon", "FlamedLive", "FlamedReport", "Symbolizer", "FlameRender", "FlamedSystem",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Test support (not part of flamed): running commands and the flamed binary, and
        // `.requires(...)`, which skips a test whose tool is missing but fails it with CI=true.
        .target(name: "FlamedTestSupport", path: "Tests/FlamedTestSupport"),
        // Writes perf.data files byte by byte for the tests (not part of flamed).
        .target(name: "PerfDataBuilder", dependencies: ["PerfData"], path: "Tests/PerfDataBuilder"),
        .testTarget(
            name: "PerfDataTests",
            dependencies: ["PerfData", "PerfDataBuilder", "FlamedSystem", "FlamedTestSupport"]
        ),
        .testTarget(name: "FlamedDaemonTests", dependencies: ["FlamedDaemon", "FlameGraph", "FlamedSystem", "FlamedTestSupport"]),
        // The system module: rings (records decoded as the live sampler does), sockets,
        // permissions, /proc.
        .testTarget(name: "FlamedSystemTests", dependencies: ["FlamedSystem", "PerfData", "FlamedTestSupport"]),
        .testTarget(name: "FlameRenderTests", dependencies: ["FlameRender", "FlameGraph"]),
        .testTarget(
            name: "SymbolizerTests",
            dependencies: ["Symbolizer", "FlamedSystem", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(
            name: "FlamedIntegrationTests",
            dependencies: [
                "FlamedReport", "FlameGraph", "FlameRender", "Symbolizer", "PerfData", "flamed", "FlamedTestSupport",
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
