import Foundation
import Testing
import Kernels
import TestSupport

/// Streaming attention (online softmax over key blocks, no stored probabilities) against the Double references
/// with an explicit mask: forward, its log-sum-exp, and backward, on awkward sizes that cross the query (64)
/// and key (128) blocks, causal or not, with per-sequence key lengths; outputs poisoned first.
@Suite struct StreamingAttentionTests {
    @Test(arguments: [(1, 1, 1, 4, 1), (2, 7, 33, 14, 2), (2, 130, 130, 16, 2), (1, 257, 257, 64, 4), (3, 65, 300, 12, 3)])
    func matchesTheReference(shape: (Int, Int, Int, Int, Int)) {
        let (B, Tq, Tk, C, H) = shape
        let seed = testSeed()
        var rng = SplitMix64(seed: seed)
        let q = Buffer(random: B * Tq * C, &rng, scale: 2), k = Buffer(random: B * Tk * C, &rng, scale: 2)
        let v = Buffer(random: B * Tk * C, &rng)
        let hs = C / H
        for causal in [false, true] where !causal || Tq == Tk {
            for masked in [false, true] {
                let lengths: [Int32]? = masked ? (0..<B).map { _ in Int32(Int.random(in: 1...Tk, using: &rng)) } : nil
                let out = Buffer(B * Tq * C), lse = Buffer(B * H * Tq), ref = Buffer(B * Tq * C)
                out.poison(); lse.poison()
                let run = { (len: UnsafePointer<Int32>?) in
                    streamingAttentionForward(out: out.p, ldo: C, lse: lse.p, q: q.p, ldq: C, k: k.p, ldk: C, v: v.p, ldv: C,
                                              B: B, Tq: Tq, Tk: Tk, C: C, H: H, causal: causal, keyLengths: len)
                }
                if let lengths { lengths.withUnsafeBufferPointer { run($0.baseAddress) } } else { run(nil) }
                multiHeadAttentionForwardNaive(out: ref.p, q: q.p, k: k.p, v: v.p, B: B, Tq: Tq, Tk: Tk, C: C, H: H,
                                               causal: causal, keyLengths: lengths)
                let label = "\(seedNote(seed)) \(shape) causal \(causal) masked \(masked)"
                #expect(worstError(out, ref, atol: 1e-5, rtol: 1e-4) <= 1, "\(label): output")
                // The log-sum-exp of each row's scaled scores, in Double.
                var worstLSE = 0.0
                for b in 0..<B { for h in 0..<H { for i in 0..<Tq {
                    let limit = lengths.map { Int($0[b]) } ?? Tk
                    var s: [Double] = []
                    for j in 0..<Tk where j < limit && (!causal || j <= i) {
                        var d = 0.0
                        for c in 0..<hs { d += Double(q[(b * Tq + i) * C + h * hs + c]) * Double(k[(b * Tk + j) * C + h * hs + c]) }
                        s.append(d / Double(hs).squareRoot())
                    }
                    let mx = s.max()!
                    let want = mx + Foundation.log(s.reduce(0.0) { $0 + Foundation.exp($1 - mx) })
                    worstLSE = max(worstLSE, abs(Double(lse[(b * H + h) * Tq + i]) - want) / (1e-5 + 1e-5 * abs(want)))
                }}}
                #expect(worstLSE <= 1, "\(label): log-sum-exp off by \(worstLSE)× the tolerance")
                // Backward from the streaming forward's own output and log-sum-exp.
                let dout = Buffer(random: B * Tq * C, &rng)
                let dq = Buffer(B * Tq * C), dk = Buffer(B * Tk * C), dv = Buffer(B * Tk * C)
                dq.poison(); dk.poison(); dv.poison()
                let back = { (len: UnsafePointer<Int32>?) in
                    streamingAttentionBackward(dq: dq.p, lddq: C, dk: dk.p, dv: dv.p, lddkv: C, dout: dout.p, ldo: C,
                                               out: out.p, ldout: C, lse: lse.p, q: q.p, ldq: C, k: k.p, ldk: C, v: v.p, ldv: C,
                                               B: B, Tq: Tq, Tk: Tk, C: C, H: H, causal: causal, keyLengths: len)
                }
                if let lengths { lengths.withUnsafeBufferPointer { back($0.baseAddress) } } else { back(nil) }
                let dqR = Buffer(B * Tq * C), dkR = Buffer(B * Tk * C), dvR = Buffer(B * Tk * C)
                multiHeadAttentionBackwardNaive(dq: dqR.p, dk: dkR.p, dv: dvR.p, dout: dout.p, q: q.p, k: k.p, v: v.p,
                                                B: B, Tq: Tq, Tk: Tk, C: C, H: H, causal: causal, keyLengths: lengths)
                for (fast, naive, name) in [(dq, dqR, "dq"), (dk, dkR, "dk"), (dv, dvR, "dv")] {
                    #expect(worstError(fast, naive, atol: 1e-5, rtol: 1e-4) <= 1, "\(label): \(name)")
                }
            }
        }
    }

