import Foundation
import Testing
import Kernels
import TestSupport

@Suite struct LayerKernelTests {
    static let pool2 = ThreadPool(threads: 2)

    /// Fast vs Double reference on awkward C, inputs with a non-zero mean; outputs poisoned, gradient
    /// buffers pre-filled with random values (the kernels accumulate). Tolerance 1e-5 abs + 1e-4 rel.
    @Test(arguments: [1, 7, 33, 257])
    func layerNormForwardAndBackward(C: Int) {
        let seed = testSeed()
        var rng = SplitMix64(seed: seed)
        for N in [1, 7, 33] {
            let x = Buffer(random: N * C, &rng, scale: 3)
            for i in 0..<(N * C) { x[i] += 2 }
            let w = Buffer(random: C, &rng), b = Buffer(random: C, &rng), dy = Buffer(random: N * C, &rng)
            let out = Buffer(N * C), mean = Buffer(N), rstd = Buffer(N)
            let outR = Buffer(N * C), meanR = Buffer(N), rstdR = Buffer(N)
            layerNormForward(out: out.p, mean: mean.p, rstd: rstd.p, input: x.p, weight: w.p, bias: b.p, N: N, C: C, pool: Self.pool2)
            layerNormForwardNaive(out: outR.p, mean: meanR.p, rstd: rstdR.p, input: x.p, weight: w.p, bias: b.p, N: N, C: C)
            if C > 1 {   // C = 1: x − mean is 0 up to rounding, and rstd = 1/√eps amplifies that rounding.
                #expect(worstError(out, outR, atol: 1e-5, rtol: 1e-4) <= 1, "seed \(seed) forward \(N)×\(C)")
                #expect(worstError(rstd, rstdR, atol: 1e-5, rtol: 1e-4) <= 1, "seed \(seed) rstd")
            }
            #expect(worstError(mean, meanR, atol: 1e-5, rtol: 1e-4) <= 1, "seed \(seed) mean")
            let dx = Buffer(random: N * C, &rng), dw = Buffer(random: C, &rng), db = Buffer(random: C, &rng)
            let dxR = dx.copy(), dwR = dw.copy(), dbR = db.copy()
            layerNormBackward(dinput: dx.p, dweight: dw.p, dbias: db.p, dout: dy.p, input: x.p, weight: w.p,
                              mean: meanR.p, rstd: rstdR.p, N: N, C: C, pool: Self.pool2)
            layerNormBackwardNaive(dinput: dxR.p, dweight: dwR.p, dbias: dbR.p, dout: dy.p, input: x.p, weight: w.p,
                                   mean: meanR.p, rstd: rstdR.p, N: N, C: C)
            #expect(worstError(dx, dxR, atol: 1e-4, rtol: 1e-4) <= 1, "seed \(seed) dx \(N)×\(C)")
            #expect(worstError(dw, dwR, atol: 1e-4, rtol: 1e-4) <= 1, "seed \(seed) dw")
            #expect(worstError(db, dbR, atol: 1e-5, rtol: 1e-4) <= 1, "seed \(seed) db")
        }
    }

    @Test func layerNormBackwardMatchesFiniteDifferences() {
        // d/dx of L = Σ dy·LN(x), by central differences in Double-accumulated Float: checks the formula itself.
        let seed = testSeed()
        var rng = SplitMix64(seed: seed)
        let N = 3, C = 9
        let x = Buffer(random: N * C, &rng), w = Buffer(random: C, &rng), b = Buffer(random: C, &rng), dy = Buffer(random: N * C, &rng)
        let mean = Buffer(N), rstd = Buffer(N), out = Buffer(N * C)
        func loss(_ xs: Buffer) -> Double {
            layerNormForwardNaive(out: out.p, mean: mean.p, rstd: rstd.p, input: xs.p, weight: w.p, bias: b.p, N: N, C: C)
            return (0..<(N * C)).reduce(0.0) { $0 + Double(out[$1]) * Double(dy[$1]) }
        }
        _ = loss(x)
        let m0 = mean.copy(), r0 = rstd.copy()
        let dx = Buffer(N * C), dw = Buffer(C), db = Buffer(C)
        for b in [dx, dw, db] { b.p.update(repeating: 0, count: b.count) }
        layerNormBackward(dinput: dx.p, dweight: dw.p, dbias: db.p, dout: dy.p, input: x.p, weight: w.p, mean: m0.p, rstd: r0.p, N: N, C: C)
        for i in 0..<(N * C) {
            let h: Float = 1e-2
            let xp = x.copy(), xm = x.copy()
            xp[i] += h; xm[i] -= h
            let fd = (loss(xp) - loss(xm)) / Double(2 * h)
            #expect(abs(fd - Double(dx[i])) < 2e-3 + 2e-3 * abs(fd), "seed \(seed) i \(i): fd \(fd) vs \(dx[i])")
        }
    }

