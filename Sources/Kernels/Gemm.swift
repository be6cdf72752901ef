import CKernelSupport
import Foundation
import KernelsAVX512

// Dims legend: C is m×n, op(A) is m×k, op(B) is k×n; all row-major with leading dimensions (row strides)
// lda, ldb, ldc. op(X) = X, or Xᵀ when trans is set (then X is stored k×m or n×k).

/// Reference SGEMM: C = α·op(A)·op(B) + β·C, a triple loop. β = 0 overwrites C without reading it.
public func sgemmNaive(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                       a: UnsafePointer<Float>, lda: Int,   // [m, k], or [k, m] if transA
                       b: UnsafePointer<Float>, ldb: Int,   // [k, n], or [n, k] if transB
                       beta: Float,
                       c: UnsafeMutablePointer<Float>, ldc: Int) {   // [m, n]
    for i in 0..<m {
        for j in 0..<n {
            var s: Float = 0
            for p in 0..<k {
                let av = transA ? a[p * lda + i] : a[i * lda + p]
                let bv = transB ? b[j * ldb + p] : b[p * ldb + j]
                s += av * bv
            }
            c[i * ldc + j] = beta == 0 ? alpha * s : alpha * s + beta * c[i * ldc + j]
        }
    }
}

/// How a kernel wants its operands packed: FP32 slivers, or bfloat16 tiles for AMX.
public enum GemmPacking: Sendable {
    /// A: [kc, MR] floats per sliver; B: [kc, NR] floats.
    case fp32
    /// A and B rounded to bf16 (nearest even) into AMX tiles, k padded to a multiple of 32 (amx_bf16.c); the
    /// AVX512-BF16 kernel reads the same layout.
    case bf16Tiles
}

/// The precision of the products sgemm computes, chosen per thread pool (see `ThreadPool.matmulPrecision`):
/// the counterpart of PyTorch's `torch.backends.mkldnn.matmul.fp32_precision` / oneDNN's fpmath mode.
public enum MatmulPrecision: String, Sendable, CaseIterable, Codable {
    /// FP32 operands, FP32 products and sums.
    case fp32
    /// Operands rounded to bfloat16 (8 significant bits) as they are packed, products summed in FP32, on
    /// AMX tiles (Intel Sapphire Rapids or later) or with AVX512-BF16's VDPBF16PS (AMD Zen 4 or later, Intel
    /// Cooper Lake). Inputs and outputs stay FP32.
    case bf16

    /// Whether this CPU can compute products at this precision.
    public var isAvailable: Bool { self == .fp32 || GemmKernel.bf16 != nil }
    /// Why this CPU cannot, as a one-line message for the command line (nil when it can).
    public var unavailableReason: String? {
        isAvailable ? nil : "--matmul-precision \(rawValue) needs AVX512-BF16 or AMX-BF16 (AMD Zen 4, Intel Cooper Lake or Sapphire Rapids, or later), which this CPU lacks; use --matmul-precision fp32"
    }
}

/// A register-tile micro-kernel and the cache blocking that suits it.
/// The kernel computes C[mr×nr] = α·Σ_p a[p]ᵀ·b[p] + β·C over packed slivers of A and B (see `packing`).
public struct GemmKernel: Sendable {
    public let name: String
    public let mr: Int, nr: Int
    /// Block sizes: a kc×nr sliver of B stays in L1, an mc×kc block of A in L2, a kc×nc panel of B in L3.
    let mc: Int, kc: Int, nc: Int
    let packing: GemmPacking
    /// (kc, packed A sliver, packed B sliver, C, ldc, α, β).
    let micro: @Sendable (Int, UnsafeRawPointer, UnsafeRawPointer, UnsafeMutablePointer<Float>, Int, Float, Float) -> Void
    /// Per-thread set-up and tear-down around a thread's share of one product (AMX's tile configuration).
    let begin: (@Sendable () -> Void)?, end: (@Sendable () -> Void)?

