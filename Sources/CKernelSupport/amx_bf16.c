#include "ckernel.h"

// BF16 matrix products on AMX (Intel's tile unit, Sapphire Rapids and later), for `MatmulPrecision.bf16`,
// and the bf16 packing that the AVX512-BF16 kernel (avx512_bf16.c) shares:
// the operands stay FP32 in memory and are rounded to bfloat16 (round to nearest even) while they are packed,
// and the tiles accumulate the products in FP32, the same contract as PyTorch's bf16 matmul precision on CPU
// (oneDNN's fpmath mode). Nothing here is compiled for the whole file: each function carries its own target
// attribute and is reached only after `lmt_amx_bf16_init` said yes.
//
// Packed layouts (bf16 as uint16_t), one k chunk = 32 values of k:
//  A sliver (32 rows of op(A)): [chunks][32 rows][32 k]. Rows 0–15 of a chunk are tile A0, rows 16–31 tile A1.
//  B sliver (32 columns of op(B)): [chunks][2 halves][16 k pairs][16 columns][2]. Half h is the tile of
//  columns 16h..16h+15 in the "VNNI" layout TDPBF16PS wants: row r holds, for each column, k = 2r and 2r+1.
// Both are zero-padded past the matrix, so edges need no special kernel.

#if defined(__x86_64__) && defined(__linux__)
#include <immintrin.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define LMT_ARCH_REQ_XCOMP_PERM 0x1023
#define LMT_XFEATURE_XTILEDATA 18

int lmt_amx_bf16_init(void) {
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("amx-tile") || !__builtin_cpu_supports("amx-bf16") ||
        !__builtin_cpu_supports("avx512bf16") || !__builtin_cpu_supports("avx512bw"))
        return 0;
    // Linux hands out the 8 KiB of tile state only to processes that ask (once; it covers every thread).
    return syscall(SYS_arch_prctl, LMT_ARCH_REQ_XCOMP_PERM, LMT_XFEATURE_XTILEDATA) == 0;
}

/// The tile palette every kernel here uses: tiles 0–7, each 16 rows of 64 bytes.
struct lmt_tile_config { uint8_t palette, start_row, reserved[14]; uint16_t colsb[16]; uint8_t rows[16]; };

__attribute__((target("amx-tile")))
void lmt_amx_begin(void) {
    struct lmt_tile_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 8; t++) { cfg.rows[t] = 16; cfg.colsb[t] = 64; }
    _tile_loadconfig(&cfg);
}

__attribute__((target("amx-tile")))
void lmt_amx_end(void) { _tile_release(); }

/// 32 floats → 32 bf16 (RNE), the floats past `count` as zeros.
__attribute__((target("avx512f,avx512bw,avx512bf16")))
static inline __m512i cvt32(const float *src, long count) {
    __m512 lo, hi;
    if (count >= 32) { lo = _mm512_loadu_ps(src); hi = _mm512_loadu_ps(src + 16); }
    else {
        long nlo = count < 16 ? count : 16, nhi = count > 16 ? count - 16 : 0;
        lo = _mm512_maskz_loadu_ps((__mmask16)((1u << nlo) - 1), src);
        hi = nhi > 0 ? _mm512_maskz_loadu_ps((__mmask16)((1u << nhi) - 1), src + 16) : _mm512_setzero_ps();
    }
    return (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
}

/// Two rows of 16 floats (x: k = 2r, y: k = 2r + 1; `count` valid) → 16 pairs (bf16(x[j]), bf16(y[j])).
__attribute__((target("avx512f,avx512bw,avx512bf16")))
static inline __m512i pairs16(const float *x, const float *y, long count) {
    __mmask16 m = count >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << count) - 1);
    __m512 vx = _mm512_maskz_loadu_ps(m, x);
    __m512 vy = y ? _mm512_maskz_loadu_ps(m, y) : _mm512_setzero_ps();
    __m512i both = (__m512i)_mm512_cvtne2ps_pbh(vy, vx);   // words 0–15: x, 16–31: y
    const __m512i interleave = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8,
                                                23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    return _mm512_permutexvar_epi16(interleave, both);
}

