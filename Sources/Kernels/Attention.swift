import Foundation

// Dims legend: B sequences, T positions, C channels, H heads of size hs = C/H.
// qkv holds, per position, the query, key and value vectors side by side: [B, T, 3C] with q at 0..<C,
// k at C..<2C, v at 2C..<3C, each split into H heads of hs consecutive channels (GPT-2's c_attn layout).

/// Causal multi-head self-attention: for each (b, h), P = softmax(Q·Kᵀ/√hs) with the causal mask fused into
/// the softmax, and out = P·V. P is kept for the backward pass. The B·H products are independent work items
/// claimed by the pool's threads; each runs single-threaded blocked products on its own packing buffers.
public func attentionForward(out: UnsafeMutablePointer<Float>,     // [B, T, C]
                             probs: UnsafeMutablePointer<Float>,   // [B, H, T, T]
                             qkv: UnsafePointer<Float>,            // [B, T, 3C]
                             B: Int, T: Int, C: Int, H: Int, pool: ThreadPool = .shared) {
    let hs = C / H
    let scale = 1 / Float(hs).squareRoot()
    withAttentionScratch(pool: pool, T: T) { tid, scratch, _ in
        while true {
            let item = pool.claimWorkItem()
            if item >= B * H { break }
            let b = item / H, h = item % H
            let q = qkv + b * T * 3 * C + h * hs, k = q + C, v = q + 2 * C
            let p = probs + item * T * T
            // Scores Q·Kᵀ into P, then the scaled causal softmax in place.
            sgemmSerial(transA: false, transB: true, m: T, n: T, k: hs, alpha: 1, a: q, lda: 3 * C, b: k, ldb: 3 * C,
                        beta: 0, c: p, ldc: T, scratch: scratch)
            for i in 0..<T { causalSoftmaxRow(y: p + i * T, x: p + i * T, Tk: T, visible: i + 1, scale: scale) }
            sgemmSerial(transA: false, transB: false, m: T, n: hs, k: T, alpha: 1, a: p, lda: T, b: v, ldb: 3 * C,
                        beta: 0, c: out + b * T * C + h * hs, ldc: C, scratch: scratch)
        }
    }
}

/// Backward of `attentionForward`. Writes (does not accumulate) dqkv: every (b, h) owns its q, k, v columns.
/// dP = dO·Vᵀ; dV = Pᵀ·dO; dS = P ⊙ (dP − rowsum(dP ⊙ P))/√hs; dQ = dS·K; dK = dSᵀ·Q.
public func attentionBackward(dqkv: UnsafeMutablePointer<Float>,   // [B, T, 3C], overwritten
                              dout: UnsafePointer<Float>,          // [B, T, C]
                              qkv: UnsafePointer<Float>,           // [B, T, 3C]
                              probs: UnsafePointer<Float>,         // [B, H, T, T]
                              B: Int, T: Int, C: Int, H: Int, pool: ThreadPool = .shared) {
    let hs = C / H
    let scale = 1 / Float(hs).squareRoot()
    withAttentionScratch(pool: pool, T: T) { tid, scratch, dp in
        while true {
            let item = pool.claimWorkItem()
            if item >= B * H { break }
            let b = item / H, h = item % H
            let q = qkv + b * T * 3 * C + h * hs, k = q + C, v = q + 2 * C
            let dq = dqkv + b * T * 3 * C + h * hs, dk = dq + C, dv = dq + 2 * C
            let dO = dout + b * T * C + h * hs
            let p = probs + item * T * T
            sgemmSerial(transA: false, transB: true, m: T, n: T, k: hs, alpha: 1, a: dO, lda: C, b: v, ldb: 3 * C,
                        beta: 0, c: dp, ldc: T, scratch: scratch)
            sgemmSerial(transA: true, transB: false, m: T, n: hs, k: T, alpha: 1, a: p, lda: T, b: dO, ldb: C,
                        beta: 0, c: dv, ldc: 3 * C, scratch: scratch)
            for i in 0..<T { causalSoftmaxBackwardRow(ds: dp + i * T, dp: dp + i * T, p: p + i * T, Tk: T, visible: i + 1, scale: scale) }
            sgemmSerial(transA: false, transB: false, m: T, n: hs, k: T, alpha: 1, a: dp, lda: T, b: k, ldb: 3 * C,
                        beta: 0, c: dq, ldc: 3 * C, scratch: scratch)
            sgemmSerial(transA: true, transB: false, m: T, n: hs, k: T, alpha: 1, a: dp, lda: T, b: q, ldb: 3 * C,
                        beta: 0, c: dk, ldc: 3 * C, scratch: scratch)
        }
    }
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
