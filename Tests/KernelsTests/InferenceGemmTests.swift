import Foundation
import Testing
import Kernels
import CKernelSupport
import TestSupport

/// The inference products: int8 (`int8Gemm`) against its naive reference and against the FP32 product within
/// the quantisation bound, and FP32 on prepacked weights (`packedGemm`) against `sgemm`.
@Suite struct InferenceGemmTests {
    static let sizes = [1, 7, 33, 257]
    static let pools = [ThreadPool(threads: 1), ThreadPool(threads: 2), ThreadPool(threads: 3)]

    @Test func everyInt8KernelThisCPURunsIsTested() {
        #expect(Int8Kernel.available.contains(.avx2))
        #expect(Int8Kernel.available.contains(.avx512vnni) == (lmt_cpu_has_avx512_vnni() != 0))
        #expect(Int8Kernel.available.contains(Int8Kernel.best))
    }

    /// Bit for bit the naive integer product on every awkward m, n, k (and m = 130, across int8Gemm's 96-row
    /// packing chunks), both weight layouts, padded leading
    /// dimensions, with and without bias and GELU, on every int8 kernel and 1–3 threads, C poisoned.
    @Test(arguments: Int8Kernel.available)
    func int8MatchesNaiveExactly(kernel: Int8Kernel) {
        let seed = testSeed()
        var rng = SplitMix64(seed: seed)
        for m in Self.sizes + [130] { for n in Self.sizes { for k in Self.sizes {
            let transposed = Bool.random(using: &rng), pad = Int.random(in: 0...3, using: &rng)
            let ldw = (transposed ? k : n) + pad, lda = k + pad, ldc = n + pad
            let w = Buffer(random: (transposed ? n : k) * ldw, &rng, scale: 0.5)
            let a = Buffer(random: m * lda, &rng, scale: 3)
            // A row of zeros (scale 0) must give the bias alone.
            if m > 3 { for p in 0..<k { a[2 * lda + p] = 0 } }
            let bias: Buffer? = Bool.random(using: &rng) ? Buffer(random: n, &rng) : nil
            let q = Int8Matrix(weight: w.p, ldw: ldw, k: k, n: n, transposed: transposed)
            let ref = Buffer(m * ldc), c = Buffer(m * ldc), gelu = Buffer(m * ldc)
            int8GemmNaive(m: m, a: a.p, lda: lda, b: q, bias: bias?.p, c: ref.p, ldc: ldc)
            let pool = Self.pools[Int.random(in: 0..<3, using: &rng)]
            int8Gemm(m: m, a: a.p, lda: lda, b: q, bias: bias?.p, c: c.p, ldc: ldc, geluOut: gelu.p, pool: pool, kernel: kernel)
            var same = true, geluOK = true, untouched = true
            for i in 0..<m {
                for j in 0..<ldc {
                    if j < n {
                        same = same && c[i * ldc + j] == ref[i * ldc + j]
                        let x: Float = ref[i * ldc + j]
                        let u: Float = 0.7978845608 * (x + 0.044715 * x * x * x)
                        let g: Float = 0.5 * x * (1 + tanhf(u))
                        geluOK = geluOK && abs(gelu[i * ldc + j] - g) <= 1e-5 * max(1, abs(g))
                    } else {
                        untouched = untouched && c[i * ldc + j].isNaN
                    }
                }
            }
            let label = "seed \(seed) m \(m) n \(n) k \(k) transposed \(transposed) threads \(pool.threadCount) \(kernel)"
            #expect(same, "\(label): differs from the naive product")
            #expect(geluOK, "\(label): GELU epilogue")
            #expect(untouched, "\(label): padding of C was written")
        }}}
    }

    /// The quantised product is within the quantisation bound of the FP32 one: per element
    /// Σ_p |a_p|·δw_j + |w_pj|·δa + δa·δw_j, δ = half a step (scale / 2), plus float rounding.
    @Test func int8IsWithinTheQuantisationBound() {
        let seed = testSeed()
        var rng = SplitMix64(seed: seed)
        for (m, n, k) in [(1, 1, 1), (7, 33, 257), (130, 64, 1024), (33, 8000, 256)] {
            let w = Buffer(random: k * n, &rng, scale: 0.2), a = Buffer(random: m * k, &rng, scale: 2)
            let q = Int8Matrix(weight: w.p, ldw: n, k: k, n: n, transposed: false)
            let c = Buffer(m * n), exact = Buffer(m * n)
            int8Gemm(m: m, a: a.p, lda: k, b: q, bias: nil, c: c.p, ldc: n, pool: Self.pools[1])
            sgemmNaive(transA: false, transB: false, m: m, n: n, k: k, alpha: 1, a: a.p, lda: k, b: w.p, ldb: n,
                       beta: 0, c: exact.p, ldc: n)
            var worst: Float = 0, meanError: Double = 0, meanBound: Double = 0
            for i in 0..<m {
                var amax: Float = 0
                for p in 0..<k { amax = max(amax, abs(a[i * k + p])) }
                let da = amax / 127 / 2
                for j in 0..<n {
                    let dw = q.scale(j) / 2
                    var bound: Float = 0
                    for p in 0..<k { bound += abs(a[i * k + p]) * dw + abs(w[p * n + j]) * da + da * dw }
                    let err = abs(c[i * n + j] - exact[i * n + j])
                    worst = max(worst, err / (bound * 1.001 + 1e-5))
                    meanError += Double(err) / Double(m * n)
                    meanBound += Double(bound) / Double(m * n)
                }
            }
            #expect(worst <= 1, "seed \(seed) \(m)×\(n)×\(k): error \(worst)× the bound")
            // And far inside it on average (rounding errors cancel): a test that would catch a scale off by 2.
            #expect(meanError > 0 && (k < 33 || meanError < 0.25 * meanBound), "seed \(seed) \(m)×\(n)×\(k): mean error \(meanError), mean bound \(meanBound)")
        }
    }