    init(name: String, mr: Int, nr: Int, mc: Int, kc: Int, nc: Int, packing: GemmPacking = .fp32,
         begin: (@Sendable () -> Void)? = nil, end: (@Sendable () -> Void)? = nil,
         micro: @escaping @Sendable (Int, UnsafeRawPointer, UnsafeRawPointer, UnsafeMutablePointer<Float>, Int, Float, Float) -> Void) {
        self.name = name; self.mr = mr; self.nr = nr; self.mc = mc; self.kc = kc; self.nc = nc
        self.packing = packing; self.begin = begin; self.end = end; self.micro = micro
    }

    /// 6×16 with twelve 8-wide accumulators: AVX2 + FMA, the x86-64 baseline lmtrain needs.
    /// Blocking for 32 KiB L1d / 512 KiB L2 (Zen 3): 16 KiB B sliver, 120 KiB A block, 2 MiB B panel.
    public static let avx2 = GemmKernel(name: "avx2-6x16", mr: 6, nr: 16, mc: 120, kc: 256, nc: 2048) {
        microKernel6x16(kc: $0, a: $1.assumingMemoryBound(to: Float.self), b: $2.assumingMemoryBound(to: Float.self),
                        c: $3, ldc: $4, alpha: $5, beta: $6)
    }
    /// 12×32 with twenty-four 16-wide accumulators, where the CPU has AVX-512 F/CD/BW/DQ/VL (nil elsewhere).
    /// Blocking for ≥ 48 KiB L1d / ≥ 1 MiB L2: 32 KiB B sliver, 288 KiB A block, 4 MiB B panel.
    public static let avx512: GemmKernel? = lmt_cpu_has_avx512_skylake() != 0
        ? GemmKernel(name: "avx512-12x32", mr: 12, nr: 32, mc: 288, kc: 256, nc: 4096) {
            microKernel12x32(kc: $0, a: $1.assumingMemoryBound(to: Float.self), b: $2.assumingMemoryBound(to: Float.self),
                             c: $3, ldc: $4, alpha: $5, beta: $6)
        } : nil
    /// 32×32 on four AMX accumulator tiles, operands in bf16 (`MatmulPrecision.bf16`), where the CPU has
    /// AMX-BF16 (nil elsewhere). Blocking: 32 KiB B sliver (kc 512 in bf16), 256 KiB A block, 2 MiB B panel.
    public static let amxBF16: GemmKernel? = lmt_amx_bf16_init() != 0
        ? GemmKernel(name: "amx-bf16-32x32", mr: 32, nr: 32, mc: 256, kc: 512, nc: 2048, packing: .bf16Tiles,
                     begin: { lmt_amx_begin() }, end: { lmt_amx_end() }) {
            lmt_amx_kernel_32x32(($0 + 31) / 32, $1.assumingMemoryBound(to: UInt16.self),
                                 $2.assumingMemoryBound(to: UInt16.self), $3, $4, $5, $6)
        } : nil
    /// 32×32 with VDPBF16PS on the AMX kernel's packed bf16 slivers, in row groups of 12, 12 and 8
    /// (avx512_bf16.c), where the CPU has AVX512-BF16 (nil elsewhere). Blocking for a 32 KiB L1d and ≥ 1 MiB
    /// L2: 16 KiB B sliver (kc 256 in bf16), 128 KiB A block, 2 MiB B panel.
    public static let avx512BF16: GemmKernel? = lmt_cpu_has_avx512_bf16() != 0
        ? GemmKernel(name: "avx512-bf16-32x32", mr: 32, nr: 32, mc: 256, kc: 256, nc: 4096, packing: .bf16Tiles) {
            lmt_avx512_bf16_kernel_32x32($0, $1.assumingMemoryBound(to: UInt16.self),
                                         $2.assumingMemoryBound(to: UInt16.self), $3, $4, $5, $6)
        } : nil
    /// The bf16 kernel `MatmulPrecision.bf16` uses: AMX where the CPU has it, else AVX512-BF16 (nil where
    /// neither). LMTRAIN_BF16_KERNEL=avx512 picks the AVX512-BF16 one on an AMX CPU.
    public static let bf16: GemmKernel? = {
        if let env = getenv("LMTRAIN_BF16_KERNEL"), String(cString: env) == "avx512" { return avx512BF16 }
        return amxBF16 ?? avx512BF16
    }()
    /// Every bf16 kernel this CPU can run (tests check each against the naive product of rounded operands).
    public static var availableBF16: [GemmKernel] { [amxBF16, avx512BF16].compactMap { $0 } }
    /// The fastest kernel this CPU runs; LMTRAIN_GEMM_KERNEL=avx2 forces the portable one.
    public static let best: GemmKernel = {
        if let env = getenv("LMTRAIN_GEMM_KERNEL"), String(cString: env) == "avx2" { return .avx2 }
        return avx512 ?? avx2
    }()
    /// Every FP32 kernel this CPU can run (tests check each against the naive product).
    public static var available: [GemmKernel] { [avx2] + (avx512.map { [$0] } ?? []) }
    /// The kernel for products at `precision` (FP32's best where bf16 is unavailable).
    public static func forPrecision(_ precision: MatmulPrecision) -> GemmKernel {
        precision == .bf16 ? bf16 ?? best : best
    }