    @Test(arguments: [1, 7, 33, 257, 100_003])
    func geluForwardAndBackward(count: Int) {
        let seed = testSeed()
        var rng = SplitMix64(seed: seed)
        let x = Buffer(random: count, &rng, scale: 6)
        let out = Buffer(count)
        geluForward(out: out.p, input: x.p, count: count, pool: Self.pool2)
        let ref = Buffer((0..<count).map { geluNaive(x[$0]) })
        #expect(worstError(out, ref, atol: 1e-6, rtol: 1e-5) <= 1, "seed \(seed)")
        let dy = Buffer(random: count, &rng), dx = Buffer(random: count, &rng)
        let dxR = Buffer((0..<count).map { dx[$0] + dy[$0] * geluDerivativeNaive(x[$0]) })
        geluBackward(dinput: dx.p, input: x.p, dout: dy.p, count: count, pool: Self.pool2)
        #expect(worstError(dx, dxR, atol: 1e-6, rtol: 1e-5) <= 1, "seed \(seed) backward")
        // Overwrite mode into a poisoned buffer: dout·GELU'(x) alone.
        let dw = Buffer(count)
        geluBackward(dinput: dw.p, input: x.p, dout: dy.p, count: count, accumulate: false, pool: Self.pool2)
        let dwR = Buffer((0..<count).map { dy[$0] * geluDerivativeNaive(x[$0]) })
        #expect(worstError(dw, dwR, atol: 1e-6, rtol: 1e-5) <= 1, "seed \(seed) backward, overwrite")
        // Saturated inputs (|x| up to 200) must give finite gradients: e^{2u} reaches its clamp there.
        let big = Buffer([200, -200, 60, -60, 45, -45, 30, -30, 100, -100])
        let dBig = Buffer(10), ones = Buffer([Float](repeating: 1, count: 10))
        dBig.p.update(repeating: 0, count: 10)
        geluBackward(dinput: dBig.p, input: big.p, dout: ones.p, count: 10)
        #expect(dBig.array.allSatisfy { $0.isFinite }, "\(dBig.array)")
        #expect(abs(dBig[0] - 1) < 1e-6 && abs(dBig[1]) < 1e-6)
        // The derivative itself against central differences of the reference.
        for i in 0..<min(count, 50) {
            let h: Float = 1e-3
            let fd = (Double(geluNaive(x[i] + h)) - Double(geluNaive(x[i] - h))) / Double(2 * h)
            #expect(abs(fd - Double(geluDerivativeNaive(x[i]))) < 2e-3)
        }
    }

    @Test func embeddingGatherAndScatterAdd() {
        let seed = testSeed()
        var rng = SplitMix64(seed: seed)
        for (V, C, N) in [(1, 7, 5), (33, 257, 40), (7, 33, 1)] {
            let table = Buffer(random: V * C, &rng)
            let ids = (0..<N).map { _ in Int32.random(in: 0..<Int32(V), using: &rng) }
            let out = Buffer(N * C)
            embeddingForward(out: out.p, ids: ids, table: table.p, N: N, C: C, pool: Self.pool2)
            var ok = true
            for n in 0..<N { for j in 0..<C where out[n * C + j] != table[Int(ids[n]) * C + j] { ok = false } }
            #expect(ok, "seed \(seed) gather")
            let dout = Buffer(random: N * C, &rng), dt = Buffer(random: V * C, &rng), dtR = dt.copy()
            embeddingBackward(dtable: dt.p, dout: dout.p, ids: ids, N: N, C: C, pool: Self.pool2)
            embeddingBackwardNaive(dtable: dtR.p, dout: dout.p, ids: ids, N: N, C: C)
            #expect(worstError(dt, dtR, atol: 1e-6, rtol: 1e-6) <= 1, "seed \(seed) scatter-add")
        }
    }

