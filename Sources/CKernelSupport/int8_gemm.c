#include "ckernel.h"

// Int8 matrix products for inference (`ComputeType.int8`): C = (sa_i · sb_j) · Σ_k qa[i,k]·qb[k,j] + bias_j,
// where qb are weights quantised once per output column (scale sb_j = max|W[:,j]| / 127) and qa activations
// quantised per row on the fly (sa_i = max|A[i,:]| / 127), both symmetric, to [-127, 127].
// VPDPBUSD multiplies unsigned by signed bytes, so the activations are stored shifted, ua = qa + 128 ∈ [1, 255],
// and the kernel subtracts 128·Σ_k qb[k,j] (`col_comp`, computed with the weights) from each column's sum:
// Σ ua·qb − 128·Σ qb = Σ qa·qb exactly, in int32 (|sum| ≤ 255·127·k: no overflow for k < 66,000).
//
// Packed layouts, one "quad" = 4 consecutive k (k padded with zeros to a multiple of 4):
//  A sliver (MR = 12 rows): [k/4][12 rows][4] uint8 (rows past the matrix hold 128, i.e. zero).
//  B sliver (32 columns):   [k/4][32 columns][4] int8 — one quad row is two zmm loads of 16 columns.
// The AVX2 kernel (CPUs without AVX512-VNNI: AMD Zen 3) reads the same layouts, widening bytes to int16 for
// VPMADDWD, which (unlike VPMADDUBSW) cannot saturate.

#if defined(__x86_64__)
#include <immintrin.h>

int lmt_cpu_has_avx512_vnni(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
}

/// Quantises rows 0..<rows (≤ 12) of A and packs them as one A sliver; writes each row's scale.
/// Rounding is to nearest even (rintf; VROUNDPS in the vector loop, the same result); a row of zeros gets
/// scale 0 (and codes 128).
__attribute__((target("avx2,fma")))
void lmt_int8_pack_a(const float *a, long lda,   // [rows, k], row stride lda
                     long rows, long k,
                     uint8_t *dst,               // [ceil(k/4)][12][4]
                     float *scales) {            // [rows]
    long quads = (k + 3) / 4;
    const __m256 absMask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    for (long r = 0; r < 12; r++) {
        if (r >= rows) {
            for (long q = 0; q < quads; q++) __builtin_memset(dst + q * 48 + r * 4, 128, 4);
            continue;
        }
        const float *row = a + r * lda;
        __m256 vmax = _mm256_setzero_ps();
        long p = 0;
        for (; p + 8 <= k; p += 8) vmax = _mm256_max_ps(vmax, _mm256_and_ps(absMask, _mm256_loadu_ps(row + p)));
        float lanes[8], amax = 0;
        _mm256_storeu_ps(lanes, vmax);
        for (int i = 0; i < 8; i++) amax = lanes[i] > amax ? lanes[i] : amax;
        for (; p < k; p++) { float v = __builtin_fabsf(row[p]); amax = v > amax ? v : amax; }
        float inv = amax > 0 ? 127.0f / amax : 0.0f;
        scales[r] = amax / 127.0f;
        const __m256 vinv = _mm256_set1_ps(inv), lo = _mm256_set1_ps(-127.0f), hi = _mm256_set1_ps(127.0f);
        const __m256i offset = _mm256_set1_epi32(128);
        p = 0;
        // Eight values (two quads) at a time: scale, round, clamp, shift to [1, 255], narrow to bytes.
        for (; p + 8 <= k; p += 8) {
            __m256 x = _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(row + p), vinv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            x = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
            __m256i u = _mm256_add_epi32(_mm256_cvtps_epi32(x), offset);
            __m256i b16 = _mm256_packus_epi32(u, u);      // per 128-bit lane: v0..3 v0..3 as u16
            __m256i b8 = _mm256_packus_epi16(b16, b16);   // per lane: v0..3 four times as bytes
            int32_t q0 = _mm256_extract_epi32(b8, 0), q1 = _mm256_extract_epi32(b8, 4);
            __builtin_memcpy(dst + (p / 4) * 48 + r * 4, &q0, 4);
            __builtin_memcpy(dst + (p / 4 + 1) * 48 + r * 4, &q1, 4);
        }
        for (long q = p / 4; q < quads; q++) {
            uint8_t *d = dst + q * 48 + r * 4;
            for (long e = 0; e < 4; e++) {
                long pp = 4 * q + e;
                float x = pp < k ? __builtin_rintf(row[pp] * inv) : 0.0f;
                x = x > 127.0f ? 127.0f : (x < -127.0f ? -127.0f : x);
                d[e] = (uint8_t)((int)x + 128);
            }
        }
    }
}

