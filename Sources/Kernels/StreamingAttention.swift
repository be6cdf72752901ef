import Foundation

// Dims legend: as Attention.swift — B sequences, Tq query and Tk key positions, C channels in H heads of hs.
//
// Streaming ("flash") attention (Dao et al. 2022, on a CPU): the same result as `multiHeadAttentionForward`
// without the [B, H, Tq, Tk] probabilities. Each work item, one (sequence, head, block of query rows), walks the
// visible key blocks with an online softmax: per row a running maximum m and sum l; each block's scores are
// exponentiated against the new maximum, the row's partial output is rescaled by exp(m_old − m_new) and the
// block's P·V added. Only the rows' log-sum-exp (m + log l) is kept for backward, which recomputes each block's
// probabilities from it — memory linear in T instead of quadratic, one more Q·Kᵀ product in backward.

/// How self-attention keeps what its backward needs.
public enum AttentionAlgorithm: String, Sendable, CaseIterable, Codable {
    /// The [B, H, T, T] probabilities (`multiHeadAttentionForward`): memory quadratic in T.
    case stored
    /// Each row's log-sum-exp only (`streamingAttentionForward`): memory linear in T.
    case streaming

    /// Streaming from 512 positions on, where the stored probabilities (B·H·T² floats per layer) would outgrow
    /// the rest of a step's activations; LMTRAIN_ATTENTION=stored|streaming overrides.
    public static func automatic(context: Int) -> AttentionAlgorithm {
        if let env = getenv("LMTRAIN_ATTENTION"), let a = AttentionAlgorithm(rawValue: String(cString: env)) { return a }
        return context >= 512 ? .streaming : .stored
    }
}

/// Query rows and key positions per block: the scores of one block pair stay in L1/L2 ([64, 128] floats).
let streamingBlockQ = 64, streamingBlockK = 128

/// Floats of one thread's scratch: a score block, a dP block, the output accumulator and three row vectors.
@inline(__always) func streamingScratchFloats(hs: Int) -> Int {
    (2 * streamingBlockQ * streamingBlockK + streamingBlockQ * hs + 3 * streamingBlockQ + 15) / 16 * 16
}

/// Runs `body(packing buffers, scratch)` on every thread of the pool, each with its own buffers.
func withStreamingScratch(pool: ThreadPool, hs: Int, _ body: (GemmScratch, UnsafeMutablePointer<Float>) -> Void) {
    let kernel = GemmKernel.best
    pool.exclusive {
        let ws = pool.workspace
        let aN = GemmScratch.aFloats(kernel), bN = GemmScratch.bFloats(kernel), sN = streamingScratchFloats(hs: hs)
        let packA = ws.floats(Workspace.Slot.attentionA, count: aN * pool.threadCount)
        let packB = ws.floats(Workspace.Slot.attentionB, count: bN * pool.threadCount)
        let scratch = ws.floats(Workspace.Slot.attentionScratch, count: sN * pool.threadCount)
        pool.run { tid in body(GemmScratch(packedA: packA + tid * aN, packedB: packB + tid * bN), scratch + tid * sN) }
    }
}

