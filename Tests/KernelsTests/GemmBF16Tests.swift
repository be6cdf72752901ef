import CKernelSupport
import Kernels
import Testing
import TestSupport

/// The bf16 path: its packing against the scalar references bit for bit, and the products of every bf16 kernel
/// this CPU runs (AMX, AVX512-BF16) against a naive product of the bf16-rounded operands. Skipped on CPUs with
/// neither (the path is then unused and `--matmul-precision bf16` is refused).
@Suite(.enabled(if: !GemmKernel.availableBF16.isEmpty, "this CPU has neither AVX512-BF16 nor AMX-BF16"))
struct GemmBF16Tests {
    static let pools = [ThreadPool(threads: 1, matmulPrecision: .bf16), ThreadPool(threads: 2, matmulPrecision: .bf16),
                        ThreadPool(threads: 3, matmulPrecision: .bf16)]

    @Test func roundingMatchesTheInstruction() {
        // Round to nearest even on the 16 dropped bits: ties go to the even neighbour.
        #expect(bfloat16Bits(Float(bitPattern: 0x3F80_8000)) == 0x3F80)   // tie, even stays
        #expect(bfloat16Bits(Float(bitPattern: 0x3F81_8000)) == 0x3F82)   // tie, odd rounds up
        #expect(bfloat16Bits(Float(bitPattern: 0x3F80_8001)) == 0x3F81)
        #expect(bfloat16Bits(Float(bitPattern: 0x3F80_7FFF)) == 0x3F80)
        #expect(bfloat16Bits(.infinity) == 0x7F80 && bfloat16Bits(-.infinity) == 0xFF80)
        #expect(bfloat16Bits(Float.greatestFiniteMagnitude) == 0x7F80)   // rounds up to infinity
        #expect(bfloat16Bits(-Float.leastNonzeroMagnitude) == 0x8000)    // subnormal → −0
        #expect(floatFromBFloat16(bfloat16Bits(.nan)).isNaN)
        // And the C packing, which uses the instruction, agrees on a row full of such values.
        let specials: [Float] = [1, -1, .infinity, -.infinity, .greatestFiniteMagnitude, -Float.leastNonzeroMagnitude,
                                 Float(bitPattern: 0x3F80_8000), Float(bitPattern: 0x3F81_8000),
                                 Float(bitPattern: 0x3F80_8001), Float.leastNormalMagnitude, 3.14159, -2.71828e-20,
                                 65504, 1e38, -0.0, 0.1]
        let a = Buffer(specials + specials)
        var fast = [UInt16](repeating: 0xFFFF, count: 1024), ref = fast
        lmt_bf16_pack_a(a.p, 32, 0, 1, 32, &fast)
        packBF16ANaive(a: a.p, lda: 32, trans: false, rows: 1, cols: 32, dst: &ref)
        #expect(fast == ref)
    }

    /// Every packing path (both operands, both orientations) on awkward shapes, the destination poisoned.
    @Test(arguments: [false, true])
    func packingMatchesTheReferenceExactly(trans: Bool) {
        let seed = testSeed()
        var rng = SplitMix64(seed: seed)
        for rows in [1, 7, 16, 17, 31, 32] {
            for depth in [1, 2, 7, 31, 33, 64, 100] {
                let ld = (trans ? rows : depth) + Int.random(in: 0...3, using: &rng)
                let src = Buffer(random: (trans ? depth : rows) * ld, &rng, scale: 4)
                let n = (depth + 31) / 32 * 1024
                var fast = [UInt16](repeating: 0xFFFF, count: n), ref = [UInt16](repeating: 0, count: n)
                lmt_bf16_pack_a(src.p, ld, trans ? 1 : 0, rows, depth, &fast)
                packBF16ANaive(a: src.p, lda: ld, trans: trans, rows: rows, cols: depth, dst: &ref)
                #expect(fast == ref, "seed \(seed) A trans \(trans) rows \(rows) cols \(depth)")
                // B with the same storage: op(B)[p][j] is the transpose of op(A)[i][p]'s indexing.
                fast = [UInt16](repeating: 0xFFFF, count: n)
                lmt_bf16_pack_b(src.p, ld, trans ? 0 : 1, depth, rows, &fast)
                packBF16BNaive(b: src.p, ldb: ld, trans: !trans, kc: depth, cols: rows, dst: &ref)
                #expect(fast == ref, "seed \(seed) B trans \(!trans) kc \(depth) cols \(rows)")
            }
        }
    }

