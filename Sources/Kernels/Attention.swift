import Foundation

// Dims legend: B sequences, T positions, C channels, H heads of size hs = C/H.
// qkv holds, per position, the query, key and value vectors side by side: [B, T, 3C] with q at 0..<C,
// k at C..<2C, v at 2C..<3C, each split into H heads of hs consecutive channels (GPT-2's c_attn layout).

/// Causal multi-head self-attention over packed q|k|v (the decoder-only model's form of
/// `multiHeadAttentionForward`): P = softmax(Q·Kᵀ/√hs) with the causal mask fused into the softmax, out = P·V.
public func attentionForward(out: UnsafeMutablePointer<Float>,     // [B, T, C]
                             probs: UnsafeMutablePointer<Float>,   // [B, H, T, T]
                             qkv: UnsafePointer<Float>,            // [B, T, 3C]
                             B: Int, T: Int, C: Int, H: Int, pool: ThreadPool = .shared) {
    multiHeadAttentionForward(out: out, ldo: C, probs: probs, q: qkv, ldq: 3 * C, k: qkv + C, ldk: 3 * C,
                              v: qkv + 2 * C, ldv: 3 * C, B: B, Tq: T, Tk: T, C: C, H: H, causal: true,
                              keyLengths: nil, pool: pool)
}

/// Backward of `attentionForward`. Writes (does not accumulate) dqkv.
public func attentionBackward(dqkv: UnsafeMutablePointer<Float>,   // [B, T, 3C], overwritten
                              dout: UnsafePointer<Float>,          // [B, T, C]
                              qkv: UnsafePointer<Float>,           // [B, T, 3C]
                              probs: UnsafePointer<Float>,         // [B, H, T, T]
                              B: Int, T: Int, C: Int, H: Int, pool: ThreadPool = .shared) {
    multiHeadAttentionBackward(dq: dqkv, dk: dqkv + C, dv: dqkv + 2 * C, ldd: 3 * C, dout: dout, ldo: C,
                               q: qkv, ldq: 3 * C, k: qkv + C, ldk: 3 * C, v: qkv + 2 * C, ldv: 3 * C,
                               probs: probs, B: B, Tq: T, Tk: T, C: C, H: H, causal: true, keyLengths: nil, pool: pool)
}

// The general form serves all three attentions of a transformer: decoder self-attention (causal), encoder
// self-attention (keys limited to each source's length: padding is always at the end, so a key mask is a
// visible prefix and fuses into the softmax like the causal one), and cross-attention (queries from the
// decoder, keys and values from the encoder, Tq ≠ Tk). Rows of q, k, v, out are `ld*` floats apart, and
// sequence b starts at row b·Tq (queries, out) or b·Tk (keys, values).

/// Query row i of sequence b sees keys 0 ..< min(causal ? i + 1 : Tk, keyLengths?[b] ?? Tk).
@inline(__always)
func visibleKeys(_ i: Int, _ b: Int, Tk: Int, causal: Bool, keyLengths: UnsafePointer<Int32>?) -> Int {
    let limit = keyLengths.map { min(Tk, Int($0[b])) } ?? Tk
    return causal ? min(i + 1, limit) : limit
}

