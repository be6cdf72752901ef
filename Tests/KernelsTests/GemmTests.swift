import Testing
import Kernels
import CKernelSupport
import TestSupport

@Suite struct GemmTests {
    static let sizes = [1, 7, 33, 257]
    static let pools = [ThreadPool(threads: 1), ThreadPool(threads: 2), ThreadPool(threads: 3)]

    @Test func everyKernelThisCPURunsIsTested() {
        // On an AVX-512 machine both micro-kernels must be exercised (the random choice above covers each
        // over the 324 products of a run with overwhelming probability).
        #expect(GemmKernel.available.count == (GemmKernel.avx512 == nil ? 1 : 2))
        #expect(GemmKernel.available.contains { $0.name == GemmKernel.best.name })
    }

    /// Fast vs naive on every combination of awkward m, n, k, both transposes, padded leading dimensions,
    /// and α/β ∈ {(1, 0), (0.5, 1), (-2, 0.25)}, with C poisoned (β = 0) or random (β ≠ 0).
    /// Tolerance: |Δ| ≤ 1e-5·k + 1e-4·|ref|, float32 sums in a different order.
    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func matchesNaiveOnAwkwardSizes(transA: Bool, transB: Bool) {
        let seed = testSeed()
        var rng = SplitMix64(seed: seed)
        for m in Self.sizes { for n in Self.sizes { for k in Self.sizes {
            for (alpha, beta): (Float, Float) in [(1, 0), (0.5, 1), (-2, 0.25)] {
                let pad = Int.random(in: 0...3, using: &rng)
                let lda = (transA ? m : k) + pad, ldb = (transB ? k : n) + pad, ldc = n + pad
                let a = Buffer(random: (transA ? k : m) * lda, &rng)
                let b = Buffer(random: (transB ? n : k) * ldb, &rng)
                let c0 = Buffer(random: m * ldc, &rng)
                let ref = c0.copy()
                if beta == 0 { ref.poison() }
                sgemmNaive(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a.p, lda: lda,
                           b: b.p, ldb: ldb, beta: beta, c: ref.p, ldc: ldc)
                let pool = Self.pools[Int.random(in: 0..<3, using: &rng)]
                let kernel = GemmKernel.available[Int.random(in: 0..<GemmKernel.available.count, using: &rng)]
                let c = c0.copy()
                if beta == 0 { c.poison() }
                sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a.p, lda: lda,
                      b: b.p, ldb: ldb, beta: beta, c: c.p, ldc: ldc, pool: pool, kernel: kernel)
                // Compare the m×n block only: padding columns are not part of C.
                let worst = worstError(c, ref, rows: m, cols: n, ld: ldc, atol: 1e-5 * Float(k), rtol: 1e-4)
                #expect(worst <= 1, "seed \(seed) m \(m) n \(n) k \(k) α \(alpha) β \(beta) threads \(pool.threadCount) kernel \(kernel.name): \(worst)")
                // Padding columns must be untouched.
                if pad > 0 {
                    var untouched = true
                    for i in 0..<m { for j in n..<ldc where c[i * ldc + j] != c0[i * ldc + j] && !(beta == 0) { untouched = false } }
                    #expect(untouched, "seed \(seed): padding of C was written")
                }
            }
        }}}
    }

    @Test func largeProductsAcrossBlockBoundaries() {
        // Crosses KC (256), MC (120) and NC (2048) boundaries with remainders on every side.
        let seed = testSeed()
        var rng = SplitMix64(seed: seed)
        for kernel in GemmKernel.available {
            for (m, n, k) in [(250, 4200, 300), (1000, 40, 513), (3, 4100, 17)] {
                let a = Buffer(random: m * k, &rng), b = Buffer(random: k * n, &rng)
                let ref = Buffer(m * n), c = Buffer(m * n)
                sgemmNaive(transA: false, transB: false, m: m, n: n, k: k, alpha: 1, a: a.p, lda: k, b: b.p, ldb: n, beta: 0, c: ref.p, ldc: n)
                sgemm(transA: false, transB: false, m: m, n: n, k: k, alpha: 1, a: a.p, lda: k, b: b.p, ldb: n, beta: 0, c: c.p, ldc: n,
                      pool: Self.pools[1], kernel: kernel)
                #expect(worstError(c, ref, atol: 1e-5 * Float(k), rtol: 1e-4) <= 1, "seed \(seed) \(m)×\(n)×\(k) \(kernel.name)")
            }
        }
    }

    @Test func zeroSizesAreNoOpsAndKZeroScalesC() {
        var rng = SplitMix64(seed: testSeed())
        let a = Buffer(random: 64, &rng), b = Buffer(random: 64, &rng)
        let c = Buffer(random: 64, &rng), before = c.copy()
        sgemm(transA: false, transB: false, m: 0, n: 8, k: 8, alpha: 1, a: a.p, lda: 8, b: b.p, ldb: 8, beta: 0, c: c.p, ldc: 8)
        sgemm(transA: false, transB: false, m: 8, n: 0, k: 8, alpha: 1, a: a.p, lda: 8, b: b.p, ldb: 8, beta: 0, c: c.p, ldc: 8)
        #expect(c.array == before.array)
        sgemm(transA: false, transB: false, m: 8, n: 8, k: 0, alpha: 1, a: a.p, lda: 8, b: b.p, ldb: 8, beta: 0.5, c: c.p, ldc: 8)
        #expect(c.array == before.array.map { $0 * 0.5 })
    }
}