    /// Bytes of one packed sliver of A (mr rows) or of B (nr columns), kc deep.
    @inline(__always) func aSliverBytes(_ kc: Int) -> Int {
        packing == .fp32 ? kc * mr * 4 : (kc + 31) / 32 * 32 * mr * 2
    }
    @inline(__always) func bSliverBytes(_ kc: Int) -> Int {
        packing == .fp32 ? kc * nr * 4 : (kc + 31) / 32 * 32 * nr * 2
    }
}

/// Products smaller than this many multiply-adds run on one thread: a hand-off costs more than it saves.
let gemmParallelThreshold = 48 * 48 * 48

/// Blocked SGEMM in the BLIS/GotoBLAS style: C = α·op(A)·op(B) + β·C (+ bias, then GELU: see below).
/// Packs B into kc×NR slivers and A into MR×kc slivers (zero-padded at the edges), then a register-tile
/// micro-kernel runs over them. Threads share each packed B panel and claim blocks of rows of C (or, when C
/// has few rows, chunks of its columns) from a shared queue. β = 0 never reads C.
/// Epilogue, applied in this order to each finished tile of C while it is still in L1 (saving passes over C):
/// `bias` is added to every row of C; `geluOut` (same leading dimension as C) receives GELU(C); C is
/// multiplied element-wise by GELU'(`geluGradInput`) (same leading dimension), the GELU backward.
public func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                  a: UnsafePointer<Float>, lda: Int,   // [m, k], or [k, m] if transA
                  b: UnsafePointer<Float>, ldb: Int,   // [k, n], or [n, k] if transB
                  beta: Float,
                  c: UnsafeMutablePointer<Float>, ldc: Int,   // [m, n]
                  bias: UnsafePointer<Float>? = nil,          // [n]
                  geluOut: UnsafeMutablePointer<Float>? = nil,   // [m, n], row stride ldc
                  geluGradInput: UnsafePointer<Float>? = nil,    // [m, n], row stride ldc
                  pool: ThreadPool = .shared, threads: Int = .max, kernel: GemmKernel? = nil) {
    if m == 0 || n == 0 { return }
    let kernel = kernel ?? .forPrecision(pool.matmulPrecision)
    if k == 0 || alpha == 0 {
        scaleC(m: m, n: n, beta: beta, c: c, ldc: ldc)
        for i in 0..<m {
            if let bias { for j in 0..<n { c[i * ldc + j] += bias[j] } }
            if let geluOut { geluSpan(out: geluOut + i * ldc, input: c + i * ldc, count: n) }
            if let geluGradInput { geluGradSpan(c + i * ldc, input: geluGradInput + i * ldc, count: n) }
        }
        return
    }
    let t = m * n * k < gemmParallelThreshold ? 1 : min(threads, pool.threadCount)
    pool.exclusive {
        let ws = pool.workspace
        let packedB = ws.floats(Workspace.Slot.gemmB, count: GemmScratch.bFloats(kernel))
        let perThread = GemmScratch.aFloats(kernel)
        let packedA = ws.floats(Workspace.Slot.gemmA, count: perThread * pool.threadCount)
        pool.run(threads: t) { tid in
            var sense = pool.currentSense
            kernel.begin?()
            defer { kernel.end?() }
            gemmWorker(tid: tid, threads: t, transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                       a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc, bias: bias, geluOut: geluOut,
                       geluGradInput: geluGradInput, kernel: kernel,
                       packedA: packedA + tid * perThread, packedB: packedB,
                       claim: { pool.claimWorkItem() }, barrier: { pool.barrier(&sense) })
        }
    }
}

