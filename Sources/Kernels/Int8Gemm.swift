import CKernelSupport
import Foundation

// Dims legend: C is m×n, A is m×k (activations, row-major, row stride lda), op(W) is k×n (the weights).
//
// Int8 inference products (int8_gemm.c has the kernels and the packed layouts): the weights are quantised
// once, symmetrically per output column (scale max|W[:,j]| / 127), the activations per row as each product
// starts; the products are summed exactly in int32 and dequantised with both scales in the kernel's
// epilogue. CTranslate2's int8 and oneDNN's u8s8 products follow the same scheme.

/// The int8 micro-kernel a product runs on.
public enum Int8Kernel: String, Sendable, CaseIterable {
    /// VPDPBUSD on zmm (AVX512-VNNI: AMD Zen 4, Intel Cascade Lake and later): 64 multiply-adds an instruction.
    case avx512vnni
    /// VPMADDWD on bytes widened to int16: every x86-64 CPU lmtrain runs on (AMD Zen 3).
    case avx2

    public var isAvailable: Bool { self == .avx2 || lmt_cpu_has_avx512_vnni() != 0 }
    /// Every int8 kernel this CPU runs (tests check each against the naive product).
    public static var available: [Int8Kernel] { allCases.filter(\.isAvailable) }
    /// VNNI where the CPU has it; LMTRAIN_INT8_KERNEL=avx2 forces the fallback.
    public static let best: Int8Kernel = {
        if let env = getenv("LMTRAIN_INT8_KERNEL"), String(cString: env) == "avx2" { return .avx2 }
        return Int8Kernel.avx512vnni.isAvailable ? .avx512vnni : .avx2
    }()
}

/// A weight matrix quantised to int8 per output column and packed for the int8 kernels: made once, when a
/// model is loaded for inference, and read by every product after.
public final class Int8Matrix: @unchecked Sendable {
    public let k: Int, n: Int
    /// k in quads of 4 (zero-padded), n in slivers of 32 columns (zero-padded).
    let quads: Int, slivers: Int
    let codes: UnsafeMutablePointer<Int8>        // [slivers, quads, 32, 4]
    let scales: UnsafeMutablePointer<Float>      // [slivers · 32]: max|W[:,j]| / 127 (0 past n)
    let compensation: UnsafeMutablePointer<Int32>   // [slivers · 32]: 128 · Σ_p code(p, j)

    /// Quantises op(W): op(W)[p][j] = transposed ? w[j·ldw + p] : w[p·ldw + j].
    public init(weight w: UnsafePointer<Float>,   // [k, n] (row stride ldw), or [n, k] if transposed
                ldw: Int, k: Int, n: Int, transposed: Bool) {
        precondition(k >= 1 && n >= 1)
        self.k = k; self.n = n
        quads = (k + 3) / 4; slivers = (n + 31) / 32
        codes = .allocate(capacity: slivers * quads * 128)
        codes.initialize(repeating: 0, count: slivers * quads * 128)
        scales = .allocate(capacity: slivers * 32)
        scales.initialize(repeating: 0, count: slivers * 32)
        compensation = .allocate(capacity: slivers * 32)
        compensation.initialize(repeating: 0, count: slivers * 32)
        let at = { (p: Int, j: Int) in transposed ? w[j * ldw + p] : w[p * ldw + j] }
        for j in 0..<n {
            var amax: Float = 0
            for p in 0..<k { amax = max(amax, abs(at(p, j))) }
            let inv: Float = amax > 0 ? 127 / amax : 0
            scales[j] = amax / 127
            var sum: Int32 = 0
            let s = j / 32, col = j % 32
            for p in 0..<k {
                let q = Int8(max(-127, min(127, (at(p, j) * inv).rounded(.toNearestOrEven))))
                codes[((s * quads + p / 4) * 32 + col) * 4 + p % 4] = q
                sum += Int32(q)
            }
            compensation[j] = 128 * sum
        }
    }

    deinit { codes.deallocate(); scales.deallocate(); compensation.deallocate() }

    /// The code of op(W)[p][j] (its value is code · scale(j)).
    public func code(_ p: Int, _ j: Int) -> Int8 { codes[(((j / 32) * quads + p / 4) * 32 + j % 32) * 4 + p % 4] }
    public func scale(_ j: Int) -> Float { scales[j] }
}

