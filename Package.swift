// swift-tools-version:6.2
import PackageDescription

// Kernels are compiled for AVX2 + FMA: without a CPU flag Swift lowers SIMD `.addingProduct` to scalar
// `fmaf` calls (~100x slower). `haswell` is the portable x86-64 baseline that has both. `-Ounchecked` keeps the
// kernels optimised in a debug build of a package that depends on lmtrain, where they would otherwise run at
// -Onone; it is confined to these two targets, whose code works on raw pointers and has no preconditions.
//
// Since SwiftPM 6.2 a package whose manifest says tools version 6.2 or later may use unsafeFlags and still be
// depended on by version (before, SwiftPM refused such products in dependencies); `ConsumerPackageTests`
// builds a package that depends on this one by URL and version to keep that true.
let kernelFlags: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-target-cpu", "haswell"]),
]

// The AVX-512 micro-kernel lives in its own module so only it is compiled for AVX-512; it is called after a
// CPUID check, so the binary still runs on AVX2-only CPUs.
let avx512Flags: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-target-cpu", "skylake-avx512"]),
]

/// Targets that hand no raw buffers to worker threads themselves are checked by the Swift 6 concurrency model.
let swift6: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
    name: "lmtrain",
    products: [
        .executable(name: "lmtrain", targets: ["lmtrain"]),
        // What other Swift packages can use: the tokenizer, a run loaded for inference, decoding (beam search,
        // sampling, translation), the metrics and the exports to Hugging Face and CTranslate2.
        .library(name: "Tokenizer", targets: ["Tokenizer"]),
        .library(name: "Runs", targets: ["Runs"]),
        .library(name: "Decoding", targets: ["Decoding"]),
        .library(name: "Evaluation", targets: ["Evaluation"]),
        .library(name: "Kernels", targets: ["Kernels"]),
        .library(name: "Export", targets: ["Export"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // MARK: - C shims
        .target(
            name: "CICU",
            linkerSettings: [.linkedLibrary("icuuc"), .linkedLibrary("icudata")]
        ),
        // -O2 in every configuration: the GEMM's packing transposes and the AMX kernel live here.
        .target(name: "CKernelSupport", cSettings: [.unsafeFlags(["-O2"])]),

        // MARK: - Libraries (the DAG is drawn in README's layout section)
        .target(name: "FileIO", swiftSettings: swift6),
        .target(name: "Tokenizer", dependencies: ["CICU", "FileIO"]),
        .target(name: "KernelsAVX512", dependencies: ["CKernelSupport"], swiftSettings: avx512Flags),
        .target(name: "Kernels", dependencies: ["CKernelSupport", "KernelsAVX512"], swiftSettings: kernelFlags),
        .target(name: "Model", dependencies: ["Kernels"], swiftSettings: swift6),
        .target(name: "Datasets", dependencies: ["Tokenizer", "FileIO", "Kernels"]),
        .target(name: "Runs", dependencies: ["Model", "Tokenizer", "Datasets", "FileIO"], swiftSettings: swift6),
        .target(name: "Evaluation", dependencies: ["Model", "Kernels", "Datasets"], swiftSettings: swift6),
        .target(name: "Decoding", dependencies: ["Model", "Kernels", "Tokenizer", "Datasets", "Evaluation", "Runs"], swiftSettings: swift6),
        .target(name: "Training", dependencies: ["Runs", "Model", "Kernels", "Tokenizer", "Datasets", "Evaluation", "FileIO"], swiftSettings: swift6),
        .target(name: "Export", dependencies: ["Runs", "Model", "Tokenizer", "FileIO"], swiftSettings: swift6),
        // The loaders as functions of bytes, for libFuzzer (scripts/fuzz) and for replaying its findings in tests.
        .target(name: "FuzzHarness", dependencies: ["Model", "Runs", "Tokenizer", "Datasets", "Training", "Kernels"], swiftSettings: swift6),

        // MARK: - Executables
        .executableTarget(
            name: "lmtrain",
            dependencies: [
                "Tokenizer", "Kernels", "Model", "Datasets", "Runs", "Training", "Decoding", "Evaluation", "FileIO", "Export",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swift6
        ),

        // MARK: - Tests
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "FileIOTests", dependencies: ["FileIO", "TestSupport"]),
        .testTarget(name: "TokenizerTests", dependencies: ["Tokenizer", "FileIO", "TestSupport"]),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "CKernelSupport", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "ModelTests", dependencies: ["Model", "Training", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Runs", "Datasets", "Model", "Kernels", "Tokenizer", "Evaluation", "Decoding", "FileIO", "TestSupport"]),
        .testTarget(name: "DecodingTests", dependencies: ["Decoding", "Model", "Kernels", "TestSupport"]),
        .testTarget(name: "EvaluationTests", dependencies: ["Evaluation", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "ExportTests", dependencies: ["Export", "Runs", "Model", "Tokenizer", "TestSupport"]),
        .testTarget(name: "CLITests", dependencies: ["TestSupport"], exclude: ["Consumer"]),
        .testTarget(name: "FuzzHarnessTests", dependencies: ["FuzzHarness", "TestSupport"], exclude: ["Inputs"]),
    ],
    // Swift 5 mode by default, for Tokenizer, Datasets and the kernels: they share raw buffers with worker threads,
    // which the Swift 6 checker cannot prove safe; the data races it guards against are excluded by their row
    // partitioning. Every other target opts in to Swift 6 above.
    swiftLanguageModes: [.v5]
)

// The libFuzzer driver (Fuzz/) is a target only when scripts/fuzz builds it: it links libFuzzer, which only an
// instrumented build (-sanitize=fuzzer) provides, so a plain `swift build` must not see it.
if Context.environment["LMTRAIN_FUZZ"] == "1" {
    package.targets.append(.target(name: "CFuzzer", path: "Fuzz/CFuzzer"))
    package.targets.append(.executableTarget(name: "lmtrain-fuzz", dependencies: ["FuzzHarness", "CFuzzer"], path: "Fuzz/Entry",
                                             swiftSettings: swift6))
    package.products.append(.executable(name: "lmtrain-fuzz", targets: ["lmtrain-fuzz"]))
}
