import CKernelSupport

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

/// Blocking for Zen 3 (L1d 32 KiB, L2 512 KiB): a KC×NR sliver of B (16 KiB) stays in L1, an MC×KC block
/// of A (120 KiB) in L2, a KC×NC panel of B (2 MiB) in L3.
let gemmMR = 6, gemmNR = 16
let gemmKC = 256, gemmMC = 120, gemmNC = 2048

/// Products smaller than this many multiply-adds run on one thread: a hand-off costs more than it saves.
let gemmParallelThreshold = 48 * 48 * 48

/// Blocked SGEMM in the BLIS/GotoBLAS style: C = α·op(A)·op(B) + β·C.
/// Packs B into KC×NR slivers and A into MR×KC slivers (zero-padded at the edges), then a 6×16 register
/// tile micro-kernel (twelve 8-wide accumulators, AVX2 + FMA) runs over them. Threads share each packed B
/// panel and split the rows of C (or, when C has few rows, its columns). β = 0 never reads C.
public func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                  a: UnsafePointer<Float>, lda: Int,   // [m, k], or [k, m] if transA
                  b: UnsafePointer<Float>, ldb: Int,   // [k, n], or [n, k] if transB
                  beta: Float,
                  c: UnsafeMutablePointer<Float>, ldc: Int,   // [m, n]
                  pool: ThreadPool = .shared, threads: Int = .max) {
    if m == 0 || n == 0 { return }
    if k == 0 || alpha == 0 {
        scaleC(m: m, n: n, beta: beta, c: c, ldc: ldc)
        return
    }
    let want = m * n * k < gemmParallelThreshold ? 1 : min(threads, pool.threadCount)
    let rowBlocks = (m + gemmMR - 1) / gemmMR
    let colSlivers = (n + gemmNR - 1) / gemmNR
    // Split rows when every thread gets at least two row slivers; otherwise split columns.
    let splitRows = rowBlocks >= 2 * want || rowBlocks >= colSlivers
    pool.exclusive {
    let ws = pool.workspace
    let packedB = ws.floats(Workspace.Slot.gemmB, count: gemmKC * gemmNC)
    let t = min(want, pool.threadCount)
    // Slot 1: per thread, one packed-A block followed by one edge tile.
    let perThread = gemmMC * gemmKC + gemmMR * gemmNR
    let packedA = ws.floats(Workspace.Slot.gemmA, count: perThread * pool.threadCount)
    pool.run(threads: t) { tid in
        var sense = pool.currentSense
        let myA = packedA + tid * perThread
        let tile = myA + gemmMC * gemmKC
        var jc = 0
        while jc < n {
            let nc = min(gemmNC, n - jc)
            let slivers = (nc + gemmNR - 1) / gemmNR
            var pc = 0
            while pc < k {
                let kc = min(gemmKC, k - pc)
                // Pack this panel of B together: thread tid takes a contiguous share of the slivers.
                let s0 = slivers * tid / t, s1 = slivers * (tid + 1) / t
                for s in s0..<s1 {
                    packBSliver(transB: transB, b: b, ldb: ldb, p0: pc, j0: jc + s * gemmNR,
                                kc: kc, nr: min(gemmNR, nc - s * gemmNR), dst: packedB + s * kc * gemmNR)
                }
                pool.barrier(&sense)
                let betaHere: Float = pc == 0 ? beta : 1
                let (r0, r1, q0, q1): (Int, Int, Int, Int)
                if splitRows {
                    r0 = rowBlocks * tid / t * gemmMR; r1 = min(m, rowBlocks * (tid + 1) / t * gemmMR)
                    q0 = 0; q1 = slivers
                } else {
                    r0 = 0; r1 = m
                    q0 = slivers * tid / t; q1 = slivers * (tid + 1) / t
                }
                var ic = r0
                while ic < r1 {
                    let mc = min(gemmMC, r1 - ic)
                    packABlock(transA: transA, a: a, lda: lda, i0: ic, p0: pc, mc: mc, kc: kc, dst: myA)
                    for q in q0..<q1 {
                        let j = jc + q * gemmNR
                        let nr = min(gemmNR, n - j)
                        let bp = packedB + q * kc * gemmNR
                        var ir = 0
                        while ir < mc {
                            let mr = min(gemmMR, mc - ir)
                            let ap = myA + (ir / gemmMR) * kc * gemmMR
                            let cp = c + (ic + ir) * ldc + j
                            if mr == gemmMR && nr == gemmNR {
                                microKernel6x16(kc: kc, a: ap, b: bp, c: cp, ldc: ldc, alpha: alpha, beta: betaHere)
                            } else {
                                microKernel6x16(kc: kc, a: ap, b: bp, c: tile, ldc: gemmNR, alpha: alpha, beta: 0)
                                for r in 0..<mr {
                                    for cc in 0..<nr {
                                        let v = tile[r * gemmNR + cc]
                                        cp[r * ldc + cc] = betaHere == 0 ? v : v + betaHere * cp[r * ldc + cc]
                                    }
                                }
                            }
                            ir += gemmMR
                        }
                    }
                    ic += mc
                }
                // The next panel overwrites packed B: wait until everyone is done with this one.
                pool.barrier(&sense)
                pc += kc
            }
            jc += nc
        }
    }
    }
}

