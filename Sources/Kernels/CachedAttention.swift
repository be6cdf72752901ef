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
            let o = out + r * ldo + h * hs
            if hs % 8 == 0 {
                scoresBy4(s, q: qh, k: k, ldkv: ldkv, n: n, hs: hs)
                softmaxRowInPlace(s, count: n, scale: scale)
                weightedSumInRegisters(o, s, v: v, ldkv: ldkv, n: n, hs: hs)
                continue
            }
            for j in 0..<n { s[j] = dotProduct(qh, k + j * ldkv, hs) }
            softmaxRowInPlace(s, count: n, scale: scale)
            o.update(repeating: 0, count: hs)
            for j in 0..<n { addScaled(o, s[j], v + j * ldkv, hs) }
        }
    }
}

/// s[j] = q·k_j for j < n, four positions at a time (hs a multiple of 8). One dot product of a head (8 FMAs on
/// one accumulator) is a chain of dependent FMAs; four positions give the core four independent chains.
@inline(__always)
func scoresBy4(_ s: UnsafeMutablePointer<Float>,   // [n]
               q: UnsafePointer<Float>,            // [hs]
               k: UnsafePointer<Float>, ldkv: Int, // [n, ldkv], the head's hs at each position
               n: Int, hs: Int) {
    var j = 0
    while j + 4 <= n {
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
        let k0 = UnsafeRawPointer(k + j * ldkv), k1 = UnsafeRawPointer(k + (j + 1) * ldkv)
        let k2 = UnsafeRawPointer(k + (j + 2) * ldkv), k3 = UnsafeRawPointer(k + (j + 3) * ldkv)
        var i = 0
        while i < hs {
            let qv = UnsafeRawPointer(q + i).loadUnaligned(as: SIMD8<Float>.self), b = i * 4
            a0 = a0.addingProduct(qv, k0.loadUnaligned(fromByteOffset: b, as: SIMD8<Float>.self))
            a1 = a1.addingProduct(qv, k1.loadUnaligned(fromByteOffset: b, as: SIMD8<Float>.self))
            a2 = a2.addingProduct(qv, k2.loadUnaligned(fromByteOffset: b, as: SIMD8<Float>.self))
            a3 = a3.addingProduct(qv, k3.loadUnaligned(fromByteOffset: b, as: SIMD8<Float>.self))
            i += 8
        }
        s[j] = lanesSum(a0); s[j + 1] = lanesSum(a1); s[j + 2] = lanesSum(a2); s[j + 3] = lanesSum(a3)
        j += 4
    }
    while j < n { s[j] = dotProduct(q, k + j * ldkv, hs); j += 1 }
}

/// o = Σ_j p[j]·v_j (hs a multiple of 8), 32 features at a time held in registers across all positions,
/// instead of a load and a store of o per position.
@inline(__always)
func weightedSumInRegisters(_ o: UnsafeMutablePointer<Float>,   // [hs]
                            _ p: UnsafePointer<Float>,          // [n]
                            v: UnsafePointer<Float>, ldkv: Int, // [n, ldkv], the head's hs at each position
                            n: Int, hs: Int) {
    var c = 0
    while c + 32 <= hs {
        var o0 = SIMD8<Float>(), o1 = SIMD8<Float>(), o2 = SIMD8<Float>(), o3 = SIMD8<Float>()
        for j in 0..<n {
            let w = SIMD8<Float>(repeating: p[j]), row = UnsafeRawPointer(v + j * ldkv + c)
            o0 = o0.addingProduct(w, row.loadUnaligned(as: SIMD8<Float>.self))
            o1 = o1.addingProduct(w, row.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self))
            o2 = o2.addingProduct(w, row.loadUnaligned(fromByteOffset: 64, as: SIMD8<Float>.self))
            o3 = o3.addingProduct(w, row.loadUnaligned(fromByteOffset: 96, as: SIMD8<Float>.self))
        }
        let d = UnsafeMutableRawPointer(o + c)
        d.storeBytes(of: o0, as: SIMD8<Float>.self); d.storeBytes(of: o1, toByteOffset: 32, as: SIMD8<Float>.self)
        d.storeBytes(of: o2, toByteOffset: 64, as: SIMD8<Float>.self); d.storeBytes(of: o3, toByteOffset: 96, as: SIMD8<Float>.self)
        c += 32
    }
    while c < hs {
        var acc = SIMD8<Float>()
        for j in 0..<n { acc = acc.addingProduct(SIMD8<Float>(repeating: p[j]), UnsafeRawPointer(v + j * ldkv + c).loadUnaligned(as: SIMD8<Float>.self)) }
        UnsafeMutableRawPointer(o + c).storeBytes(of: acc, as: SIMD8<Float>.self)
        c += 8
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
    var s = lanesSum(acc)
    while i < n { s += a[i] * b[i]; i += 1 }
    return s
}

/// The eight lanes added in one fixed order (so `scoresBy4` and `dotProduct` give the same sums bit for bit).
@inline(__always)
func lanesSum(_ acc: SIMD8<Float>) -> Float {
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + (acc[4] + acc[5]) + (acc[6] + acc[7])
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