/// Attention without stored probabilities: out = softmax(Q·Kᵀ/√hs over the visible keys)·V, and
/// lse[b, h, i] = log Σ_j exp(scores) of each row (the scaled scores), for `streamingAttentionBackward`.
public func streamingAttentionForward(out: UnsafeMutablePointer<Float>, ldo: Int,   // [B, Tq, ldo], C used
                                      lse: UnsafeMutablePointer<Float>,            // [B, H, Tq]
                                      q: UnsafePointer<Float>, ldq: Int,           // [B, Tq, ldq], C used
                                      k: UnsafePointer<Float>, ldk: Int,           // [B, Tk, ldk], C used
                                      v: UnsafePointer<Float>, ldv: Int,           // [B, Tk, ldv], C used
                                      B: Int, Tq: Int, Tk: Int, C: Int, H: Int, causal: Bool,
                                      keyLengths: UnsafePointer<Int32>?,           // [B] or nil
                                      pool: ThreadPool = .shared) {
    let hs = C / H, BQ = streamingBlockQ, BK = streamingBlockK
    let scale = 1 / Float(hs).squareRoot()
    let qBlocks = (Tq + BQ - 1) / BQ
    withStreamingScratch(pool: pool, hs: hs) { packing, scratch in
        let s = scratch, acc = scratch + 2 * BQ * BK, m = acc + BQ * hs, l = m + BQ
        while true {
            let item = pool.claimWorkItem()
            if item >= B * H * qBlocks { break }
            let b = item / (H * qBlocks), h = (item / qBlocks) % H, i0 = (item % qBlocks) * BQ
            let rows = min(BQ, Tq - i0)
            let qb = q + (b * Tq + i0) * ldq + h * hs, kb = k + b * Tk * ldk + h * hs, vb = v + b * Tk * ldv + h * hs
            acc.update(repeating: 0, count: rows * hs)
            for r in 0..<rows { m[r] = -.infinity; l[r] = 0 }
            // Keys any row of this block sees: up to the last row's limit.
            let keyEnd = visibleKeys(i0 + rows - 1, b, Tk: Tk, causal: causal, keyLengths: keyLengths)
            var j0 = 0
            while j0 < keyEnd {
                let cols = min(BK, keyEnd - j0)
                sgemmSerial(transA: false, transB: true, m: rows, n: cols, k: hs, alpha: 1, a: qb, lda: ldq,
                            b: kb + j0 * ldk, ldb: ldk, beta: 0, c: s, ldc: BK, scratch: packing)
                for r in 0..<rows {
                    let seen = min(cols, visibleKeys(i0 + r, b, Tk: Tk, causal: causal, keyLengths: keyLengths) - j0)
                    let row = s + r * BK
                    if seen <= 0 { row.update(repeating: 0, count: cols); continue }
                    let mNew = max(m[r], rowMax(row, seen) * scale)
                    let correction = m[r] == -.infinity ? 0 : sexp(m[r] - mNew)
                    let sum = exponentiate(row, count: seen, scale: scale, shift: mNew)
                    if seen < cols { (row + seen).update(repeating: 0, count: cols - seen) }
                    l[r] = l[r] * correction + sum
                    m[r] = mNew
                    if correction != 1 { rowScale(acc + r * hs, hs, correction) }
                }
                sgemmSerial(transA: false, transB: false, m: rows, n: hs, k: cols, alpha: 1, a: s, lda: BK,
                            b: vb + j0 * ldv, ldb: ldv, beta: 1, c: acc, ldc: hs, scratch: packing)
                j0 += cols
            }
            let o = out + (b * Tq + i0) * ldo + h * hs, rowLSE = lse + (b * H + h) * Tq + i0
            for r in 0..<rows {
                let inv = 1 / l[r]
                for c in 0..<hs { o[r * ldo + c] = acc[r * hs + c] * inv }
                rowLSE[r] = m[r] + Foundation.log(l[r])
            }
        }
    }
}

/// x[j] = exp(scale·x[j] − shift) for j < count, in place; returns the sum (`exponentiate(out:input:…)`).
@inline(__always)
func exponentiate(_ x: UnsafeMutablePointer<Float>, count: Int, scale: Float, shift: Float) -> Float {
    exponentiate(out: x, input: x, count: count, scale: scale, shift: shift)
}