/// Packing buffers for one thread's single-threaded products (`sgemmSerial`).
public struct GemmScratch {
    public let packedA: UnsafeMutablePointer<Float>   // aFloats(kernel)
    public let packedB: UnsafeMutablePointer<Float>   // bFloats(kernel)
    public init(packedA: UnsafeMutablePointer<Float>, packedB: UnsafeMutablePointer<Float>) {
        self.packedA = packedA; self.packedB = packedB
    }
    /// One packed-A block and one edge tile (sized for FP32; bf16 tiles take half).
    public static func aFloats(_ k: GemmKernel) -> Int { k.mc * k.kc + k.mr * k.nr }
    /// One packed panel of B.
    public static func bFloats(_ k: GemmKernel) -> Int { k.kc * k.nc }
}

/// The same blocked product on the calling thread alone, with caller-owned packing buffers: for kernels that
/// parallelise over many small independent products (attention over batch × heads) instead of inside one.
public func sgemmSerial(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                        a: UnsafePointer<Float>, lda: Int,   // [m, k], or [k, m] if transA
                        b: UnsafePointer<Float>, ldb: Int,   // [k, n], or [n, k] if transB
                        beta: Float,
                        c: UnsafeMutablePointer<Float>, ldc: Int,   // [m, n]
                        scratch: GemmScratch, kernel: GemmKernel = .best) {
    if m == 0 || n == 0 { return }
    if k == 0 || alpha == 0 { scaleC(m: m, n: n, beta: beta, c: c, ldc: ldc); return }
    var next = 0
    kernel.begin?()
    defer { kernel.end?() }
    gemmWorker(tid: 0, threads: 1, transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
               a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc, bias: nil, geluOut: nil, geluGradInput: nil, kernel: kernel,
               packedA: scratch.packedA, packedB: scratch.packedB,
               claim: { defer { next += 1 }; return next }, barrier: {})
}