/// Reference for the kernels' row quantisation: codes in [-127, 127] and the scale, max|row| / 127 (nearest
/// even rounding; a row of zeros gets scale 0).
public func int8QuantizeRowNaive(_ row: UnsafePointer<Float>,   // [count]
                                 count: Int) -> (codes: [Int32], scale: Float) {
    var amax: Float = 0
    for p in 0..<count { amax = max(amax, abs(row[p])) }
    let inv: Float = amax > 0 ? 127 / amax : 0
    let codes = (0..<count).map { Int32(max(-127, min(127, (row[$0] * inv).rounded(.toNearestOrEven)))) }
    return (codes, amax / 127)
}

/// Reference int8 product: C[i][j] = fma(Σ_p qa[i][p]·qb[p][j], sa_i·sb_j, bias_j), the sum exact in integers
/// (the kernels' arithmetic, so their results must equal this bit for bit).
public func int8GemmNaive(m: Int,
                          a: UnsafePointer<Float>, lda: Int,   // [m, k]
                          b: Int8Matrix,
                          bias: UnsafePointer<Float>?,         // [n]
                          c: UnsafeMutablePointer<Float>, ldc: Int) {   // [m, n]
    for i in 0..<m {
        let (qa, sa) = int8QuantizeRowNaive(a + i * lda, count: b.k)
        for j in 0..<b.n {
            var dot: Int32 = 0
            for p in 0..<b.k { dot += qa[p] * Int32(b.code(p, j)) }
            c[i * ldc + j] = (bias?[j] ?? 0).addingProduct(Float(dot), sa * b.scale(j))
        }
    }
}

/// Rows of A quantised and packed at a time by one thread (a multiple of the kernels' 12).
let int8RowChunk = 96

/// C = quantised(A)·W + bias (and geluOut = GELU(C) when given), for inference. Each thread takes a
/// contiguous share of W's column slivers and packs the rows of A it needs itself: no barrier, and W (packed
/// once, at load) is never repacked — the two costs that dominate the FP32 GEMM on a decoding step's few rows.
public func int8Gemm(m: Int,
                     a: UnsafePointer<Float>, lda: Int,    // [m, k]
                     b: Int8Matrix,
                     bias: UnsafePointer<Float>?,          // [n]
                     c: UnsafeMutablePointer<Float>, ldc: Int,   // [m, n]
                     geluOut: UnsafeMutablePointer<Float>? = nil,   // [m, n], row stride ldc
                     pool: ThreadPool = .shared, kernel: Int8Kernel = .best) {
    if m == 0 { return }
    let n = b.n, quads = b.quads
    let t = m * n * b.k < gemmParallelThreshold ? 1 : min(pool.threadCount, b.slivers)
    let chunkBytes = int8RowChunk / 12 * quads * 48, perThread = chunkBytes + int8RowChunk * 4
    let vnni = kernel == .avx512vnni
    pool.exclusive {
        let ws = pool.workspace.bytes(Workspace.Slot.int8A, count: perThread * pool.threadCount)
        pool.run(threads: t) { tid in
            let packed = (ws + tid * perThread).assumingMemoryBound(to: UInt8.self)
            let rowScales = (ws + tid * perThread + chunkBytes).assumingMemoryBound(to: Float.self)
            let s0 = b.slivers * tid / t, s1 = b.slivers * (tid + 1) / t
            var i0 = 0
            while i0 < m {
                let rows = min(int8RowChunk, m - i0)
                var r = 0
                while r < rows {
                    lmt_int8_pack_a(a + (i0 + r) * lda, lda, min(12, rows - r), b.k, packed + r / 12 * quads * 48, rowScales + r)
                    r += 12
                }
                for s in s0..<s1 {
                    let j = s * 32, cols = min(32, n - j)
                    let bp = b.codes + s * quads * 128, sb = b.scales + j, comp = b.compensation + j
                    r = 0
                    while r < rows {
                        let rr = min(12, rows - r)
                        let ap = packed + r / 12 * quads * 48, cp = c + (i0 + r) * ldc + j
                        if vnni {
                            lmt_int8_kernel_avx512vnni(quads, rr, cols, ap, bp, rowScales + r, sb, comp, bias.map { $0 + j }, cp, ldc)
                        } else {
                            lmt_int8_kernel_avx2(quads, rr, cols, ap, bp, rowScales + r, sb, comp, bias.map { $0 + j }, cp, ldc)
                        }
                        if let geluOut {
                            let g = geluOut + (i0 + r) * ldc + j
                            for q in 0..<rr { geluSpan(out: g + q * ldc, input: cp + q * ldc, count: cols) }
                        }
                        r += 12
                    }
                }
                i0 += rows
            }
        }
    }
}