/// Multi-head attention: for each (b, h), P = softmax(Q·Kᵀ/√hs) over the visible keys, out = P·V; P is kept for
/// the backward pass. The B·H products are independent work items claimed by the pool's threads; each runs
/// single-threaded blocked products on its own packing buffers.
public func multiHeadAttentionForward(out: UnsafeMutablePointer<Float>, ldo: Int,   // [B, Tq, ldo], C used
                                      probs: UnsafeMutablePointer<Float>,          // [B, H, Tq, Tk]
                                      q: UnsafePointer<Float>, ldq: Int,           // [B, Tq, ldq], C used
                                      k: UnsafePointer<Float>, ldk: Int,           // [B, Tk, ldk], C used
                                      v: UnsafePointer<Float>, ldv: Int,           // [B, Tk, ldv], C used
                                      B: Int, Tq: Int, Tk: Int, C: Int, H: Int, causal: Bool,
                                      keyLengths: UnsafePointer<Int32>?,           // [B] or nil
                                      pool: ThreadPool = .shared) {
    let hs = C / H
    let scale = 1 / Float(hs).squareRoot()
    withAttentionScratch(pool: pool, T: max(Tq, Tk)) { tid, scratch, _ in
        while true {
            let item = pool.claimWorkItem()
            if item >= B * H { break }
            let b = item / H, h = item % H
            let qb = q + b * Tq * ldq + h * hs, kb = k + b * Tk * ldk + h * hs, vb = v + b * Tk * ldv + h * hs
            let p = probs + item * Tq * Tk
            // Scores Q·Kᵀ into P, then the scaled masked softmax in place.
            sgemmSerial(transA: false, transB: true, m: Tq, n: Tk, k: hs, alpha: 1, a: qb, lda: ldq, b: kb, ldb: ldk,
                        beta: 0, c: p, ldc: Tk, scratch: scratch)
            for i in 0..<Tq {
                causalSoftmaxRow(y: p + i * Tk, x: p + i * Tk, Tk: Tk,
                                 visible: visibleKeys(i, b, Tk: Tk, causal: causal, keyLengths: keyLengths), scale: scale)
            }
            sgemmSerial(transA: false, transB: false, m: Tq, n: hs, k: Tk, alpha: 1, a: p, lda: Tk, b: vb, ldb: ldv,
                        beta: 0, c: out + b * Tq * ldo + h * hs, ldc: ldo, scratch: scratch)
        }
    }
}

/// Backward of `multiHeadAttentionForward`. Writes (does not accumulate) dq, dk, dv: every (b, h) owns its
/// columns. dP = dO·Vᵀ; dV = Pᵀ·dO; dS = P ⊙ (dP − rowsum(dP ⊙ P))/√hs; dQ = dS·K; dK = dSᵀ·Q.
/// dq and dk/dv share one leading dimension `ldd` when they live in one buffer (packed qkv), and
/// `lddq`/`lddkv` may differ (cross-attention: dq [B, Tq, C], dkv [B, Tk, 2C]).
public func multiHeadAttentionBackward(dq: UnsafeMutablePointer<Float>, lddq: Int,      // [B, Tq, lddq], overwritten
                                       dk: UnsafeMutablePointer<Float>,                 // [B, Tk, lddkv], overwritten
                                       dv: UnsafeMutablePointer<Float>, lddkv: Int,     // [B, Tk, lddkv], overwritten
                                       dout: UnsafePointer<Float>, ldo: Int,            // [B, Tq, ldo]
                                       q: UnsafePointer<Float>, ldq: Int,               // [B, Tq, ldq]
                                       k: UnsafePointer<Float>, ldk: Int,               // [B, Tk, ldk]
                                       v: UnsafePointer<Float>, ldv: Int,               // [B, Tk, ldv]
                                       probs: UnsafePointer<Float>,                     // [B, H, Tq, Tk]
                                       B: Int, Tq: Int, Tk: Int, C: Int, H: Int, causal: Bool,
                                       keyLengths: UnsafePointer<Int32>?, pool: ThreadPool = .shared) {
    let hs = C / H
    let scale = 1 / Float(hs).squareRoot()
    withAttentionScratch(pool: pool, T: max(Tq, Tk)) { tid, scratch, dp in
        while true {
            let item = pool.claimWorkItem()
            if item >= B * H { break }
            let b = item / H, h = item % H
            let qb = q + b * Tq * ldq + h * hs, kb = k + b * Tk * ldk + h * hs, vb = v + b * Tk * ldv + h * hs
            let dqb = dq + b * Tq * lddq + h * hs, dkb = dk + b * Tk * lddkv + h * hs, dvb = dv + b * Tk * lddkv + h * hs
            let dO = dout + b * Tq * ldo + h * hs
            let p = probs + item * Tq * Tk
            sgemmSerial(transA: false, transB: true, m: Tq, n: Tk, k: hs, alpha: 1, a: dO, lda: ldo, b: vb, ldb: ldv,
                        beta: 0, c: dp, ldc: Tk, scratch: scratch)
            sgemmSerial(transA: true, transB: false, m: Tk, n: hs, k: Tq, alpha: 1, a: p, lda: Tk, b: dO, ldb: ldo,
                        beta: 0, c: dvb, ldc: lddkv, scratch: scratch)
            for i in 0..<Tq {
                causalSoftmaxBackwardRow(ds: dp + i * Tk, dp: dp + i * Tk, p: p + i * Tk, Tk: Tk,
                                         visible: visibleKeys(i, b, Tk: Tk, causal: causal, keyLengths: keyLengths), scale: scale)
            }
            sgemmSerial(transA: false, transB: false, m: Tq, n: hs, k: Tk, alpha: 1, a: dp, lda: Tk, b: kb, ldb: ldk,
                        beta: 0, c: dqb, ldc: lddq, scratch: scratch)
            sgemmSerial(transA: true, transB: false, m: Tk, n: hs, k: Tq, alpha: 1, a: dp, lda: Tk, b: qb, ldb: ldq,
                        beta: 0, c: dkb, ldc: lddkv, scratch: scratch)
        }
    }
}

