// swift-tools-version:6.0
import PackageDescription

// Kernels are compiled for AVX2 + FMA: without a CPU flag Swift lowers SIMD `.addingProduct` to scalar
// `fmaf` calls (~100x slower). `haswell` is the portable x86-64 baseline that has both.
let kernelFlags: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-target-cpu", "haswell"]),
]

// The AVX-512 micro-kernel lives in its own module so only it is compiled for AVX-512; it is called after a
// CPUID check, so the binary still runs on AVX2-only CPUs.
let avx512Flags: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-target-cpu", "skylake-avx512"]),
]

let package = Package(
    name: "lmtrain",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "lmtrain", targets: ["lmtrain"]),
        .library(name: "Tokenizer", targets: ["Tokenizer"]),
        .library(name: "Kernels", targets: ["Kernels"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // MARK: - C shims
        .target(
            name: "CICU",
            cSettings: [.unsafeFlags(["-O2"])],
            linkerSettings: [.linkedLibrary("icuuc"), .linkedLibrary("icudata")]
        ),
        .target(name: "CKernelSupport", cSettings: [.unsafeFlags(["-O2"])]),

        // MARK: - Libraries
        .target(name: "Tokenizer", dependencies: ["CICU"]),
        .target(name: "KernelsAVX512", dependencies: ["CKernelSupport"], swiftSettings: avx512Flags),
        .target(name: "Kernels", dependencies: ["CKernelSupport", "KernelsAVX512"], swiftSettings: kernelFlags),
        .target(name: "Model", dependencies: ["Kernels"], swiftSettings: [.unsafeFlags(["-Ounchecked"])]),
        .target(name: "Training", dependencies: ["Model", "Kernels", "Tokenizer", "Decoding", "Evaluation"]),
        .target(name: "Decoding", dependencies: ["Model", "Kernels"]),
        .target(name: "Evaluation"),

        // MARK: - Executables
        .executableTarget(
            name: "lmtrain",
            dependencies: [
                "Tokenizer", "Kernels", "Model", "Training", "Decoding", "Evaluation",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // MARK: - Tests
        .testTarget(name: "TokenizerTests", dependencies: ["Tokenizer"]),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "CKernelSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "ModelTests", dependencies: ["Model", "Training"], exclude: ["Fixtures"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Model", "Kernels", "Tokenizer", "Evaluation"]),
        .testTarget(name: "DecodingTests", dependencies: ["Decoding", "Model", "Kernels"]),
        .testTarget(name: "EvaluationTests", dependencies: ["Evaluation"]),
        .testTarget(name: "CLITests", dependencies: []),
    ],
    // Swift 5 mode: kernels share raw pointers with a worker pool, which the Swift 6 checker cannot
    // prove safe; the data races it guards against are excluded by the kernels' row partitioning.
    swiftLanguageModes: [.v5]
)