    @Test func dropoutIsSeededScaledAndThreadIndependent() {
        var rng = SplitMix64(seed: testSeed())
        let n = 100_000
        let x = Buffer(random: n, &rng)
        let a = Buffer(n), b = Buffer(n)
        dropoutForward(out: a.p, input: x.p, count: n, p: 0.25, seed: 42, pool: ThreadPool(threads: 1))
        dropoutForward(out: b.p, input: x.p, count: n, p: 0.25, seed: 42, pool: Self.pool2)
        #expect(a.array == b.array)
        let dropped = (0..<n).filter { a[$0] == 0 }.count
        #expect(abs(Double(dropped) / Double(n) - 0.25) < 0.01)
        #expect((0..<n).allSatisfy { a[$0] == 0 || abs(a[$0] - x[$0] / 0.75) < 1e-6 })
        let c = Buffer(n)
        dropoutForward(out: c.p, input: x.p, count: n, p: 0.25, seed: 43)
        #expect(c.array != a.array)
        // Backward uses the same mask.
        let dy = Buffer(random: n, &rng), dx = Buffer(n)
        dx.p.update(repeating: 0, count: n)
        dropoutBackward(dinput: dx.p, dout: dy.p, count: n, p: 0.25, seed: 42)
        #expect((0..<n).allSatisfy { (a[$0] == 0) == (dx[$0] == 0) || dy[$0] == 0 })
        // Overwrite mode into a poisoned buffer equals accumulating into zeros.
        let dw = Buffer(n)
        dropoutBackward(dinput: dw.p, dout: dy.p, count: n, p: 0.25, seed: 42, accumulate: false, pool: Self.pool2)
        #expect(dw.array == dx.array)
    }

    @Test(arguments: [1, 7, 33, 257])
    func causalSoftmaxForwardAndBackward(T: Int) {
        let seed = testSeed()
        var rng = SplitMix64(seed: seed)
        for (H, offset, causal) in [(1, 0, true), (3, 0, true), (2, 5, true), (2, 0, false)] {
            let Tq = max(1, T - offset % max(T, 1)), Tk = Tq + offset
            let s = Buffer(random: H * Tq * Tk, &rng, scale: 6)
            let p = Buffer(H * Tq * Tk), pR = Buffer(H * Tq * Tk)
            causalSoftmaxForward(probs: p.p, scores: s.p, H: H, Tq: Tq, Tk: Tk, offset: offset, scale: 0.3, causal: causal, pool: Self.pool2)
            causalSoftmaxForwardNaive(probs: pR.p, scores: s.p, H: H, Tq: Tq, Tk: Tk, offset: offset, scale: 0.3, causal: causal)
            #expect(worstError(p, pR, atol: 2e-6, rtol: 1e-5) <= 1, "seed \(seed) forward T \(T) H \(H) offset \(offset)")
            let dp = Buffer(random: H * Tq * Tk, &rng), ds = Buffer(H * Tq * Tk), dsR = Buffer(H * Tq * Tk)
            causalSoftmaxBackward(dscores: ds.p, dprobs: dp.p, probs: pR.p, H: H, Tq: Tq, Tk: Tk, offset: offset, scale: 0.3, causal: causal, pool: Self.pool2)
            causalSoftmaxBackwardNaive(dscores: dsR.p, dprobs: dp.p, probs: pR.p, H: H, Tq: Tq, Tk: Tk, offset: offset, scale: 0.3, causal: causal)
            #expect(worstError(ds, dsR, atol: 1e-6, rtol: 1e-4) <= 1, "seed \(seed) backward")
        }
    }

