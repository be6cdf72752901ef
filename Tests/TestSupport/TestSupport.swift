import Foundation

/// The package root, found from this file's path (tests run from any directory).
public let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// A file under corpora/.
public func corpusPath(_ relative: String) -> String { repositoryRoot.appendingPathComponent("corpora/" + relative).path }

/// A new empty directory under the system's temporary directory.
public func temporaryDirectory(_ prefix: String = "lmtrain-test") -> URL {
    let d = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID())")
    try! FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
    return d
}

/// The seed of a randomised test case: fixed by default, so a run is repeatable and CI cannot flake;
/// `LMTRAIN_TEST_SEED=N` replays seed N, `LMTRAIN_TEST_SEED=random` draws a new one per case (to search for
/// failures). `salt` gives the cases of one test different streams. Failure messages print it with `seedNote`.
public func testSeed(_ salt: UInt64 = 0) -> UInt64 {
    let base: UInt64
    switch ProcessInfo.processInfo.environment["LMTRAIN_TEST_SEED"] {
    case "random"?: return UInt64.random(in: 0...UInt64.max)
    case let s?: base = UInt64(s) ?? 0x5EED
    case nil: base = 0x5EED
    }
    var g = SeededGenerator(seed: base ^ (salt &* 0x9E37_79B9_7F4A_7C15))
    return g.next()
}

/// What a failure message says of its seed: the value and how to replay it.
public func seedNote(_ seed: UInt64) -> String { "seed \(seed); replay with LMTRAIN_TEST_SEED=\(seed)" }

/// SplitMix64 as a Swift random generator, for tests of targets that do not see Kernels' generator.
public struct SeededGenerator: RandomNumberGenerator {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Largest |a − b| / (atol + rtol·|b|) over two arrays of equal length; ≤ 1 means within tolerance. NaN anywhere,
/// or a length mismatch, gives infinity.
public func worstError(_ a: [Float], _ b: [Float], atol: Float, rtol: Float) -> Float {
    guard a.count == b.count else { return .infinity }
    var worst: Float = 0
    for i in a.indices {
        let x = a[i], y = b[i]
        if x.isNaN || y.isNaN { return .infinity }
        worst = max(worst, abs(x - y) / (atol + rtol * abs(y)))
    }
    return worst
}