    /// On the packed q|k|v rows the model uses (leading dimension 3C, output rows wider than C), the same as the
    /// kernel that stores the probabilities, within float rounding; padding columns of the outputs untouched.
    @Test func matchesTheStoredProbabilityKernelOnPackedRows() {
        let seed = testSeed()
        var rng = SplitMix64(seed: seed)
        let B = 2, T = 200, C = 32, H = 4, ldo = C + 3
        let qkv = Buffer(random: B * T * 3 * C, &rng)
        let out = Buffer(B * T * ldo), ref = Buffer(B * T * ldo), lse = Buffer(B * H * T), probs = Buffer(B * H * T * T)
        out.poison(); ref.poison()
        streamingAttentionForward(out: out.p, ldo: ldo, lse: lse.p, q: qkv.p, ldq: 3 * C, k: qkv.p + C, ldk: 3 * C,
                                  v: qkv.p + 2 * C, ldv: 3 * C, B: B, Tq: T, Tk: T, C: C, H: H, causal: true, keyLengths: nil)
        multiHeadAttentionForward(out: ref.p, ldo: ldo, probs: probs.p, q: qkv.p, ldq: 3 * C, k: qkv.p + C, ldk: 3 * C,
                                  v: qkv.p + 2 * C, ldv: 3 * C, B: B, Tq: T, Tk: T, C: C, H: H, causal: true, keyLengths: nil)
        #expect(worstError(out, ref, rows: B * T, cols: C, ld: ldo, atol: 1e-6, rtol: 1e-5) <= 1, "\(seedNote(seed))")
        #expect((0..<(B * T)).allSatisfy { r in (C..<ldo).allSatisfy { out[r * ldo + $0].isNaN } }, "padding written")
        let dout = Buffer(random: B * T * ldo, &rng)
        let dqkv = Buffer(B * T * 3 * C), refd = Buffer(B * T * 3 * C)
        dqkv.poison()
        streamingAttentionBackward(dq: dqkv.p, lddq: 3 * C, dk: dqkv.p + C, dv: dqkv.p + 2 * C, lddkv: 3 * C, dout: dout.p, ldo: ldo,
                                   out: out.p, ldout: ldo, lse: lse.p, q: qkv.p, ldq: 3 * C, k: qkv.p + C, ldk: 3 * C,
                                   v: qkv.p + 2 * C, ldv: 3 * C, B: B, Tq: T, Tk: T, C: C, H: H, causal: true, keyLengths: nil)
        multiHeadAttentionBackward(dq: refd.p, dk: refd.p + C, dv: refd.p + 2 * C, ldd: 3 * C, dout: dout.p, ldo: ldo,
                                   q: qkv.p, ldq: 3 * C, k: qkv.p + C, ldk: 3 * C, v: qkv.p + 2 * C, ldv: 3 * C, probs: probs.p,
                                   B: B, Tq: T, Tk: T, C: C, H: H, causal: true, keyLengths: nil)
        #expect(worstError(dqkv, refd, atol: 1e-5, rtol: 1e-4) <= 1, "\(seedNote(seed)): dqkv")
    }
}