/// The dequantising epilogue of one row of a tile: c[j] = (sa · sb[j]) · (acc[j] − comp[j]) (+ bias[j]),
/// j < cols (≤ 32).
__attribute__((target("avx512f,avx512bw"), always_inline))
static inline void store_row_512(__m512i acc0, __m512i acc1, float sa, const float *sb, const int32_t *comp,
                                 const float *bias, float *c, long cols) {
    __mmask16 m0 = cols >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << cols) - 1);
    __mmask16 m1 = cols >= 32 ? (__mmask16)0xFFFF : (cols > 16 ? (__mmask16)((1u << (cols - 16)) - 1) : 0);
    __m512 vsa = _mm512_set1_ps(sa);
    __m512 s0 = _mm512_mul_ps(vsa, _mm512_loadu_ps(sb)), s1 = _mm512_mul_ps(vsa, _mm512_loadu_ps(sb + 16));
    __m512 d0 = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc0, _mm512_loadu_si512(comp)));
    __m512 d1 = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc1, _mm512_loadu_si512(comp + 16)));
    __m512 b0 = bias ? _mm512_maskz_loadu_ps(m0, bias) : _mm512_setzero_ps();
    __m512 b1 = bias && m1 ? _mm512_maskz_loadu_ps(m1, bias + 16) : _mm512_setzero_ps();
    _mm512_mask_storeu_ps(c, m0, _mm512_fmadd_ps(d0, s0, b0));
    if (m1) _mm512_mask_storeu_ps(c + 16, m1, _mm512_fmadd_ps(d1, s1, b1));
}

/// Rows 0..<R of an A sliver times one B sliver (R ≤ 12, a constant once inlined: 2R accumulators in zmm).
__attribute__((target("avx512f,avx512bw,avx512vnni"), always_inline))
static inline void rows_vnni(const int R, long quads,
                             const uint8_t *a,   // [quads][12][4]
                             const int8_t *b,    // [quads][32][4]
                             const float *sa, const float *sb, const int32_t *comp, const float *bias,
                             float *c, long ldc, long cols) {
    __m512i acc[12][2];
    for (int r = 0; r < R; r++) { acc[r][0] = _mm512_setzero_si512(); acc[r][1] = _mm512_setzero_si512(); }
    for (long q = 0; q < quads; q++) {
        __m512i b0 = _mm512_loadu_si512(b + q * 128), b1 = _mm512_loadu_si512(b + q * 128 + 64);
        const uint8_t *pa = a + q * 48;
        for (int r = 0; r < R; r++) {
            int32_t quad;
            __builtin_memcpy(&quad, pa + 4 * r, sizeof quad);
            __m512i av = _mm512_set1_epi32(quad);
            acc[r][0] = _mm512_dpbusd_epi32(acc[r][0], av, b0);
            acc[r][1] = _mm512_dpbusd_epi32(acc[r][1], av, b1);
        }
    }
    for (int r = 0; r < R; r++) store_row_512(acc[r][0], acc[r][1], sa[r], sb, comp, bias, c + r * ldc, cols);
}

__attribute__((target("avx512f,avx512bw,avx512vnni")))
void lmt_int8_kernel_avx512vnni(long quads, long rows, long cols,
                                const uint8_t *a,      // [quads][12][4] (lmt_int8_pack_a)
                                const int8_t *b,       // [quads][32][4]
                                const float *sa,       // [rows]
                                const float *sb,       // [32]
                                const int32_t *comp,   // [32]
                                const float *bias,     // [cols] or NULL
                                float *c, long ldc) {  // [rows, cols], row stride ldc
    switch (rows) {
#define LMT_ROWS(R) case R: rows_vnni(R, quads, a, b, sa, sb, comp, bias, c, ldc, cols); break;
        LMT_ROWS(1) LMT_ROWS(2) LMT_ROWS(3) LMT_ROWS(4) LMT_ROWS(5) LMT_ROWS(6)
        LMT_ROWS(7) LMT_ROWS(8) LMT_ROWS(9) LMT_ROWS(10) LMT_ROWS(11) LMT_ROWS(12)
#undef LMT_ROWS
        default: break;
    }
}