    @Test func adamWMatchesTheFormulaAndClippingMatchesPyTorchsRule() {
        let seed = testSeed()
        var rng = SplitMix64(seed: seed)
        let n = 1037
        let p = Buffer(random: n, &rng), m = Buffer(n), v = Buffer(n)
        m.p.update(repeating: 0, count: n); v.p.update(repeating: 0, count: n)
        var pD = p.array.map(Double.init), mD = [Double](repeating: 0, count: n), vD = mD
        let h = AdamWHyper(lr: 1e-2, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1)
        for step in 1...5 {
            let g = Buffer(random: n, &rng)
            adamWStep(params: p.p, grads: g.p, m: m.p, v: v.p, count: n, step: step, hyper: h, pool: Self.pool2)
            for i in 0..<n {
                pD[i] *= 1 - 1e-2 * 0.1
                mD[i] = 0.9 * mD[i] + 0.1 * Double(g[i])
                vD[i] = 0.95 * vD[i] + 0.05 * Double(g[i]) * Double(g[i])
                let mh = mD[i] / (1 - pow(0.9, Double(step))), vh = vD[i] / (1 - pow(0.95, Double(step)))
                pD[i] -= 1e-2 * mh / (vh.squareRoot() + 1e-8)
            }
        }
        #expect(worstError(p.array, pD.map(Float.init), atol: 1e-6, rtol: 1e-5) <= 1, "seed \(seed)")
        let g = Buffer(random: n, &rng)
        let norm = (0..<n).reduce(0.0) { $0 + Double(g[$1]) * Double(g[$1]) }.squareRoot()
        let before = g.array
        let reported = clipGradientNorm(g.p, count: n, maxNorm: 1, pool: Self.pool2)
        #expect(abs(Double(reported) - norm) < 1e-4 * norm)
        let after = (0..<n).reduce(0.0) { $0 + Double(g[$1]) * Double(g[$1]) }.squareRoot()
        #expect(abs(after - 1) < 1e-4)
        #expect(abs(Double(g[0]) - Double(before[0]) / (norm + 1e-6)) < 1e-6)
        let small = Buffer([0.1, 0.2])
        clipGradientNorm(small.p, count: 2, maxNorm: 1)
        #expect(small.array == [0.1, 0.2])
    }
}

@Suite struct AttentionTests {
    /// Fast attention (blocked products per head, fused causal softmax) against the Double reference, and
    /// its backward against central differences of Σ dout·out. Awkward T and head sizes.
    @Test(arguments: [(1, 1, 8, 2), (2, 7, 16, 4), (1, 33, 24, 3), (2, 20, 64, 4)])
    func forwardAndBackward(shape: (Int, Int, Int, Int)) {
        let (B, T, C, H) = shape
        let seed = testSeed()
        var rng = SplitMix64(seed: seed)
        let qkv = Buffer(random: B * T * 3 * C, &rng)
        let out = Buffer(B * T * C), probs = Buffer(B * H * T * T)
        let outR = Buffer(B * T * C), probsR = Buffer(B * H * T * T)
        attentionForward(out: out.p, probs: probs.p, qkv: qkv.p, B: B, T: T, C: C, H: H)
        attentionForwardNaive(out: outR.p, probs: probsR.p, qkv: qkv.p, B: B, T: T, C: C, H: H)
        #expect(worstError(out, outR, atol: 1e-5, rtol: 1e-4) <= 1, "seed \(seed) out \(shape)")
        #expect(worstError(probs, probsR, atol: 1e-6, rtol: 1e-4) <= 1, "seed \(seed) probs")
        let dout = Buffer(random: B * T * C, &rng), dqkv = Buffer(B * T * 3 * C)
        attentionBackward(dqkv: dqkv.p, dout: dout.p, qkv: qkv.p, probs: probs.p, B: B, T: T, C: C, H: H)
        func loss(_ x: Buffer) -> Double {
            attentionForwardNaive(out: outR.p, probs: probsR.p, qkv: x.p, B: B, T: T, C: C, H: H)
            return (0..<(B * T * C)).reduce(0.0) { $0 + Double(outR[$1]) * Double(dout[$1]) }
        }
        for _ in 0..<40 {
            let i = Int.random(in: 0..<(B * T * 3 * C), using: &rng)
            let h: Float = 1e-2
            let xp = qkv.copy(), xm = qkv.copy()
            xp[i] += h; xm[i] -= h
            let fd = (loss(xp) - loss(xm)) / Double(2 * h)
            #expect(abs(fd - Double(dqkv[i])) < 1e-3 + 1e-3 * abs(fd), "seed \(seed) \(shape) element \(i): fd \(fd) vs \(dqkv[i])")
        }
    }
}