/// Backward of `streamingAttentionForward` from its output and log-sum-exp, written as the forward in reverse
/// one block pair at a time: P = exp(scale·Q·Kᵀ − lse) recomputed, dV += Pᵀ·dO, dP = dO·Vᵀ,
/// dS = scale·P ⊙ (dP − D) with D = rowsum(dO ⊙ O), dQ += dS·K, dK += dSᵀ·Q. Each (sequence, head) is one work
/// item that owns its columns of dq, dk and dv, so no two threads add to the same value. Writes (does not
/// accumulate) dq, dk, dv.
public func streamingAttentionBackward(dq: UnsafeMutablePointer<Float>, lddq: Int,      // [B, Tq, lddq], overwritten
                                       dk: UnsafeMutablePointer<Float>,                 // [B, Tk, lddkv], overwritten
                                       dv: UnsafeMutablePointer<Float>, lddkv: Int,     // [B, Tk, lddkv], overwritten
                                       dout: UnsafePointer<Float>, ldo: Int,            // [B, Tq, ldo]
                                       out: UnsafePointer<Float>, ldout: Int,           // [B, Tq, ldout]: the forward's output
                                       lse: UnsafePointer<Float>,                       // [B, H, Tq]
                                       q: UnsafePointer<Float>, ldq: Int,               // [B, Tq, ldq]
                                       k: UnsafePointer<Float>, ldk: Int,               // [B, Tk, ldk]
                                       v: UnsafePointer<Float>, ldv: Int,               // [B, Tk, ldv]
                                       B: Int, Tq: Int, Tk: Int, C: Int, H: Int, causal: Bool,
                                       keyLengths: UnsafePointer<Int32>?, pool: ThreadPool = .shared) {
    let hs = C / H, BQ = streamingBlockQ, BK = streamingBlockK
    let scale = 1 / Float(hs).squareRoot()
    withStreamingScratch(pool: pool, hs: hs) { packing, scratch in
        let p = scratch, dp = scratch + BQ * BK, d = scratch + 2 * BQ * BK + BQ * hs
        while true {
            let item = pool.claimWorkItem()
            if item >= B * H { break }
            let b = item / H, h = item % H
            let qb = q + b * Tq * ldq + h * hs, kb = k + b * Tk * ldk + h * hs, vb = v + b * Tk * ldv + h * hs
            let dqb = dq + b * Tq * lddq + h * hs, dkb = dk + b * Tk * lddkv + h * hs, dvb = dv + b * Tk * lddkv + h * hs
            let dO = dout + b * Tq * ldo + h * hs, O = out + b * Tq * ldout + h * hs, rowLSE = lse + item * Tq
            for i in 0..<Tq { dqb.advanced(by: i * lddq).update(repeating: 0, count: hs) }
            for j in 0..<Tk {
                dkb.advanced(by: j * lddkv).update(repeating: 0, count: hs)
                dvb.advanced(by: j * lddkv).update(repeating: 0, count: hs)
            }
            var i0 = 0
            while i0 < Tq {
                let rows = min(BQ, Tq - i0)
                for r in 0..<rows { d[r] = dotProduct(dO + (i0 + r) * ldo, O + (i0 + r) * ldout, hs) }
                let keyEnd = visibleKeys(i0 + rows - 1, b, Tk: Tk, causal: causal, keyLengths: keyLengths)
                var j0 = 0
                while j0 < keyEnd {
                    let cols = min(BK, keyEnd - j0)
                    // P of this block from the saved log-sum-exp (zeros where masked).
                    sgemmSerial(transA: false, transB: true, m: rows, n: cols, k: hs, alpha: 1, a: qb + i0 * ldq, lda: ldq,
                                b: kb + j0 * ldk, ldb: ldk, beta: 0, c: p, ldc: BK, scratch: packing)
                    for r in 0..<rows {
                        let seen = max(0, min(cols, visibleKeys(i0 + r, b, Tk: Tk, causal: causal, keyLengths: keyLengths) - j0))
                        _ = exponentiate(p + r * BK, count: seen, scale: scale, shift: rowLSE[i0 + r])
                        if seen < cols { (p + r * BK + seen).update(repeating: 0, count: cols - seen) }
                    }
                    // dV += Pᵀ·dO; dP = dO·Vᵀ.
                    sgemmSerial(transA: true, transB: false, m: cols, n: hs, k: rows, alpha: 1, a: p, lda: BK,
                                b: dO + i0 * ldo, ldb: ldo, beta: 1, c: dvb + j0 * lddkv, ldc: lddkv, scratch: packing)
                    sgemmSerial(transA: false, transB: true, m: rows, n: cols, k: hs, alpha: 1, a: dO + i0 * ldo, lda: ldo,
                                b: vb + j0 * ldv, ldb: ldv, beta: 0, c: dp, ldc: BK, scratch: packing)
                    // dS = scale·P ⊙ (dP − D), in place of dP (masked entries have P = 0).
                    for r in 0..<rows {
                        let pr = p + r * BK, dr = dp + r * BK, dr8 = SIMD8<Float>(repeating: d[r]), s8 = SIMD8<Float>(repeating: scale)
                        var j = 0
                        while j + 8 <= cols { store8(s8 * load8(pr + j) * (load8(dr + j) - dr8), dr + j); j += 8 }
                        while j < cols { dr[j] = scale * pr[j] * (dr[j] - d[r]); j += 1 }
                    }
                    // dQ += dS·K; dK += dSᵀ·Q.
                    sgemmSerial(transA: false, transB: false, m: rows, n: hs, k: cols, alpha: 1, a: dp, lda: BK,
                                b: kb + j0 * ldk, ldb: ldk, beta: 1, c: dqb + i0 * lddq, ldc: lddq, scratch: packing)
                    sgemmSerial(transA: true, transB: false, m: cols, n: hs, k: rows, alpha: 1, a: dp, lda: BK,
                                b: qb + i0 * ldq, ldb: ldq, beta: 1, c: dkb + j0 * lddkv, ldc: lddkv, scratch: packing)
                    j0 += cols
                }
                i0 += rows
            }
        }
    }
}