/// `multiHeadAttentionBackward` with one leading dimension for dq, dk and dv (packed dqkv).
@inline(__always)
public func multiHeadAttentionBackward(dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>,
                                       dv: UnsafeMutablePointer<Float>, ldd: Int,
                                       dout: UnsafePointer<Float>, ldo: Int,
                                       q: UnsafePointer<Float>, ldq: Int, k: UnsafePointer<Float>, ldk: Int,
                                       v: UnsafePointer<Float>, ldv: Int, probs: UnsafePointer<Float>,
                                       B: Int, Tq: Int, Tk: Int, C: Int, H: Int, causal: Bool,
                                       keyLengths: UnsafePointer<Int32>?, pool: ThreadPool = .shared) {
    multiHeadAttentionBackward(dq: dq, lddq: ldd, dk: dk, dv: dv, lddkv: ldd, dout: dout, ldo: ldo, q: q, ldq: ldq,
                               k: k, ldk: ldk, v: v, ldv: ldv, probs: probs, B: B, Tq: Tq, Tk: Tk, C: C, H: H,
                               causal: causal, keyLengths: keyLengths, pool: pool)
}

/// Runs `body(tid, packing buffers, a T×T scratch)` on every thread of the pool, each with its own buffers.
func withAttentionScratch(pool: ThreadPool, T: Int,
                          _ body: (Int, GemmScratch, UnsafeMutablePointer<Float>) -> Void) {
    let kernel = GemmKernel.best
    pool.exclusive {
        let ws = pool.workspace
        let aN = GemmScratch.aFloats(kernel), bN = GemmScratch.bFloats(kernel)
        // Round each thread's share up to 16 floats so the buffers stay 64-byte aligned.
        let tN = (T * T + 15) / 16 * 16
        let packA = ws.floats(Workspace.Slot.attentionA, count: aN * pool.threadCount)
        let packB = ws.floats(Workspace.Slot.attentionB, count: bN * pool.threadCount)
        let dp = ws.floats(Workspace.Slot.attentionScratch, count: tN * pool.threadCount)
        pool.run { tid in
            body(tid, GemmScratch(packedA: packA + tid * aN, packedB: packB + tid * bN), dp + tid * tN)
        }
    }
}

/// Reference attention in Double with an explicit mask.
public func attentionForwardNaive(out: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>,
                                  qkv: UnsafePointer<Float>, B: Int, T: Int, C: Int, H: Int) {
    let hs = C / H
    let scale = 1 / Double(hs).squareRoot()
    for b in 0..<B { for h in 0..<H { for i in 0..<T {
        let q = qkv + (b * T + i) * 3 * C + h * hs
        var s = [Double](repeating: -.infinity, count: T)
        for j in 0...i {
            let k = qkv + (b * T + j) * 3 * C + C + h * hs
            var d = 0.0
            for c in 0..<hs { d += Double(q[c]) * Double(k[c]) }
            s[j] = d * scale
        }
        let mx = s.max()!
        let z = s.reduce(0.0) { $0 + ($1 == -.infinity ? 0 : Foundation.exp($1 - mx)) }
        let p = probs + ((b * H + h) * T + i) * T
        for j in 0..<T { p[j] = j <= i ? Float(Foundation.exp(s[j] - mx) / z) : 0 }
        for c in 0..<hs {
            var acc = 0.0
            for j in 0...i { acc += Double(p[j]) * Double(qkv[(b * T + j) * 3 * C + 2 * C + h * hs + c]) }
            out[(b * T + i) * C + h * hs + c] = Float(acc)
        }
    }}}
}

