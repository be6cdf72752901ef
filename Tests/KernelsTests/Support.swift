import Foundation
import Kernels
import TestSupport

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
    /// Runs `body` on a scratch copy that lives until `body` returns. (`copy().p` passed straight to a call
    /// dangles: nothing holds the temporary copy once its pointer is read, and it may be freed before the call.)
    func withCopy<R>(_ body: (UnsafeMutablePointer<Float>) -> R) -> R {
        let b = copy()
        return withExtendedLifetime(b) { body(b.p) }
    }
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

/// The same over the rows × cols block of two matrices with row stride ld (padding columns are not compared).
func worstError(_ a: Buffer, _ b: Buffer, rows: Int, cols: Int, ld: Int, atol: Float, rtol: Float) -> Float {
    var worst: Float = 0
    for i in 0..<rows {
        for j in 0..<cols {
            let x = a[i * ld + j], y = b[i * ld + j]
            if x.isNaN || y.isNaN { return .infinity }
            worst = max(worst, abs(x - y) / (atol + rtol * abs(y)))
        }
    }
    return worst
}