/// Rows 0..<R (≤ 3) of an A sliver times 16 columns (half h) of one B sliver, with AVX2: each 16 bytes of B
/// (4 columns × 4 k) widen to 16 int16, the row's quad to 4 int16 repeated, and VPMADDWD leaves two partial
/// sums per column, added in the epilogue.
__attribute__((target("avx2,fma"), always_inline))
static inline void rows_avx2(const int R, long quads, const uint8_t *a, const int8_t *b, int h,
                             const float *sa, const float *sb, const int32_t *comp, const float *bias,
                             float *c, long ldc, long cols) {
    __m256i acc[3][4];
    for (int r = 0; r < R; r++)
        for (int i = 0; i < 4; i++) acc[r][i] = _mm256_setzero_si256();
    for (long q = 0; q < quads; q++) {
        const uint8_t *pa = a + q * 48;
        __m256i av[3];
        for (int r = 0; r < R; r++) {
            int32_t quad;
            __builtin_memcpy(&quad, pa + 4 * r, sizeof quad);
            av[r] = _mm256_broadcastq_epi64(_mm_cvtepu8_epi16(_mm_cvtsi32_si128(quad)));
        }
        const int8_t *pb = b + q * 128 + h * 64;
        for (int i = 0; i < 4; i++) {
            __m256i bw = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(pb + 16 * i)));
            for (int r = 0; r < R; r++) acc[r][i] = _mm256_add_epi32(acc[r][i], _mm256_madd_epi16(bw, av[r]));
        }
    }
    for (int r = 0; r < R; r++) {
        int32_t part[32];
        for (int i = 0; i < 4; i++) _mm256_storeu_si256((__m256i *)(part + 8 * i), acc[r][i]);
        float *row = c + r * ldc;
        for (int j = 0; j < 16 && 16 * h + j < cols; j++) {
            int col = 16 * h + j;
            float d = (float)(part[2 * j] + part[2 * j + 1] - comp[col]);
            row[j] = __builtin_fmaf(d, sa[r] * sb[col], bias ? bias[col] : 0.0f);
        }
    }
}

__attribute__((target("avx2,fma")))
void lmt_int8_kernel_avx2(long quads, long rows, long cols, const uint8_t *a, const int8_t *b, const float *sa,
                          const float *sb, const int32_t *comp, const float *bias, float *c, long ldc) {
    for (int h = 0; h < 2 && 16 * h < cols; h++) {
        long r0 = 0;
        for (; r0 + 3 <= rows; r0 += 3)
            rows_avx2(3, quads, a + 4 * r0, b, h, sa + r0, sb, comp, bias, c + r0 * ldc + 16 * h, ldc, cols);
        if (rows - r0 == 2) rows_avx2(2, quads, a + 4 * r0, b, h, sa + r0, sb, comp, bias, c + r0 * ldc + 16 * h, ldc, cols);
        if (rows - r0 == 1) rows_avx2(1, quads, a + 4 * r0, b, h, sa + r0, sb, comp, bias, c + r0 * ldc + 16 * h, ldc, cols);
    }
}

#else

int lmt_cpu_has_avx512_vnni(void) { return 0; }
void lmt_int8_pack_a(const float *a, long lda, long rows, long k, uint8_t *dst, float *scales) {}
void lmt_int8_kernel_avx512vnni(long quads, long rows, long cols, const uint8_t *a, const int8_t *b, const float *sa,
                                const float *sb, const int32_t *comp, const float *bias, float *c, long ldc) {}
void lmt_int8_kernel_avx2(long quads, long rows, long cols, const uint8_t *a, const int8_t *b, const float *sa,
                          const float *sb, const int32_t *comp, const float *bias, float *c, long ldc) {}

#endif