/// C = β·C (the k = 0 or α = 0 case); β = 0 writes zeros without reading C.
func scaleC(m: Int, n: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
    for i in 0..<m {
        for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] }
    }
}

/// Packs op(B)[p0..<p0+kc, j0..<j0+nr] as kc rows of NR floats (zero-padded past nr).
@inline(__always)
func packBSliver(transB: Bool, b: UnsafePointer<Float>, ldb: Int, p0: Int, j0: Int, kc: Int, nr: Int,
                 dst: UnsafeMutablePointer<Float>) {   // [kc, NR]
    if !transB && nr == gemmNR {
        for p in 0..<kc {
            let src = UnsafeRawPointer(b + (p0 + p) * ldb + j0)
            let d = UnsafeMutableRawPointer(dst + p * gemmNR)
            d.storeBytes(of: src.loadUnaligned(as: SIMD8<Float>.self), as: SIMD8<Float>.self)
            d.storeBytes(of: src.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self), toByteOffset: 32, as: SIMD8<Float>.self)
        }
    } else if !transB {
        for p in 0..<kc {
            for j in 0..<gemmNR { dst[p * gemmNR + j] = j < nr ? b[(p0 + p) * ldb + j0 + j] : 0 }
        }
    } else {
        // Bᵀ: column j of op(B) is row j of B, contiguous along p.
        for j in 0..<gemmNR {
            if j < nr {
                let src = b + (j0 + j) * ldb + p0
                for p in 0..<kc { dst[p * gemmNR + j] = src[p] }
            } else {
                for p in 0..<kc { dst[p * gemmNR + j] = 0 }
            }
        }
    }
}

/// Packs op(A)[i0..<i0+mc, p0..<p0+kc] as ceil(mc/MR) slivers of kc columns of MR floats (zero-padded).
@inline(__always)
func packABlock(transA: Bool, a: UnsafePointer<Float>, lda: Int, i0: Int, p0: Int, mc: Int, kc: Int,
                dst: UnsafeMutablePointer<Float>) {   // [ceil(mc/MR), kc, MR]
    var ir = 0
    while ir < mc {
        let mr = min(gemmMR, mc - ir)
        let d = dst + (ir / gemmMR) * kc * gemmMR
        if transA {
            // Aᵀ: row i of op(A) is column i of A; MR consecutive i are contiguous.
            for p in 0..<kc {
                let src = a + (p0 + p) * lda + i0 + ir
                for r in 0..<gemmMR { d[p * gemmMR + r] = r < mr ? src[r] : 0 }
            }
        } else {
            for r in 0..<gemmMR {
                if r < mr {
                    let src = a + (i0 + ir + r) * lda + p0
                    for p in 0..<kc { d[p * gemmMR + r] = src[p] }
                } else {
                    for p in 0..<kc { d[p * gemmMR + r] = 0 }
                }
            }
        }
        ir += gemmMR
    }
}

/// C[6×16] = α·Σ_p a[p]ᵀ·b[p] + β·C: twelve 8-wide accumulators, one broadcast of A and two loads of B per
/// k step, twelve FMAs. a: [kc, MR] packed, b: [kc, NR] packed (64-byte aligned), c: [6, 16] with row stride ldc.
@inline(__always)
func microKernel6x16(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                     c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float) {
    for r in 0..<gemmMR { lmt_prefetch_write(c + r * ldc) }
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
        pa += gemmMR
        pb += gemmNR * MemoryLayout<Float>.stride
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