/// r[i] (16 dwords each) becomes column i: a 16×16 transpose of 32-bit units (each a pair of bf16).
__attribute__((target("avx512f")))
static inline void transpose16x16_epi32(__m512i r[16]) {
    __m512i t[16], u[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        u[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
        u[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
        u[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
        u[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
    }
    // Each 128-bit lane of u[4g + c] now holds column (4·lane + c) of rows 4g..4g+3; gather the lanes.
    __m512i v[16];
    for (int g = 0; g < 16; g += 8)
        for (int c = 0; c < 4; c++) {
            v[g + c] = _mm512_shuffle_i32x4(u[g + c], u[g + 4 + c], 0x88);
            v[g + 4 + c] = _mm512_shuffle_i32x4(u[g + c], u[g + 4 + c], 0xdd);
        }
    for (int c = 0; c < 4; c++) {
        r[c] = _mm512_shuffle_i32x4(v[c], v[8 + c], 0x88);
        r[8 + c] = _mm512_shuffle_i32x4(v[c], v[8 + c], 0xdd);
        r[4 + c] = _mm512_shuffle_i32x4(v[4 + c], v[12 + c], 0x88);
        r[12 + c] = _mm512_shuffle_i32x4(v[4 + c], v[12 + c], 0xdd);
    }
}

__attribute__((target("avx512f,avx512bw,avx512bf16")))
void lmt_bf16_pack_a(const float *a, long lda, int trans, long rows, long cols, uint16_t *dst) {
    long chunks = (cols + 31) / 32;
    if (!trans) {
        // Row i of op(A) is contiguous along k: convert 32 at a time straight into row i of the tile.
        for (long c = 0; c < chunks; c++) {
            long n = cols - 32 * c;
            for (long i = 0; i < 32; i++) {
                __m512i w = i < rows ? cvt32(a + i * lda + 32 * c, n) : _mm512_setzero_si512();
                _mm512_storeu_si512(dst + c * 1024 + i * 32, w);
            }
        }
        return;
    }
    // Aᵀ stored: k runs down the columns. Pair rows k = 2r, 2r+1 (contiguous along i), then transpose the
    // 16 pairs × 16 rows block so each tile row is one i.
    for (long c = 0; c < chunks; c++)
        for (long h = 0; h < 2; h++) {
            long n = rows - 16 * h;
            __m512i r[16];
            for (long q = 0; q < 16; q++) {
                long p = 32 * c + 2 * q;
                r[q] = (n <= 0 || p >= cols) ? _mm512_setzero_si512()
                     : pairs16(a + p * lda + 16 * h, p + 1 < cols ? a + (p + 1) * lda + 16 * h : 0, n);
            }
            transpose16x16_epi32(r);
            for (long i = 0; i < 16; i++) _mm512_storeu_si512(dst + c * 1024 + (16 * h + i) * 32, r[i]);
        }
}

__attribute__((target("avx512f,avx512bw,avx512bf16")))
void lmt_bf16_pack_b(const float *b, long ldb, int trans, long kc, long cols, uint16_t *dst) {
    long chunks = (kc + 31) / 32;
    for (long c = 0; c < chunks; c++)
        for (long h = 0; h < 2; h++) {
            long n = cols - 16 * h;
            uint16_t *tile = dst + c * 1024 + h * 512;
            if (!trans) {
                // op(B) = B: rows k = 2r, 2r+1 are contiguous along j; interleaving them is the tile row.
                for (long q = 0; q < 16; q++) {
                    long p = 32 * c + 2 * q;
                    __m512i w = (n <= 0 || p >= kc) ? _mm512_setzero_si512()
                              : pairs16(b + p * ldb + 16 * h, p + 1 < kc ? b + (p + 1) * ldb + 16 * h : 0, n);
                    _mm512_storeu_si512(tile + q * 32, w);
                }
            } else {
                // op(B) = Bᵀ: column j is row j of B, contiguous along k, so 32 values of k convert into the
                // 16 pairs of column j; a transpose puts the pairs of one k row side by side.
                __m512i r[16];
                for (long j = 0; j < 16; j++)
                    r[j] = j < n ? cvt32(b + (16 * h + j) * ldb + 32 * c, kc - 32 * c) : _mm512_setzero_si512();
                transpose16x16_epi32(r);
                for (long q = 0; q < 16; q++) _mm512_storeu_si512(tile + q * 32, r[q]);
            }
        }
}

/// C[32×32] = α·Σ_chunks A·B + β·C on four accumulator tiles (tiles 0–3: C00, C01, C10, C11; 4–5: A; 6–7: B).
/// α = 1 and β ∈ {0, 1} load and store C as tiles; anything else goes through a 4 KiB buffer.
__attribute__((target("amx-tile,amx-bf16,avx512f")))
void lmt_amx_kernel_32x32(long chunks, const uint16_t *a, const uint16_t *b, float *c, long ldc, float alpha,
                          float beta) {
    int direct = alpha == 1.0f && (beta == 0.0f || beta == 1.0f);
    float buffer[32 * 32] __attribute__((aligned(64)));
    float *out = direct ? c : buffer;
    long ld = direct ? ldc : 32;
    long stride = ld * (long)sizeof(float);
    if (direct && beta == 1.0f) {
        _tile_loadd(0, out, stride); _tile_loadd(1, out + 16, stride);
        _tile_loadd(2, out + 16 * ld, stride); _tile_loadd(3, out + 16 * ld + 16, stride);
    } else {
        _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);
    }
    for (long q = 0; q < chunks; q++) {
        _tile_loadd(4, a, 64); _tile_loadd(5, a + 512, 64);
        _tile_loadd(6, b, 64); _tile_loadd(7, b + 512, 64);
        _tile_dpbf16ps(0, 4, 6); _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6); _tile_dpbf16ps(3, 5, 7);
        a += 1024; b += 1024;
    }
    _tile_stored(0, out, stride); _tile_stored(1, out + 16, stride);
    _tile_stored(2, out + 16 * ld, stride); _tile_stored(3, out + 16 * ld + 16, stride);
    if (direct) return;
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    for (long i = 0; i < 32; i++)
        for (long j = 0; j < 32; j += 16) {
            __m512 v = _mm512_mul_ps(va, _mm512_load_ps(buffer + i * 32 + j));
            if (beta != 0.0f) v = _mm512_fmadd_ps(vb, _mm512_loadu_ps(c + i * ldc + j), v);
            _mm512_storeu_ps(c + i * ldc + j, v);
        }
}

#else

// No AMX off x86-64 Linux: init says no, so nothing below is ever called.
int lmt_amx_bf16_init(void) { return 0; }
void lmt_amx_begin(void) {}
void lmt_amx_end(void) {}
void lmt_bf16_pack_a(const float *a, long lda, int trans, long rows, long cols, uint16_t *dst) {}
void lmt_bf16_pack_b(const float *b, long ldb, int trans, long kc, long cols, uint16_t *dst) {}
void lmt_amx_kernel_32x32(long chunks, const uint16_t *a, const uint16_t *b, float *c, long ldc, float alpha,
                          float beta) {}

#endif