/// Reference multi-head attention in Double with an explicit mask, for the general form (separate q, k, v
/// of C channels each, packed rows; causal and/or key lengths).
public func multiHeadAttentionForwardNaive(out: UnsafeMutablePointer<Float>, q: UnsafePointer<Float>,
                                           k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                           B: Int, Tq: Int, Tk: Int, C: Int, H: Int, causal: Bool, keyLengths: [Int32]?) {
    let hs = C / H
    let scale = 1 / Double(hs).squareRoot()
    for b in 0..<B { for h in 0..<H { for i in 0..<Tq {
        let limit = keyLengths.map { Int($0[b]) } ?? Tk
        var s: [Double] = []
        for j in 0..<Tk where j < limit && (!causal || j <= i) {
            var d = 0.0
            for c in 0..<hs { d += Double(q[(b * Tq + i) * C + h * hs + c]) * Double(k[(b * Tk + j) * C + h * hs + c]) }
            s.append(d * scale)
        }
        let mx = s.max()!
        let z = s.reduce(0.0) { $0 + Foundation.exp($1 - mx) }
        for c in 0..<hs {
            var acc = 0.0
            for (j, sj) in s.enumerated() { acc += Foundation.exp(sj - mx) / z * Double(v[(b * Tk + j) * C + h * hs + c]) }
            out[(b * Tq + i) * C + h * hs + c] = Float(acc)
        }
    }}}
}

/// Reference backward of `multiHeadAttentionForwardNaive` in Double, written as its forward in reverse for one
/// (b, h, query row) at a time: recompute the visible scores s and P = softmax(s), then dV += Pᵀ·dO,
/// dP = dO·Vᵀ, dS = P ⊙ (dP − Σ dP ⊙ P), dQ = dS·K/√hs, dK += dSᵀ·Q/√hs. Packed rows of C channels; writes dq, dk, dv.
public func multiHeadAttentionBackwardNaive(dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>,
                                            dv: UnsafeMutablePointer<Float>,                 // [B, Tq, C], [B, Tk, C] ×2
                                            dout: UnsafePointer<Float>,                      // [B, Tq, C]
                                            q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                            B: Int, Tq: Int, Tk: Int, C: Int, H: Int, causal: Bool, keyLengths: [Int32]?) {
    let hs = C / H
    let scale = 1 / Double(hs).squareRoot()
    var gq = [Double](repeating: 0, count: B * Tq * C), gk = [Double](repeating: 0, count: B * Tk * C)
    var gv = [Double](repeating: 0, count: B * Tk * C)
    for b in 0..<B { for h in 0..<H { for i in 0..<Tq {
        let limit = keyLengths.map { Int($0[b]) } ?? Tk
        let keysSeen = (0..<Tk).filter { $0 < limit && (!causal || $0 <= i) }
        let qi = (b * Tq + i) * C + h * hs
        // Forward again: scores and probabilities of this row.
        let s = keysSeen.map { j in (0..<hs).reduce(0.0) { $0 + Double(q[qi + $1]) * Double(k[(b * Tk + j) * C + h * hs + $1]) } * scale }
        let mx = s.max()!
        let z = s.reduce(0.0) { $0 + Foundation.exp($1 - mx) }
        let p = s.map { Foundation.exp($0 - mx) / z }
        // Backward: through the mix with V, the softmax, then the scores' two factors.
        var dp = [Double](repeating: 0, count: keysSeen.count)
        for (n, j) in keysSeen.enumerated() {
            let vj = (b * Tk + j) * C + h * hs
            for c in 0..<hs {
                gv[vj + c] += p[n] * Double(dout[qi + c])
                dp[n] += Double(dout[qi + c]) * Double(v[vj + c])
            }
        }
        let dot = zip(dp, p).reduce(0.0) { $0 + $1.0 * $1.1 }
        for (n, j) in keysSeen.enumerated() {
            let ds = p[n] * (dp[n] - dot) * scale
            let kj = (b * Tk + j) * C + h * hs
            for c in 0..<hs {
                gq[qi + c] += ds * Double(k[kj + c])
                gk[kj + c] += ds * Double(q[qi + c])
            }
        }
    }}}
    for i in 0..<(B * Tq * C) { dq[i] = Float(gq[i]) }
    for i in 0..<(B * Tk * C) { dk[i] = Float(gk[i]); dv[i] = Float(gv[i]) }
}
