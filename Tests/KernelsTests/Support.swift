import Foundation
import Kernels

/// A seeded generator (SplitMix64); tests draw a fresh seed each run and print it on failure.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func freshSeed() -> UInt64 { UInt64.random(in: 0...UInt64.max) }

/// A heap buffer of floats, freed on deinit.
final class Buffer {
    let count: Int
    let p: UnsafeMutablePointer<Float>
    init(_ count: Int) {
        self.count = count
        p = .allocate(capacity: max(count, 1))
        p.initialize(repeating: .nan, count: max(count, 1))
    }
    convenience init(random count: Int, _ rng: inout SplitMix64, scale: Float = 1) {
        self.init(count)
        for i in 0..<count { p[i] = Float.random(in: -scale...scale, using: &rng) }
    }
    convenience init(_ values: [Float]) {
        self.init(values.count)
        for (i, v) in values.enumerated() { p[i] = v }
    }
    /// Fills with NaN so any element a kernel should write but does not is caught.
    func poison() { p.update(repeating: .nan, count: count) }
    func copy() -> Buffer { let b = Buffer(count); b.p.update(from: p, count: count); return b }
    var array: [Float] { Array(UnsafeBufferPointer(start: p, count: count)) }
    subscript(i: Int) -> Float { get { p[i] } set { p[i] = newValue } }
    deinit { p.deallocate() }
}

/// Largest |a - b| / (atol + rtol·|b|); ≤ 1 means within tolerance. NaN anywhere gives infinity.
func worstError(_ a: Buffer, _ b: Buffer, atol: Float, rtol: Float) -> Float {
    var worst: Float = 0
    for i in 0..<a.count {
        let x = a[i], y = b[i]
        if x.isNaN || y.isNaN { return .infinity }
        worst = max(worst, abs(x - y) / (atol + rtol * abs(y)))
    }
    return worst
}

func worstError(_ a: [Float], _ b: [Float], atol: Float, rtol: Float) -> Float {
    worstError(Buffer(a), Buffer(b), atol: atol, rtol: rtol)
}
