import Foundation
import Testing
import Kernels
import TestSupport

@Suite struct CachedAttentionTests {
    /// The SIMD, multi-threaded kernel against its Double reference on awkward head sizes and row counts, rows
    /// of different lengths (1 to 257 positions) at scattered offsets with a position stride wider than the
    /// heads (as the translation decoder's fused cross keys and values are laid out); the output is poisoned,
    /// padding columns outside the heads must stay untouched. Tolerance 1e-5 abs + 1e-4 rel.
    @Test(arguments: [1, 7, 8, 33, 40, 64])
    func matchesTheNaiveVersion(hs: Int) {
        let seed = testSeed(UInt64(hs))
        var rng = SplitMix64(seed: seed)
        for (R, H) in [(1, 1), (7, 3), (33, 2)] {
            let C = H * hs, ldq = 3 * C + 5, ldo = C + 3, ldkv = 2 * C + 1
            let lengths = (0..<R).map { r in Int32([1, 7, 33, 257][(r + hs) % 4]) }
            // Each row's cache at its own place, in a shuffled order with gaps between rows.
            var offsets: [Int] = [], next = 11
            for r in (0..<R).reversed() { offsets.insert(next, at: 0); next += Int(lengths[r]) * ldkv + 13 }
            let keys = Buffer(random: next, &rng, scale: 2), values = Buffer(random: next, &rng)
            let q = Buffer(random: R * ldq, &rng, scale: 2)
            let scale = 1 / Float(hs).squareRoot()
            let ref = Buffer(R * ldo)
            cachedAttentionForwardNaive(out: ref.p, ldo: ldo, q: q.p, ldq: ldq, keys: keys.p, values: values.p, offsets: offsets,
                                        ldkv: ldkv, lengths: lengths, R: R, H: H, hs: hs, scale: scale)
            for threads in [1, 3] {
                let out = Buffer(R * ldo), scores = Buffer(R * H * 260)
                cachedAttentionForward(out: out.p, ldo: ldo, q: q.p, ldq: ldq, keys: keys.p, values: values.p, offsets: offsets,
                                       ldkv: ldkv, lengths: lengths, R: R, H: H, hs: hs, scale: scale,
                                       scores: scores.p, ldScores: 260, pool: ThreadPool(threads: threads))
                #expect(worstError(out, ref, rows: R, cols: C, ld: ldo, atol: 1e-5, rtol: 1e-4) <= 1,
                        "\(seedNote(seed)) R \(R) H \(H) hs \(hs) threads \(threads)")
                // Columns past the heads were never written: still NaN.
                #expect((0..<R).allSatisfy { r in (C..<ldo).allSatisfy { out[r * ldo + $0].isNaN } }, "wrote outside the heads")
            }
        }
    }
}
