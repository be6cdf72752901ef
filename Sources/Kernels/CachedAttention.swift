import Foundation

// Attention of one new query per row over that row's cached keys and values: the inner step of incremental
// decoding, shared by the language model's key/value cache and the translation decoder's self- and
// cross-attention. Dims legend: R rows (hypotheses), H heads of hs features (C = H·hs), L_r positions visible
// to row r. Row r's cached position j starts at keys + offsets[r] + j·ldkv (values likewise), head h at h·hs.

/// out[r, h] = softmax(scale · q[r, h] · K[r, h, j]ᵀ over j < lengths[r]) · V[r, h]. Rows × heads are spread over
/// the pool's threads; scores are kept in `scores`, one row of `ldScores` per (row, head).
public func cachedAttentionForward(out: UnsafeMutablePointer<Float>, ldo: Int,   // [R, ldo], head h at h·hs
                                   q: UnsafePointer<Float>, ldq: Int,             // [R, ldq], head h at h·hs
                                   keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
                                   offsets: UnsafePointer<Int>,                   // [R] first cached position of each row
                                   ldkv: Int,                                     // floats from one position to the next
                                   lengths: UnsafePointer<Int32>,                 // [R] visible positions (≥ 1)
                                   R: Int, H: Int, hs: Int, scale: Float,
                                   scores: UnsafeMutablePointer<Float>, ldScores: Int,   // [R·H, ldScores] scratch
                                   pool: ThreadPool) {
    pool.parallelFor(R * H, minimumPerThread: 4) { items in
        for item in items {
            let r = item / H, h = item % H, n = Int(lengths[r])
            let qh = q + r * ldq + h * hs, s = scores + item * ldScores
            let k = keys + offsets[r] + h * hs, v = values + offsets[r] + h * hs
            for j in 0..<n { s[j] = dotProduct(qh, k + j * ldkv, hs) }
            softmaxRowInPlace(s, count: n, scale: scale)
            let o = out + r * ldo + h * hs
            o.update(repeating: 0, count: hs)
            for j in 0..<n { addScaled(o, s[j], v + j * ldkv, hs) }
        }
    }
}

/// The reference: the same attention, one scalar loop per (row, head), sums and softmax in Double.
public func cachedAttentionForwardNaive(out: UnsafeMutablePointer<Float>, ldo: Int,
                                        q: UnsafePointer<Float>, ldq: Int,
                                        keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
                                        offsets: UnsafePointer<Int>, ldkv: Int, lengths: UnsafePointer<Int32>,
                                        R: Int, H: Int, hs: Int, scale: Float) {
    for r in 0..<R {
        let n = Int(lengths[r])
        for h in 0..<H {
            var s = [Double](repeating: 0, count: n)
            for j in 0..<n {
                var d = 0.0
                for i in 0..<hs { d += Double(q[r * ldq + h * hs + i]) * Double(keys[offsets[r] + j * ldkv + h * hs + i]) }
                s[j] = Double(scale) * d
            }
            let m = s.max()!
            var total = 0.0
            for j in 0..<n { s[j] = Foundation.exp(s[j] - m); total += s[j] }
            for i in 0..<hs {
                var acc = 0.0
                for j in 0..<n { acc += s[j] / total * Double(values[offsets[r] + j * ldkv + h * hs + i]) }
                out[r * ldo + h * hs + i] = Float(acc)
            }
        }
    }
}

/// Σ a[i]·b[i] over n floats (eight lanes, then the tail).
@inline(__always)
func dotProduct(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = SIMD8<Float>()
    var i = 0
    while i + 8 <= n {
        acc = acc.addingProduct(UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self),
                                UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Float>.self))
        i += 8
    }
    var s = (acc[0] + acc[1]) + (acc[2] + acc[3]) + (acc[4] + acc[5]) + (acc[6] + acc[7])
    while i < n { s += a[i] * b[i]; i += 1 }
    return s
}

/// y += α·x over n floats.
@inline(__always)
func addScaled(_ y: UnsafeMutablePointer<Float>, _ alpha: Float, _ x: UnsafePointer<Float>, _ n: Int) {
    var i = 0
    let a8 = SIMD8<Float>(repeating: alpha)
    while i + 8 <= n {
        let yv = UnsafeRawPointer(y + i).loadUnaligned(as: SIMD8<Float>.self)
        let xv = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(y + i).storeBytes(of: yv.addingProduct(a8, xv), as: SIMD8<Float>.self)
        i += 8
    }
    while i < n { y[i] += alpha * x[i]; i += 1 }
}