    /// Fast vs naive on bf16-rounded copies of the operands (the sums in Double), on awkward sizes, both
    /// transposes, padded leading dimensions, α/β ∈ {(1, 0), (1, 1), (0.5, 1), (-2, 0.25)}, C poisoned when
    /// β = 0, each bf16 kernel. Tolerance |Δ| ≤ 2e-6·k + 2e-5·|ref|: float32 sums only. Without the rounding the error would be
    /// ~2⁻⁹ per operand, hundreds of times that.
    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func matchesNaiveProductOfRoundedOperands(transA: Bool, transB: Bool) {
        let seed = testSeed()
        var rng = SplitMix64(seed: seed)
        for m in [1, 7, 33, 257] { for n in [1, 7, 33, 257] { for k in [1, 7, 33, 257] {
            for (alpha, beta): (Float, Float) in [(1, 0), (1, 1), (0.5, 1), (-2, 0.25)] { for kernel in GemmKernel.availableBF16 {
                let pad = Int.random(in: 0...3, using: &rng)
                let lda = (transA ? m : k) + pad, ldb = (transB ? k : n) + pad, ldc = n + pad
                let a = Buffer(random: (transA ? k : m) * lda, &rng), b = Buffer(random: (transB ? n : k) * ldb, &rng)
                let c0 = Buffer(random: m * ldc, &rng)
                let ref = Self.reference(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                                         b: b, ldb: ldb, beta: beta, c: c0, ldc: ldc)
                let c = c0.copy()
                if beta == 0 { c.poison() }
                let pool = Self.pools[Int.random(in: 0..<3, using: &rng)]
                sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a.p, lda: lda,
                      b: b.p, ldb: ldb, beta: beta, c: c.p, ldc: ldc, pool: pool, kernel: kernel)
                let worst = worstError(c, ref, rows: m, cols: n, ld: ldc, atol: 2e-6 * Float(k), rtol: 2e-5)
                var untouched = true
                for i in 0..<m { for j in n..<ldc where beta != 0 && c[i * ldc + j] != c0[i * ldc + j] { untouched = false } }
                #expect(worst <= 1, "seed \(seed) \(kernel.name) m \(m) n \(n) k \(k) α \(alpha) β \(beta) threads \(pool.threadCount): \(worst)")
                #expect(untouched, "seed \(seed) \(kernel.name): padding of C was written")
            }}
        }}}
    }

    /// Across the blockings (AMX kc 512, mc 256, nc 2048; AVX512-BF16 kc 256, nc 4096) with remainders, with the
    /// bias + GELU epilogue, each bf16 kernel; and
    /// the result stays within bf16's error of the exact FP32 product: |Δ| ≤ 2·2⁻⁸·Σ|a||b|.
    @Test func largeProductsWithEpilogue() {
        let seed = testSeed()
        var rng = SplitMix64(seed: seed)
        for (m, n, k) in [(300, 2100, 530), (1000, 40, 1100), (3, 4100, 17), (70, 4200, 300)] { for kernel in GemmKernel.availableBF16 {
            let a = Buffer(random: m * k, &rng), b = Buffer(random: n * k, &rng), bias = Buffer(random: n, &rng)
            let zero = Buffer(m * n)
            let ref = Self.reference(transA: false, transB: true, m: m, n: n, k: k, alpha: 1, a: a, lda: k,
                                     b: b, ldb: k, beta: 0, c: zero, ldc: n)
            let c = Buffer(m * n), g = Buffer(m * n)
            sgemm(transA: false, transB: true, m: m, n: n, k: k, alpha: 1, a: a.p, lda: k, b: b.p, ldb: k, beta: 0,
                  c: c.p, ldc: n, bias: bias.p, geluOut: g.p, pool: Self.pools[1], kernel: kernel)
            var worst: Float = 0, worstGelu: Float = 0, worstVsFP32: Double = 0
            for i in 0..<m { for j in 0..<n {
                let y = ref[i * n + j] + bias[j]
                worst = max(worst, abs(c[i * n + j] - y) / (2e-6 * Float(k) + 2e-5 * abs(y)))
                worstGelu = max(worstGelu, abs(g[i * n + j] - geluNaive(c[i * n + j])) / (1e-5 + 1e-4 * abs(g[i * n + j])))
                var exact = 0.0, magnitude = 0.0
                for p in 0..<k {
                    let t = Double(a[i * k + p]) * Double(b[j * k + p])
                    exact += t; magnitude += abs(t)
                }
                worstVsFP32 = max(worstVsFP32, abs(Double(c[i * n + j] - bias[j]) - exact) / (2 * 0x1p-8 * magnitude + 1e-6))
            }}
            #expect(worst <= 1 && worstGelu <= 1, "seed \(seed) \(kernel.name) \(m)×\(n)×\(k): \(worst) \(worstGelu)")
            #expect(worstVsFP32 <= 1, "seed \(seed) \(kernel.name) \(m)×\(n)×\(k): \(worstVsFP32)")
        }}
    }

    /// C = α·op(round(A))·op(round(B)) + β·C, summed in Double.
    static func reference(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: Buffer, lda: Int,
                          b: Buffer, ldb: Int, beta: Float, c: Buffer, ldc: Int) -> Buffer {
        let out = c.copy()
        for i in 0..<m { for j in 0..<n {
            var s = 0.0
            for p in 0..<k {
                let av = bfloat16Rounded(transA ? a[p * lda + i] : a[i * lda + p])
                let bv = bfloat16Rounded(transB ? b[j * ldb + p] : b[p * ldb + j])
                s += Double(av) * Double(bv)
            }
            out[i * ldc + j] = Float(Double(alpha) * s + (beta == 0 ? 0 : Double(beta) * Double(c[i * ldc + j])))
        }}
        return out
    }
}