@Suite struct MaskedAttentionTests {
    /// The general kernel (separate q, k, v; Tq ≠ Tk; per-sequence key lengths; causal or not) against the
    /// Double reference with an explicit mask, on awkward sizes, outputs poisoned first; the backward against
    /// central differences of the reference.
    @Test(arguments: [(1, 1, 1, 4, 1), (2, 7, 33, 8, 2), (3, 33, 7, 12, 3), (1, 17, 17, 16, 4)])
    func maskedAttentionMatchesReference(shape: (Int, Int, Int, Int, Int)) {
        let (B, Tq, Tk, C, H) = shape
        let seed = testSeed()
        var rng = SplitMix64(seed: seed)
        let q = Buffer(random: B * Tq * C, &rng), k = Buffer(random: B * Tk * C, &rng), v = Buffer(random: B * Tk * C, &rng)
        let lengths = (0..<B).map { _ in Int32(Int.random(in: 1...Tk, using: &rng)) }
        for causal in [false, true] where !causal || Tq == Tk {
            let out = Buffer(B * Tq * C), probs = Buffer(B * H * Tq * Tk), ref = Buffer(B * Tq * C)
            out.poison(); probs.poison()
            lengths.withUnsafeBufferPointer { len in
                multiHeadAttentionForward(out: out.p, ldo: C, probs: probs.p, q: q.p, ldq: C, k: k.p, ldk: C, v: v.p, ldv: C,
                                          B: B, Tq: Tq, Tk: Tk, C: C, H: H, causal: causal, keyLengths: len.baseAddress)
            }
            multiHeadAttentionForwardNaive(out: ref.p, q: q.p, k: k.p, v: v.p, B: B, Tq: Tq, Tk: Tk, C: C, H: H,
                                           causal: causal, keyLengths: lengths)
            #expect(worstError(out, ref, atol: 1e-5, rtol: 1e-4) <= 1, "seed \(seed) \(shape) causal \(causal)")
            // Backward: dq, dk, dv against central differences of Σ out·dout.
            let dout = Buffer(random: B * Tq * C, &rng)
            let dq = Buffer(B * Tq * C), dk = Buffer(B * Tk * C), dv = Buffer(B * Tk * C)
            dq.poison(); dk.poison(); dv.poison()
            lengths.withUnsafeBufferPointer { len in
                multiHeadAttentionBackward(dq: dq.p, lddq: C, dk: dk.p, dv: dv.p, lddkv: C, dout: dout.p, ldo: C, q: q.p, ldq: C,
                                           k: k.p, ldk: C, v: v.p, ldv: C, probs: probs.p, B: B, Tq: Tq, Tk: Tk, C: C, H: H,
                                           causal: causal, keyLengths: len.baseAddress)
            }
            // Every element against the naive backward (written as the forward in reverse, in Double).
            let dqR = Buffer(B * Tq * C), dkR = Buffer(B * Tk * C), dvR = Buffer(B * Tk * C)
            multiHeadAttentionBackwardNaive(dq: dqR.p, dk: dkR.p, dv: dvR.p, dout: dout.p, q: q.p, k: k.p, v: v.p,
                                            B: B, Tq: Tq, Tk: Tk, C: C, H: H, causal: causal, keyLengths: lengths)
            for (fast, naive, name) in [(dq, dqR, "dq"), (dk, dkR, "dk"), (dv, dvR, "dv")] {
                #expect(worstError(fast, naive, atol: 1e-5, rtol: 1e-4) <= 1, "\(seedNote(seed)) \(shape) causal \(causal) \(name) vs naive")
            }
            for (x, dx, name) in [(q, dq, "q"), (k, dk, "k"), (v, dv, "v")] {
                func loss(_ xs: Buffer) -> Double {
                    let r = Buffer(B * Tq * C)
                    multiHeadAttentionForwardNaive(out: r.p, q: name == "q" ? xs.p : q.p, k: name == "k" ? xs.p : k.p,
                                                   v: name == "v" ? xs.p : v.p, B: B, Tq: Tq, Tk: Tk, C: C, H: H,
                                                   causal: causal, keyLengths: lengths)
                    return (0..<(B * Tq * C)).reduce(0.0) { $0 + Double(r[$1]) * Double(dout[$1]) }
                }
                for _ in 0..<12 {
                    let i = Int.random(in: 0..<x.count, using: &rng)
                    let h: Float = 1e-2
                    let xp = x.copy(), xm = x.copy()
                    xp[i] += h; xm[i] -= h
                    let fd = (loss(xp) - loss(xm)) / Double(2 * h)
                    #expect(abs(fd - Double(dx[i])) < 1e-3 + 1e-3 * abs(fd), "seed \(seed) \(shape) d\(name)[\(i)]: fd \(fd) vs \(dx[i])")
                }
            }
        }
    }
}
