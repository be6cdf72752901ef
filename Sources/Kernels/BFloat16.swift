// Scalar references for the bf16 (AMX) GEMM path in CKernelSupport/amx_bf16.c: the rounding its packing
// does, and the packed layouts it writes, one element at a time. Tests compare the C code with these exactly.

/// The bfloat16 bits of x, rounded to nearest even, as AVX512-BF16's VCVTNE2PS2BF16 does: NaN stays a quiet
/// NaN, and subnormal inputs become zero of the same sign (the instruction ignores MXCSR and always treats
/// them as zero). Rounding a normal float cannot lower its exponent, so no result is subnormal.
public func bfloat16Bits(_ x: Float) -> UInt16 {
    let bits = x.bitPattern
    if x.isNaN { return UInt16(truncatingIfNeeded: bits >> 16) | 0x0040 }
    if x.isSubnormal { return UInt16(truncatingIfNeeded: (bits >> 16) & 0x8000) }
    let rounded = bits &+ 0x7FFF &+ ((bits >> 16) & 1)
    return UInt16(truncatingIfNeeded: rounded >> 16)
}

/// The float a bfloat16 bit pattern stands for (exact).
public func floatFromBFloat16(_ bits: UInt16) -> Float { Float(bitPattern: UInt32(bits) << 16) }

/// x rounded to bfloat16 and back: what the bf16 path multiplies in place of x.
public func bfloat16Rounded(_ x: Float) -> Float { floatFromBFloat16(bfloat16Bits(x)) }

/// Reference for `lmt_bf16_pack_a`: op(A)[0..<rows, 0..<cols] (rows ≤ 32) as [ceil(cols/32)][32][32] bf16,
/// zero past the matrix. op(A)[i][p] = trans ? a[p·lda + i] : a[i·lda + p].
public func packBF16ANaive(a: UnsafePointer<Float>, lda: Int, trans: Bool, rows: Int, cols: Int,
                           dst: UnsafeMutablePointer<UInt16>) {   // [ceil(cols/32), 32, 32]
    for c in 0..<(cols + 31) / 32 {
        for i in 0..<32 {
            for q in 0..<32 {
                let p = 32 * c + q
                let x: Float = i < rows && p < cols ? (trans ? a[p * lda + i] : a[i * lda + p]) : 0
                dst[c * 1024 + i * 32 + q] = bfloat16Bits(x)
            }
        }
    }
}

/// Reference for `lmt_bf16_pack_b`: op(B)[0..<kc, 0..<cols] (cols ≤ 32) as [ceil(kc/32)][2][16][16][2] bf16:
/// chunk c, half h, row r, column j, s holds op(B)[32c + 2r + s][16h + j]; zero past the matrix.
/// op(B)[p][j] = trans ? b[j·ldb + p] : b[p·ldb + j].
public func packBF16BNaive(b: UnsafePointer<Float>, ldb: Int, trans: Bool, kc: Int, cols: Int,
                           dst: UnsafeMutablePointer<UInt16>) {   // [ceil(kc/32), 2, 16, 16, 2]
    for c in 0..<(kc + 31) / 32 {
        for h in 0..<2 { for r in 0..<16 { for j in 0..<16 { for s in 0..<2 {
            let p = 32 * c + 2 * r + s, col = 16 * h + j
            let x: Float = p < kc && col < cols ? (trans ? b[col * ldb + p] : b[p * ldb + col]) : 0
            dst[c * 1024 + h * 512 + r * 32 + j * 2 + s] = bfloat16Bits(x)
        }}}}
    }
}