/// One thread's share of a blocked product (all of it when threads = 1). Work items are claimed through
/// `claim`, which must hand out 0, 1, 2, … across the threads; `barrier` synchronises them around each
/// shared packed panel of B.
@inline(__always)
func gemmWorker(tid: Int, threads t: Int, transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float,
                c: UnsafeMutablePointer<Float>, ldc: Int,
                bias: UnsafePointer<Float>?, geluOut: UnsafeMutablePointer<Float>?, geluGradInput: UnsafePointer<Float>?,
                kernel: GemmKernel,
                packedA myA: UnsafeMutablePointer<Float>, packedB: UnsafeMutablePointer<Float>,
                claim: () -> Int, barrier: () -> Void) {
    let MR = kernel.mr, NR = kernel.nr, MC = kernel.mc, KC = kernel.kc, NC = kernel.nc
    let micro = kernel.micro
    let rowBlocks = (m + MR - 1) / MR
    let tile = myA + MC * KC
    let packedA = UnsafeMutableRawPointer(myA), packedBRaw = UnsafeMutableRawPointer(packedB)
    var claimed = 0   // items of the shared queue consumed by all threads in earlier panels
    var jc = 0
    while jc < n {
        let nc = min(NC, n - jc)
        let slivers = (nc + NR - 1) / NR
        // Work items of this panel: blocks of rows (all its columns), or, when C has too few rows to keep
        // every thread busy, chunks of columns (all rows). Several items per thread, claimed dynamically,
        // so an uneven or preempted thread does not hold the others at the barrier.
        let byRows = rowBlocks >= 4 * t || rowBlocks >= slivers
        let rowsPerItem = byRows ? min(MC, max(MR, (rowBlocks + 4 * t - 1) / (4 * t) * MR)) : m
        let rowItems = (m + rowsPerItem - 1) / rowsPerItem
        let sliversPerItem = byRows ? slivers : max(1, (slivers + 4 * t - 1) / (4 * t))
        let colItems = (slivers + sliversPerItem - 1) / sliversPerItem
        let items = rowItems * colItems
        var pc = 0
        while pc < k {
            let kc = min(KC, k - pc)
            // Pack this panel of B together: thread tid takes a contiguous share of the slivers.
            let s0 = slivers * tid / t, s1 = slivers * (tid + 1) / t
            let bBytes = kernel.bSliverBytes(kc), aBytes = kernel.aSliverBytes(kc)
            for s in s0..<s1 {
                packBSliver(kernel.packing, transB: transB, b: b, ldb: ldb, p0: pc, j0: jc + s * NR,
                            kc: kc, nr: min(NR, nc - s * NR), NR: NR, dst: packedBRaw + s * bBytes)
            }
            barrier()
            let betaHere: Float = pc == 0 ? beta : 1
            let lastPanel = pc + kc == k
            while true {
                // Every thread overshoots the queue exactly once per panel, so this panel's items start at
                // `claimed` and the next panel's at `claimed + items + t`.
                let item = claim() - claimed
                if item >= items { break }
                let r0 = (item / colItems) * rowsPerItem, r1 = min(m, r0 + rowsPerItem)
                let q0 = (item % colItems) * sliversPerItem, q1 = min(slivers, q0 + sliversPerItem)
                var ic = r0
                while ic < r1 {
                    let mc = min(MC, r1 - ic)
                    packABlock(kernel.packing, transA: transA, a: a, lda: lda, i0: ic, p0: pc, mc: mc, kc: kc, MR: MR,
                               sliverBytes: aBytes, dst: packedA)
                    for q in q0..<q1 {
                        let j = jc + q * NR
                        let nr = min(NR, n - j)
                        let bp = UnsafeRawPointer(packedBRaw + q * bBytes)
                        var ir = 0
                        while ir < mc {
                            let mr = min(MR, mc - ir)
                            let ap = UnsafeRawPointer(packedA + (ir / MR) * aBytes)
                            let cp = c + (ic + ir) * ldc + j
                            if mr == MR && nr == NR {
                                micro(kc, ap, bp, cp, ldc, alpha, betaHere)
                            } else {
                                micro(kc, ap, bp, tile, NR, alpha, 0)
                                for r in 0..<mr {
                                    for cc in 0..<nr {
                                        let v = tile[r * NR + cc]
                                        cp[r * ldc + cc] = betaHere == 0 ? v : v + betaHere * cp[r * ldc + cc]
                                    }
                                }
                            }
                            if lastPanel {
                                if let bias { for r in 0..<mr { addSpan(cp + r * ldc, bias + j, count: nr) } }
                                if let geluOut {
                                    let g = geluOut + (ic + ir) * ldc + j
                                    for r in 0..<mr { geluSpan(out: g + r * ldc, input: cp + r * ldc, count: nr) }
                                }
                                if let geluGradInput {
                                    let x = geluGradInput + (ic + ir) * ldc + j
                                    for r in 0..<mr { geluGradSpan(cp + r * ldc, input: x + r * ldc, count: nr) }
                                }
                            }
                            ir += MR
                        }
                    }
                    ic += mc
                }
            }
            claimed += items + t
            // The next panel overwrites packed B: wait until everyone is done with this one.
            barrier()
            pc += kc
        }
        jc += nc
    }
}