    /// The weights' codes and scales: symmetric per column, the column's largest magnitude mapping to ±127.
    @Test func weightQuantisationIsPerColumnSymmetric() {
        var rng = SplitMix64(seed: testSeed())
        let k = 9, n = 5
        let w = Buffer(random: k * n, &rng)
        for p in 0..<k { w[p * n + 3] = 0 }   // an all-zero column
        let q = Int8Matrix(weight: w.p, ldw: n, k: k, n: n, transposed: false)
        let t = Int8Matrix(weight: w.p, ldw: n, k: n, n: k, transposed: true)   // Wᵀ, columns are W's rows
        for j in 0..<n {
            var amax: Float = 0
            for p in 0..<k { amax = max(amax, abs(w[p * n + j])) }
            #expect(q.scale(j) == amax / 127)
            var hit = j == 3
            for p in 0..<k {
                let code = q.code(p, j)
                #expect(code >= -127 && code <= 127)
                #expect(abs(Float(code) * q.scale(j) - w[p * n + j]) <= q.scale(j) / 2 * 1.0001)
                hit = hit || abs(code) == 127
            }
            #expect(hit, "column \(j): no code reaches ±127")
        }
        // Transposed, the columns of op(W) are W's rows: each row of W gets its own scale.
        for p in 0..<k {
            var amax: Float = 0
            for j in 0..<n { amax = max(amax, abs(w[p * n + j])) }
            #expect(t.scale(p) == amax / 127)
            for j in 0..<n { #expect(abs(Float(t.code(j, p)) * t.scale(p) - w[p * n + j]) <= t.scale(p) / 2 * 1.0001) }
        }
    }

    /// Prepacked FP32 weights give sgemm's result bit for bit (same kernel, same k blocks), with the bias and
    /// GELU epilogues, on awkward sizes and across k blocks (k = 513 crosses the kernels' kc of 256 twice).
    @Test func packedMatchesSgemmExactly() {
        let seed = testSeed()
        var rng = SplitMix64(seed: seed)
        for kernel in GemmKernel.available {
            for m in Self.sizes + [130] { for n in Self.sizes { for k in Self.sizes + [513] {
                let transposed = Bool.random(using: &rng), pad = Int.random(in: 0...3, using: &rng)
                let ldw = (transposed ? k : n) + pad, lda = k + pad, ldc = n + pad
                let w = Buffer(random: (transposed ? n : k) * ldw, &rng), a = Buffer(random: m * lda, &rng)
                let bias = Buffer(random: n, &rng)
                let pw = PackedMatrix(weight: w.p, ldw: ldw, k: k, n: n, transposed: transposed, kernel: kernel)
                let ref = Buffer(m * ldc), refGelu = Buffer(m * ldc), c = Buffer(m * ldc), gelu = Buffer(m * ldc)
                let pool = Self.pools[Int.random(in: 0..<3, using: &rng)]
                sgemm(transA: false, transB: transposed, m: m, n: n, k: k, alpha: 1, a: a.p, lda: lda, b: w.p, ldb: ldw,
                      beta: 0, c: ref.p, ldc: ldc, bias: bias.p, geluOut: refGelu.p, pool: pool, kernel: kernel)
                packedGemm(m: m, a: a.p, lda: lda, b: pw, bias: bias.p, c: c.p, ldc: ldc, geluOut: gelu.p, pool: pool)
                var same = true, untouched = true
                for i in 0..<m {
                    for j in 0..<ldc {
                        if j < n { same = same && c[i * ldc + j] == ref[i * ldc + j] && gelu[i * ldc + j] == refGelu[i * ldc + j] }
                        else { untouched = untouched && c[i * ldc + j].isNaN }
                    }
                }
                #expect(same, "seed \(seed) m \(m) n \(n) k \(k) transposed \(transposed) \(kernel.name) threads \(pool.threadCount)")
                #expect(untouched, "seed \(seed): padding of C was written")
            }}}
        }
    }
}
