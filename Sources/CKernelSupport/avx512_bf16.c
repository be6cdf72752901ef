#include "ckernel.h"

// BF16 matrix products with AVX512-BF16's VDPBF16PS, for `MatmulPrecision.bf16` on CPUs that have the
// instruction but no AMX: AMD Zen 4 and later, Intel Cooper Lake. Each VDPBF16PS multiplies 16 pairs of
// bf16 and adds both products of a pair to one FP32 lane, 32 multiply-adds where an FP32 FMA does 16, and its
// operands take half the bytes to pack and to stream from cache.
//
// The operands are the AMX path's packed slivers (lmt_bf16_pack_a / lmt_bf16_pack_b in amx_bf16.c), so both
// bf16 kernels round and pack identically and share their tests' references:
//  A sliver: [chunks][32 rows][32 k] — row r's pair q of chunk c (k = 32c + 2q, 2q + 1) is one dword.
//  B sliver: [chunks][2 halves][16 pairs][16 columns][2] — pair q of a half is 16 dwords, one per column.
// A 32×32 tile of C needs 64 accumulators, twice the 32 zmm registers, so the kernel walks the tile in row
// groups of 12, 12 and 8 (24, 24 and 16 accumulators plus two B registers), re-reading the B sliver, which
// the blocking keeps in L1, once per group.

#if defined(__x86_64__)
#include <immintrin.h>

int lmt_cpu_has_avx512_bf16(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bf16");
}

/// C[R×32] = α·Σ_chunks A·B + β·C for rows 0..<R of a sliver (R ≤ 12, a constant once inlined, so the
/// accumulators live in registers). β = 0 never reads C.
__attribute__((target("avx512f,avx512bw,avx512bf16"), always_inline))
static inline void rows_bf16(const int R, long chunks,
                             const uint16_t *a,   // row 0 of the group in an A sliver: [chunks][32 rows][32 k]
                             const uint16_t *b,   // [chunks][2][16][16][2]
                             float *c, long ldc,  // [R, 32], row stride ldc
                             float alpha, float beta) {
    __m512 acc[12][2];
    for (int r = 0; r < R; r++) { acc[r][0] = _mm512_setzero_ps(); acc[r][1] = _mm512_setzero_ps(); }
    // Whole chunks: the packing zero-pads k to a multiple of 32, so the pairs past kc add zeros.
    for (long chunk = 0; chunk < chunks; chunk++) {
        const uint16_t *pa = a + chunk * 1024, *pb = b + chunk * 1024;
        for (int q = 0; q < 16; q++) {
            __m512bh b0 = (__m512bh)_mm512_loadu_si512(pb + q * 32);         // pair q, columns 0–15
            __m512bh b1 = (__m512bh)_mm512_loadu_si512(pb + 512 + q * 32);   // columns 16–31
            for (int r = 0; r < R; r++) {
                int32_t pair;
                __builtin_memcpy(&pair, pa + r * 32 + 2 * q, sizeof pair);
                __m512bh av = (__m512bh)_mm512_set1_epi32(pair);
                acc[r][0] = _mm512_dpbf16_ps(acc[r][0], av, b0);
                acc[r][1] = _mm512_dpbf16_ps(acc[r][1], av, b1);
            }
        }
    }
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    for (int r = 0; r < R; r++) {
        float *row = c + r * ldc;
        __m512 v0 = _mm512_mul_ps(va, acc[r][0]), v1 = _mm512_mul_ps(va, acc[r][1]);
        if (beta != 0.0f) {
            v0 = _mm512_fmadd_ps(vb, _mm512_loadu_ps(row), v0);
            v1 = _mm512_fmadd_ps(vb, _mm512_loadu_ps(row + 16), v1);
        }
        _mm512_storeu_ps(row, v0);
        _mm512_storeu_ps(row + 16, v1);
    }
}

__attribute__((target("avx512f,avx512bw,avx512bf16")))
void lmt_avx512_bf16_kernel_32x32(long kc,
                                  const uint16_t *a,   // [ceil(kc/32)][32 rows][32 k] bf16 (lmt_bf16_pack_a)
                                  const uint16_t *b,   // [ceil(kc/32)][2][16 pairs][16 columns][2] bf16 (lmt_bf16_pack_b)
                                  float *c, long ldc,  // [32, 32], row stride ldc
                                  float alpha, float beta) {
    long chunks = (kc + 31) / 32;
    rows_bf16(12, chunks, a, b, c, ldc, alpha, beta);
    rows_bf16(12, chunks, a + 12 * 32, b, c + 12 * ldc, ldc, alpha, beta);
    rows_bf16(8, chunks, a + 24 * 32, b, c + 24 * ldc, ldc, alpha, beta);
}

#else

// Off x86-64 the CPU check says no, so the kernel is never called.
int lmt_cpu_has_avx512_bf16(void) { return 0; }
void lmt_avx512_bf16_kernel_32x32(long kc, const uint16_t *a, const uint16_t *b, float *c, long ldc, float alpha,
                                  float beta) {}

#endif
