// Compiled for AVX-512 (see Package.swift) and called only after a CPUID check, so the rest of lmtrain runs
// on any x86-64 with AVX2. This file holds nothing but the micro-kernel.
import CKernelSupport

/// C[12×32] = α·Σ_p a[p]ᵀ·b[p] + β·C: 24 sixteen-wide accumulators (of the 32 zmm registers), one broadcast
/// of A and two loads of B per k step, 24 FMAs. β = 0 never reads C.
/// a: [kc, 12] packed; b: [kc, 32] packed (64-byte aligned); c: [12, 32] with row stride ldc.
public func microKernel12x32(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                             c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float) {
    for r in 0..<12 { lmt_prefetch_write(c + r * ldc); lmt_prefetch_write(c + r * ldc + 16) }
    var c00 = SIMD16<Float>(), c01 = SIMD16<Float>(), c10 = SIMD16<Float>(), c11 = SIMD16<Float>()
    var c20 = SIMD16<Float>(), c21 = SIMD16<Float>(), c30 = SIMD16<Float>(), c31 = SIMD16<Float>()
    var c40 = SIMD16<Float>(), c41 = SIMD16<Float>(), c50 = SIMD16<Float>(), c51 = SIMD16<Float>()
    var c60 = SIMD16<Float>(), c61 = SIMD16<Float>(), c70 = SIMD16<Float>(), c71 = SIMD16<Float>()
    var c80 = SIMD16<Float>(), c81 = SIMD16<Float>(), c90 = SIMD16<Float>(), c91 = SIMD16<Float>()
    var ca0 = SIMD16<Float>(), ca1 = SIMD16<Float>(), cb0 = SIMD16<Float>(), cb1 = SIMD16<Float>()
    var pa = a
    var pb = UnsafeRawPointer(b)
    for _ in 0..<kc {
        let b0 = pb.load(as: SIMD16<Float>.self)
        let b1 = pb.load(fromByteOffset: 64, as: SIMD16<Float>.self)
        var av = SIMD16<Float>(repeating: pa[0])
        c00 = c00.addingProduct(av, b0); c01 = c01.addingProduct(av, b1)
        av = SIMD16<Float>(repeating: pa[1]); c10 = c10.addingProduct(av, b0); c11 = c11.addingProduct(av, b1)
        av = SIMD16<Float>(repeating: pa[2]); c20 = c20.addingProduct(av, b0); c21 = c21.addingProduct(av, b1)
        av = SIMD16<Float>(repeating: pa[3]); c30 = c30.addingProduct(av, b0); c31 = c31.addingProduct(av, b1)
        av = SIMD16<Float>(repeating: pa[4]); c40 = c40.addingProduct(av, b0); c41 = c41.addingProduct(av, b1)
        av = SIMD16<Float>(repeating: pa[5]); c50 = c50.addingProduct(av, b0); c51 = c51.addingProduct(av, b1)
        av = SIMD16<Float>(repeating: pa[6]); c60 = c60.addingProduct(av, b0); c61 = c61.addingProduct(av, b1)
        av = SIMD16<Float>(repeating: pa[7]); c70 = c70.addingProduct(av, b0); c71 = c71.addingProduct(av, b1)
        av = SIMD16<Float>(repeating: pa[8]); c80 = c80.addingProduct(av, b0); c81 = c81.addingProduct(av, b1)
        av = SIMD16<Float>(repeating: pa[9]); c90 = c90.addingProduct(av, b0); c91 = c91.addingProduct(av, b1)
        av = SIMD16<Float>(repeating: pa[10]); ca0 = ca0.addingProduct(av, b0); ca1 = ca1.addingProduct(av, b1)
        av = SIMD16<Float>(repeating: pa[11]); cb0 = cb0.addingProduct(av, b0); cb1 = cb1.addingProduct(av, b1)
        pa += 12
        pb += 32 * MemoryLayout<Float>.stride
    }
    @inline(__always) func store(_ row: Int, _ v0: SIMD16<Float>, _ v1: SIMD16<Float>) {
        let p = UnsafeMutableRawPointer(c + row * ldc)
        if beta == 0 {
            p.storeBytes(of: v0 * alpha, as: SIMD16<Float>.self)
            p.storeBytes(of: v1 * alpha, toByteOffset: 64, as: SIMD16<Float>.self)
        } else {
            let o0 = p.loadUnaligned(as: SIMD16<Float>.self)
            let o1 = p.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self)
            p.storeBytes(of: (o0 * beta).addingProduct(v0, alpha), as: SIMD16<Float>.self)
            p.storeBytes(of: (o1 * beta).addingProduct(v1, alpha), toByteOffset: 64, as: SIMD16<Float>.self)
        }
    }
    store(0, c00, c01); store(1, c10, c11); store(2, c20, c21); store(3, c30, c31)
    store(4, c40, c41); store(5, c50, c51); store(6, c60, c61); store(7, c70, c71)
    store(8, c80, c81); store(9, c90, c91); store(10, ca0, ca1); store(11, cb0, cb1)
}
