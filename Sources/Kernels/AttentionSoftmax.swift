import Foundation

// Dims legend: H independent score matrices (batch × heads), each Tq query rows × Tk key columns.
// Query row i sits at position i + offset in the sequence (offset > 0 when decoding with a key/value cache)
// and may attend to keys 0...i + offset.

/// probs = softmax(scale·scores) over the visible keys of each row; masked entries become exactly 0.
/// Scaling and masking are fused into the softmax: no mask tensor, no scaled copy. In place is allowed.
public func causalSoftmaxForward(probs: UnsafeMutablePointer<Float>,   // [H, Tq, Tk]
                                 scores: UnsafePointer<Float>,         // [H, Tq, Tk]
                                 H: Int, Tq: Int, Tk: Int, offset: Int = 0, scale: Float,
                                 causal: Bool = true, pool: ThreadPool = .shared) {
    pool.parallelFor(H * Tq, minimumPerThread: max(1, 8192 / max(Tk, 1))) { range in
        for row in range {
            let i = row % Tq
            causalSoftmaxRow(y: probs + row * Tk, x: scores + row * Tk, Tk: Tk,
                             visible: causal ? min(Tk, i + offset + 1) : Tk, scale: scale)
        }
    }
}

/// One row of `causalSoftmaxForward`: softmax(scale·x) over the first `visible` entries, zeros after.
@inline(__always)
func causalSoftmaxRow(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, Tk: Int, visible: Int, scale: Float) {
    // max of scale·x = scale·max(x) for scale > 0.
    let s = exponentiate(out: y, input: x, count: visible, scale: scale, shift: rowMax(x, visible) * scale)
    rowScale(y, visible, 1 / s)
    if visible < Tk { (y + visible).update(repeating: 0, count: Tk - visible) }
}

/// y[j] = exp(scale·x[j] − shift) for j < count (in place allowed); returns the sum. Shared by the softmax rows
/// and the streaming attention's online softmax.
@inline(__always)
func exponentiate(out y: UnsafeMutablePointer<Float>, input x: UnsafePointer<Float>, count: Int, scale: Float,
                  shift: Float) -> Float {
    let s8 = SIMD8<Float>(repeating: scale), m8 = SIMD8<Float>(repeating: shift)
    var acc = SIMD8<Float>()
    var j = 0
    while j + 8 <= count { let e = vexp(load8(x + j) * s8 - m8); store8(e, y + j); acc += e; j += 8 }
    var sum = hsum(acc)
    while j < count { let e = sexp(x[j] * scale - shift); y[j] = e; sum += e; j += 1 }
    return sum
}

/// dscores = scale·P ⊙ (dP − Σ_j dP⊙P) per row (zero where masked). In place over dprobs is allowed.
public func causalSoftmaxBackward(dscores: UnsafeMutablePointer<Float>,   // [H, Tq, Tk]
                                  dprobs: UnsafePointer<Float>,           // [H, Tq, Tk]
                                  probs: UnsafePointer<Float>,            // [H, Tq, Tk]
                                  H: Int, Tq: Int, Tk: Int, offset: Int = 0, scale: Float,
                                  causal: Bool = true, pool: ThreadPool = .shared) {
    pool.parallelFor(H * Tq, minimumPerThread: max(1, 8192 / max(Tk, 1))) { range in
        for row in range {
            let i = row % Tq
            causalSoftmaxBackwardRow(ds: dscores + row * Tk, dp: dprobs + row * Tk, p: probs + row * Tk, Tk: Tk,
                                     visible: causal ? min(Tk, i + offset + 1) : Tk, scale: scale)
        }
    }
}

/// One row of `causalSoftmaxBackward`.
@inline(__always)
func causalSoftmaxBackwardRow(ds: UnsafeMutablePointer<Float>, dp: UnsafePointer<Float>, p: UnsafePointer<Float>,
                              Tk: Int, visible: Int, scale: Float) {
    var d8 = SIMD8<Float>()
    var j = 0
    while j + 8 <= visible { d8 = d8.addingProduct(load8(p + j), load8(dp + j)); j += 8 }
    var dot = hsum(d8)
    while j < visible { dot += p[j] * dp[j]; j += 1 }
    let dot8 = SIMD8<Float>(repeating: dot), s8 = SIMD8<Float>(repeating: scale)
    j = 0
    while j + 8 <= visible { store8(s8 * load8(p + j) * (load8(dp + j) - dot8), ds + j); j += 8 }
    while j < visible { ds[j] = scale * p[j] * (dp[j] - dot); j += 1 }
    if visible < Tk { (ds + visible).update(repeating: 0, count: Tk - visible) }
}

/// Reference: explicit mask, Double softmax.
public func causalSoftmaxForwardNaive(probs: UnsafeMutablePointer<Float>, scores: UnsafePointer<Float>,
                                      H: Int, Tq: Int, Tk: Int, offset: Int = 0, scale: Float, causal: Bool = true) {
    for row in 0..<(H * Tq) {
        let i = row % Tq
        var mx = -Double.infinity
        for j in 0..<Tk where !causal || j <= i + offset { mx = max(mx, Double(scale) * Double(scores[row * Tk + j])) }
        var s = 0.0
        for j in 0..<Tk where !causal || j <= i + offset { s += Foundation.exp(Double(scale) * Double(scores[row * Tk + j]) - mx) }
        for j in 0..<Tk {
            probs[row * Tk + j] = (!causal || j <= i + offset) ? Float(Foundation.exp(Double(scale) * Double(scores[row * Tk + j]) - mx) / s) : 0
        }
    }
}

/// Reference backward in Double.
public func causalSoftmaxBackwardNaive(dscores: UnsafeMutablePointer<Float>, dprobs: UnsafePointer<Float>,
                                       probs: UnsafePointer<Float>, H: Int, Tq: Int, Tk: Int, offset: Int = 0,
                                       scale: Float, causal: Bool = true) {
    for row in 0..<(H * Tq) {
        let i = row % Tq
        var dot = 0.0
        for j in 0..<Tk where !causal || j <= i + offset { dot += Double(probs[row * Tk + j]) * Double(dprobs[row * Tk + j]) }
        for j in 0..<Tk {
            let visible = !causal || j <= i + offset
            dscores[row * Tk + j] = visible ? Float(Double(scale) * Double(probs[row * Tk + j]) * (Double(dprobs[row * Tk + j]) - dot)) : 0
        }
    }
}

/// x = softmax(scale·x) over `count` entries, in place, on the calling thread (a decoding step's attention
/// row, where the rows are already spread over threads).
@inline(__always)
public func softmaxRowInPlace(_ x: UnsafeMutablePointer<Float>, count: Int, scale: Float) {
    causalSoftmaxRow(y: x, x: x, Tk: count, visible: count, scale: scale)
}