@Suite struct ThreadPoolTests {
    /// Pools come and go (a failed load destroys a model and its pool): creating, using and destroying many
    /// must neither crash nor leave work undone.
    @Test func poolsCanBeCreatedUsedAndDestroyed() {
        for round in 0..<50 {
            let pool = ThreadPool(threads: 1 + round % 3)
            var hits = [Int](repeating: 0, count: 1000)
            hits.withUnsafeMutableBufferPointer { h in
                pool.parallelFor(1000) { r in for i in r { h[i] += 1 } }
            }
            #expect(hits.allSatisfy { $0 == 1 })
        }
        // A pool destroyed right after creation, before its workers ever ran a job.
        for n in 2...4 { _ = ThreadPool(threads: n) }
    }
}

@Suite struct GemmPackingTests {
    /// The vectorised packings (8×8 and 4×4 in-register transposes, then scalar edges) against their scalar
    /// references, exactly (they only move floats), at awkward sizes with the destination poisoned.
    @Test func packingMatchesTheScalarReference() {
        let seed = testSeed()
        var rng = SplitMix64(seed: seed)
        for width in [6, 12, 16, 32] {
            for rows in Set([1, 3, 4, 5, 7, 8, 9, 11, width].filter { $0 <= width }).sorted() {
                for cols in [1, 7, 8, 9, 33, 257] {
                    let lds = cols + Int.random(in: 0...3, using: &rng)
                    let src = Buffer(random: rows * lds, &rng)
                    let fast = Buffer(cols * width), ref = Buffer(cols * width)
                    fast.poison()
                    lmt_pack_transposed(src.p, lds, rows, cols, width, fast.p)
                    packTransposedNaive(src: src.p, lds: lds, rows: rows, cols: cols, width: width, dst: ref.p)
                    #expect(fast.array == ref.array, "seed \(seed): transposed rows \(rows) cols \(cols) width \(width)")

                    // Row copies: `cols` floats of each of `rows` rows (here rows plays the k extent).
                    let rsrc = Buffer(random: cols * (rows + 3), &rng)
                    let rfast = Buffer(cols * width), rref = Buffer(cols * width)
                    rfast.poison()
                    lmt_pack_rows(rsrc.p, rows + 3, cols, rows, width, rfast.p)
                    packRowsNaive(src: rsrc.p, lds: rows + 3, rows: cols, cols: rows, width: width, dst: rref.p)
                    #expect(rfast.array == rref.array, "seed \(seed): rows \(cols)×\(rows) width \(width)")
                }
            }
        }
    }
}