/// x[0..<count] += y[0..<count] on the calling thread (the bias epilogue, one row of a tile).
@inline(__always)
func addSpan(_ x: UnsafeMutablePointer<Float>,   // [count]
             _ y: UnsafePointer<Float>,          // [count]
             count: Int) {
    var i = 0
    while i + 8 <= count { store8(load8(x + i) + load8(y + i), x + i); i += 8 }
    while i < count { x[i] += y[i]; i += 1 }
}

/// C = β·C (the k = 0 or α = 0 case); β = 0 writes zeros without reading C.
func scaleC(m: Int, n: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
    for i in 0..<m {
        for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] }
    }
}

/// Packs op(B)[p0..<p0+kc, j0..<j0+nr] as kc rows of NR floats (zero-padded past nr; NR a multiple of 8),
/// or, for `.bf16Tiles`, as bf16 tiles (NR = 32).
@inline(__always)
func packBSliver(_ packing: GemmPacking, transB: Bool, b: UnsafePointer<Float>, ldb: Int, p0: Int, j0: Int,
                 kc: Int, nr: Int, NR: Int,
                 dst raw: UnsafeMutableRawPointer) {   // [kc, NR] floats, or bf16 tiles
    if packing == .bf16Tiles {
        let origin = transB ? b + j0 * ldb + p0 : b + p0 * ldb + j0
        lmt_bf16_pack_b(origin, ldb, transB ? 1 : 0, kc, nr, raw.assumingMemoryBound(to: UInt16.self))
        return
    }
    let dst = raw.assumingMemoryBound(to: Float.self)
    if !transB && nr == NR {
        for p in 0..<kc {
            let src = b + (p0 + p) * ldb + j0
            let d = dst + p * NR
            var j = 0
            while j < NR { store8(load8(src + j), d + j); j += 8 }
        }
    } else if !transB {
        lmt_pack_rows(b + p0 * ldb + j0, ldb, kc, nr, NR, dst)
    } else {
        // Bᵀ: column j of op(B) is row j of B, contiguous along p: a transpose.
        lmt_pack_transposed(b + j0 * ldb + p0, ldb, nr, kc, NR, dst)
    }
}

/// Packs op(A)[i0..<i0+mc, p0..<p0+kc] as ceil(mc/MR) slivers of kc columns of MR floats (zero-padded), or,
/// for `.bf16Tiles`, of bf16 tiles (MR = 32); each sliver takes `sliverBytes`.
@inline(__always)
func packABlock(_ packing: GemmPacking, transA: Bool, a: UnsafePointer<Float>, lda: Int, i0: Int, p0: Int,
                mc: Int, kc: Int, MR: Int, sliverBytes: Int,
                dst: UnsafeMutableRawPointer) {   // [ceil(mc/MR), kc, MR] floats, or bf16 tiles
    var ir = 0
    while ir < mc {
        let mr = min(MR, mc - ir)
        if packing == .bf16Tiles {
            let origin = transA ? a + p0 * lda + i0 + ir : a + (i0 + ir) * lda + p0
            lmt_bf16_pack_a(origin, lda, transA ? 1 : 0, mr, kc,
                            (dst + (ir / MR) * sliverBytes).assumingMemoryBound(to: UInt16.self))
            ir += MR
            continue
        }
        let d = (dst + (ir / MR) * sliverBytes).assumingMemoryBound(to: Float.self)
        if transA {
            // Aᵀ: row i of op(A) is column i of A; MR consecutive i are contiguous.
            lmt_pack_rows(a + p0 * lda + i0 + ir, lda, kc, mr, MR, d)
        } else {
            // A: MR rows become MR-float columns: a transpose.
            lmt_pack_transposed(a + (i0 + ir) * lda + p0, lda, mr, kc, MR, d)
        }
        ir += MR
    }
}

/// Reference for the vectorised packing (ckernel.c): dst[p·width + i] = src[i·lds + p] for i < rows, else 0.
public func packTransposedNaive(src: UnsafePointer<Float>, lds: Int,   // [rows, lds]
                                rows: Int, cols: Int, width: Int,
                                dst: UnsafeMutablePointer<Float>) {     // [cols, width]
    for p in 0..<cols {
        for i in 0..<width { dst[p * width + i] = i < rows ? src[i * lds + p] : 0 }
    }
}

