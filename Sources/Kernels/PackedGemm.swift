import CKernelSupport
import Foundation

// Dims legend: C is m×n, A is m×k (activations, row-major, row stride lda), op(W) is k×n (the weights).
//
// Inference products on weights packed once. `sgemm` packs B afresh at every call and synchronises its
// threads around each packed panel: right for training, where every operand changes every step, but on a
// decoding step's few rows (m ≤ 128) that repacking (8 MB for the bible model's output table, every step)
// and the barriers cost a quarter of the product (BENCHMARKS.md, "Where a decoding step's time goes").
// Here the weights are packed at load, and each thread takes a contiguous share of the column slivers over
// all rows and packs the rows of A it needs itself, so a product has no barrier at all.

/// A weight matrix packed for the FP32 micro-kernel: [k blocks of kc][slivers of NR columns][kc][NR].
public final class PackedMatrix: @unchecked Sendable {
    public let k: Int, n: Int
    let kernel: GemmKernel
    let slivers: Int
    let data: UnsafeMutablePointer<Float>   // [k, slivers · NR], blocked as above (zero-padded past n)

    /// Packs op(W): op(W)[p][j] = transposed ? w[j·ldw + p] : w[p·ldw + j].
    public init(weight w: UnsafePointer<Float>,   // [k, n] (row stride ldw), or [n, k] if transposed
                ldw: Int, k: Int, n: Int, transposed: Bool, kernel: GemmKernel = .best) {
        precondition(kernel.packing == .fp32 && k >= 1 && n >= 1)
        self.k = k; self.n = n; self.kernel = kernel
        let NR = kernel.nr
        slivers = (n + NR - 1) / NR
        var raw: UnsafeMutableRawPointer? = nil
        // Not inside the precondition: -Ounchecked (this module's flag) drops preconditions, side effects and all.
        let rc = posix_memalign(&raw, 64, k * slivers * NR * 4)
        precondition(rc == 0 && raw != nil, "out of memory")
        data = raw!.bindMemory(to: Float.self, capacity: k * slivers * NR)
        var pc = 0
        while pc < k {
            let kc = min(kernel.kc, k - pc)
            for s in 0..<slivers {
                packBSliver(.fp32, transB: transposed, b: w, ldb: ldw, p0: pc, j0: s * NR, kc: kc,
                            nr: min(NR, n - s * NR), NR: NR, dst: UnsafeMutableRawPointer(sliver(pc, s)))
            }
            pc += kc
        }
    }

    deinit { free(data) }

    /// The packed [kc, NR] sliver s of the k block starting at pc.
    @inline(__always) func sliver(_ pc: Int, _ s: Int) -> UnsafeMutablePointer<Float> {
        data + pc * slivers * kernel.nr + s * min(kernel.kc, k - pc) * kernel.nr
    }
}