@Suite struct GemmEpilogueTests {
    /// The bias and GELU epilogue against the naive product followed by a bias add and the Double GELU, on
    /// awkward sizes, k across the KC = 256 panel boundary (the epilogue must run once, after the last panel),
    /// every kernel and 1–2 threads, with C and the GELU output poisoned.
    @Test func biasAndGELUEpilogueMatchesSeparatePasses() {
        let seed = testSeed()
        var rng = SplitMix64(seed: seed)
        let pools = [ThreadPool(threads: 1), ThreadPool(threads: 2)]
        for m in [1, 7, 33, 257] { for n in [1, 7, 33, 257] { for k in [7, 300] {
            let ldc = n + Int.random(in: 0...2, using: &rng)
            let a = Buffer(random: m * k, &rng), b = Buffer(random: k * n, &rng, scale: 0.3)
            let bias = Buffer(random: n, &rng)
            let ref = Buffer(m * ldc), refGelu = Buffer(m * ldc)
            sgemmNaive(transA: false, transB: false, m: m, n: n, k: k, alpha: 1, a: a.p, lda: k, b: b.p, ldb: n,
                       beta: 0, c: ref.p, ldc: ldc)
            for i in 0..<m { for j in 0..<n {
                ref[i * ldc + j] += bias[j]
                refGelu[i * ldc + j] = geluNaive(ref[i * ldc + j])
            }}
            for kernel in GemmKernel.available {
                let c = Buffer(m * ldc), g = Buffer(m * ldc)
                c.poison(); g.poison()
                sgemm(transA: false, transB: false, m: m, n: n, k: k, alpha: 1, a: a.p, lda: k, b: b.p, ldb: n,
                      beta: 0, c: c.p, ldc: ldc, bias: bias.p, geluOut: g.p,
                      pool: pools[Int.random(in: 0..<2, using: &rng)], kernel: kernel)
                let worstC = worstError(c, ref, rows: m, cols: n, ld: ldc, atol: 1e-5 * Float(k), rtol: 1e-4)
                let worstG = worstError(g, refGelu, rows: m, cols: n, ld: ldc, atol: 1e-5 * Float(k), rtol: 1e-4)
                #expect(worstC <= 1 && worstG <= 1, "seed \(seed) \(m)×\(n)×\(k) \(kernel.name): C \(worstC), GELU \(worstG)")
            }
        }}}
    }

    /// The GELU-backward epilogue (C = (A·Bᵀ) ⊙ GELU'(X), as in an MLP's backward) against the naive product
    /// times the Double derivative, on the same awkward sizes, with C poisoned.
    @Test func geluBackwardEpilogueMatchesSeparatePasses() {
        let seed = testSeed()
        var rng = SplitMix64(seed: seed)
        let pools = [ThreadPool(threads: 1), ThreadPool(threads: 2)]
        for m in [1, 7, 33, 257] { for n in [1, 7, 33, 257] { for k in [7, 300] {
            let ldc = n + Int.random(in: 0...2, using: &rng)
            let a = Buffer(random: m * k, &rng), b = Buffer(random: n * k, &rng, scale: 0.3)
            let x = Buffer(random: m * ldc, &rng, scale: 4)
            let ref = Buffer(m * ldc)
            sgemmNaive(transA: false, transB: true, m: m, n: n, k: k, alpha: 1, a: a.p, lda: k, b: b.p, ldb: k,
                       beta: 0, c: ref.p, ldc: ldc)
            for i in 0..<m { for j in 0..<n { ref[i * ldc + j] *= geluDerivativeNaive(x[i * ldc + j]) } }
            for kernel in GemmKernel.available {
                let c = Buffer(m * ldc)
                c.poison()
                sgemm(transA: false, transB: true, m: m, n: n, k: k, alpha: 1, a: a.p, lda: k, b: b.p, ldb: k,
                      beta: 0, c: c.p, ldc: ldc, geluGradInput: x.p, pool: pools[Int.random(in: 0..<2, using: &rng)], kernel: kernel)
                let worst = worstError(c, ref, rows: m, cols: n, ld: ldc, atol: 1e-5 * Float(k), rtol: 1e-4)
                #expect(worst <= 1, "seed \(seed) \(m)×\(n)×\(k) \(kernel.name): \(worst)")
            }
        }}}
    }
}
