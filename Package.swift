// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "statelab",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "statelab", targets: ["statelab"]),
        .library(name: "StateLab", targets: ["StateLab"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-atomics", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
    ],
    targets: [
        .systemLibrary(name: "CNCurses", path: "Sources/CNCurses"),
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite"),
        .target(name: "CSupport", path: "Sources/CSupport"),
        .target(
            name: "StateLab",
            dependencies: [
                "CSQLite",
                "CSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                // For FuzzEntryPoints, which drives LoadResponseDecoder in an EmbeddedChannel.
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            // The worker and the load generator run here, a request at a time: release builds
            // skip the runtime's exclusivity checks (measured by callgrind: about 1,900 of a
            // worker's 17,300 instructions a request, 2,300 in the load generator). Debug builds,
            // and so the tests, keep them.
            swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]
        ),
        .target(
            name: "StateLabDashboard",
            dependencies: [
                "StateLab",
                "CNCurses",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "statelab",
            dependencies: [
                "StateLab",
                "StateLabDashboard",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The libFuzzer harness (Fuzz/run.sh builds it with -DSTATELAB_FUZZ and the
        // fuzzer sanitizer); a normal build makes a tool that replays saved inputs.
        .executableTarget(name: "statelab-fuzz", dependencies: ["StateLab"]),
        .testTarget(
            name: "StateLabTests",
            dependencies: [
                "StateLab",
                "StateLabTestSupport",
                "CSQLite",
                "CSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        .target(name: "StateLabTestSupport", dependencies: ["StateLab"], path: "Tests/Support"),
        .testTarget(name: "StateLabDashboardTests", dependencies: ["StateLabDashboard", "StateLab", "StateLabTestSupport"]),
        .testTarget(name: "EndToEndTests", dependencies: ["StateLab", "StateLabTestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