/// C = A·W + bias (and geluOut = GELU(C) when given) on weights packed at load; the same arithmetic as
/// `sgemm` with that kernel (the same k blocks, in the same order), so the same results bit for bit.
public func packedGemm(m: Int,
                       a: UnsafePointer<Float>, lda: Int,    // [m, k]
                       b: PackedMatrix,
                       bias: UnsafePointer<Float>?,          // [n]
                       c: UnsafeMutablePointer<Float>, ldc: Int,   // [m, n]
                       geluOut: UnsafeMutablePointer<Float>? = nil,   // [m, n], row stride ldc
                       pool: ThreadPool = .shared) {
    if m == 0 { return }
    let kernel = b.kernel, n = b.n, k = b.k
    let MR = kernel.mr, NR = kernel.nr, MC = kernel.mc, KC = kernel.kc
    let micro = kernel.micro
    let t = m * n * k < gemmParallelThreshold ? 1 : min(pool.threadCount, b.slivers)
    let perThread = GemmScratch.aFloats(kernel)
    pool.exclusive {
        let ws = pool.workspace.floats(Workspace.Slot.packedA, count: perThread * pool.threadCount)
        pool.run(threads: t) { tid in
            let packedA = UnsafeMutableRawPointer(ws + tid * perThread), tile = ws + tid * perThread + MC * KC
            let s0 = b.slivers * tid / t, s1 = b.slivers * (tid + 1) / t
            var ic = 0
            while ic < m {
                let mc = min(MC, m - ic)
                var pc = 0
                while pc < k {
                    let kc = min(KC, k - pc), aBytes = kernel.aSliverBytes(kc)
                    let beta: Float = pc == 0 ? 0 : 1, last = pc + kc == k
                    packABlock(.fp32, transA: false, a: a, lda: lda, i0: ic, p0: pc, mc: mc, kc: kc, MR: MR,
                               sliverBytes: aBytes, dst: packedA)
                    for s in s0..<s1 {
                        let j = s * NR, nr = min(NR, n - j)
                        let bp = UnsafeRawPointer(b.sliver(pc, s))
                        var ir = 0
                        while ir < mc {
                            let mr = min(MR, mc - ir)
                            let ap = UnsafeRawPointer(packedA + (ir / MR) * aBytes)
                            let cp = c + (ic + ir) * ldc + j
                            if mr == MR && nr == NR {
                                micro(kc, ap, bp, cp, ldc, 1, beta)
                            } else {
                                micro(kc, ap, bp, tile, NR, 1, 0)
                                for r in 0..<mr {
                                    for q in 0..<nr { cp[r * ldc + q] = beta == 0 ? tile[r * NR + q] : tile[r * NR + q] + cp[r * ldc + q] }
                                }
                            }
                            if last {
                                if let bias { for r in 0..<mr { addSpan(cp + r * ldc, bias + j, count: nr) } }
                                if let geluOut {
                                    let g = geluOut + (ic + ir) * ldc + j
                                    for r in 0..<mr { geluSpan(out: g + r * ldc, input: cp + r * ldc, count: nr) }
                                }
                            }
                            ir += MR
                        }
                    }
                    pc += kc
                }
                ic += mc
            }
        }
    }
}

/// How inference products are computed: `--compute-type` of translate, generate and eval.
public enum ComputeType: String, Sendable, CaseIterable, Codable {
    /// FP32 weights packed once at load (the same results as training's products).
    case fp32
    /// Weights quantised to int8 per output column, activations per row (`int8Gemm`).
    case int8
}

/// One weight matrix prepared for inference at a compute type.
public enum InferenceMatrix: @unchecked Sendable {
    case fp32(PackedMatrix)
    case int8(Int8Matrix)
    /// The weights as they are, through `sgemm` at the pool's precision: for decoding inside training (the
    /// validation translations), whose weights change between calls.
    case unpacked(UnsafePointer<Float>, ldw: Int, k: Int, n: Int, transposed: Bool)

    /// Prepares op(W): op(W)[p][j] = transposed ? w[j·ldw + p] : w[p·ldw + j]; a nil type leaves it unpacked.
    public init(_ type: ComputeType?,
                weight: UnsafePointer<Float>,   // [k, n] (row stride ldw), or [n, k] if transposed
                ldw: Int, k: Int, n: Int, transposed: Bool = false) {
        switch type {
        case .fp32: self = .fp32(PackedMatrix(weight: weight, ldw: ldw, k: k, n: n, transposed: transposed))
        case .int8: self = .int8(Int8Matrix(weight: weight, ldw: ldw, k: k, n: n, transposed: transposed))
        case nil: self = .unpacked(weight, ldw: ldw, k: k, n: n, transposed: transposed)
        }
    }

    /// out = A·W + bias (geluOut = GELU(out) when given).
    @inline(__always)
    public func forward(out: UnsafeMutablePointer<Float>,   // [rows, n]
                        input: UnsafePointer<Float>,        // [rows, k]
                        bias: UnsafePointer<Float>?,        // [n]
                        geluOut: UnsafeMutablePointer<Float>? = nil,   // [rows, n]
                        rows: Int, pool: ThreadPool) {
        switch self {
        case .fp32(let w): packedGemm(m: rows, a: input, lda: w.k, b: w, bias: bias, c: out, ldc: w.n, geluOut: geluOut, pool: pool)
        case .int8(let w): int8Gemm(m: rows, a: input, lda: w.k, b: w, bias: bias, c: out, ldc: w.n, geluOut: geluOut, pool: pool)
        case .unpacked(let w, let ldw, let k, let n, let transposed):
            sgemm(transA: false, transB: transposed, m: rows, n: n, k: k, alpha: 1, a: input, lda: k, b: w, ldb: ldw,
                  beta: 0, c: out, ldc: n, bias: bias, geluOut: geluOut, pool: pool)
        }
    }
}