/// Reference for the vectorised packing (ckernel.c): dst[p·width + j] = src[p·lds + j] for j < cols, else 0.
public func packRowsNaive(src: UnsafePointer<Float>, lds: Int,   // [rows, lds]
                          rows: Int, cols: Int, width: Int,
                          dst: UnsafeMutablePointer<Float>) {     // [rows, width]
    for p in 0..<rows {
        for j in 0..<width { dst[p * width + j] = j < cols ? src[p * lds + j] : 0 }
    }
}

/// C[6×16] = α·Σ_p a[p]ᵀ·b[p] + β·C: twelve 8-wide accumulators, one broadcast of A and two loads of B per
/// k step, twelve FMAs. a: [kc, MR] packed, b: [kc, NR] packed (64-byte aligned), c: [6, 16] with row stride ldc.
@inline(__always)
func microKernel6x16(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                     c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float) {
    for r in 0..<6 { lmt_prefetch_write(c + r * ldc) }
    var c00 = SIMD8<Float>(), c01 = SIMD8<Float>(), c10 = SIMD8<Float>(), c11 = SIMD8<Float>()
    var c20 = SIMD8<Float>(), c21 = SIMD8<Float>(), c30 = SIMD8<Float>(), c31 = SIMD8<Float>()
    var c40 = SIMD8<Float>(), c41 = SIMD8<Float>(), c50 = SIMD8<Float>(), c51 = SIMD8<Float>()
    var pa = a
    var pb = UnsafeRawPointer(b)
    for _ in 0..<kc {
        let b0 = pb.load(as: SIMD8<Float>.self)
        let b1 = pb.load(fromByteOffset: 32, as: SIMD8<Float>.self)
        var av = SIMD8<Float>(repeating: pa[0])
        c00 = c00.addingProduct(av, b0); c01 = c01.addingProduct(av, b1)
        av = SIMD8<Float>(repeating: pa[1])
        c10 = c10.addingProduct(av, b0); c11 = c11.addingProduct(av, b1)
        av = SIMD8<Float>(repeating: pa[2])
        c20 = c20.addingProduct(av, b0); c21 = c21.addingProduct(av, b1)
        av = SIMD8<Float>(repeating: pa[3])
        c30 = c30.addingProduct(av, b0); c31 = c31.addingProduct(av, b1)
        av = SIMD8<Float>(repeating: pa[4])
        c40 = c40.addingProduct(av, b0); c41 = c41.addingProduct(av, b1)
        av = SIMD8<Float>(repeating: pa[5])
        c50 = c50.addingProduct(av, b0); c51 = c51.addingProduct(av, b1)
        pa += 6
        pb += 16 * MemoryLayout<Float>.stride
    }
    @inline(__always) func store(_ row: Int, _ v0: SIMD8<Float>, _ v1: SIMD8<Float>) {
        let p = UnsafeMutableRawPointer(c + row * ldc)
        if beta == 0 {
            p.storeBytes(of: v0 * alpha, as: SIMD8<Float>.self)
            p.storeBytes(of: v1 * alpha, toByteOffset: 32, as: SIMD8<Float>.self)
        } else {
            let o0 = p.loadUnaligned(as: SIMD8<Float>.self)
            let o1 = p.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self)
            if beta == 1 {
                p.storeBytes(of: o0.addingProduct(v0, alpha), as: SIMD8<Float>.self)
                p.storeBytes(of: o1.addingProduct(v1, alpha), toByteOffset: 32, as: SIMD8<Float>.self)
            } else {
                p.storeBytes(of: (o0 * beta).addingProduct(v0, alpha), as: SIMD8<Float>.self)
                p.storeBytes(of: (o1 * beta).addingProduct(v1, alpha), toByteOffset: 32, as: SIMD8<Float>.self)
            }
        }
    }
    store(0, c00, c01); store(1, c10, c11); store(2, c20, c21)
    store(3, c30, c31); store(4, c40, c41); store(5, c50, c51)
}
