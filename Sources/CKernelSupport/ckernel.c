#include "ckernel.h"

#include <sched.h>
#include <sys/resource.h>
#include <time.h>
#if defined(__linux__)
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

int64_t lmt_now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

int64_t lmt_involuntary_switches(void) {
    struct rusage u;
    return getrusage(RUSAGE_SELF, &u) == 0 ? (int64_t)u.ru_nivcsw : 0;
}

// The sleeper count is raised before the futex compares ev[0] with seq, and a signaller bumps ev[0] before
// it reads the count (all sequentially consistent): either the signaller sees the sleeper and wakes it, or
// the sleeper's futex sees the bumped sequence and returns at once. No wake-up is lost.
void lmt_event_sleep(int32_t *ev, int32_t seq) {
    __atomic_add_fetch(ev + 1, 1, __ATOMIC_SEQ_CST);
#if defined(__linux__)
    syscall(SYS_futex, ev, FUTEX_WAIT_PRIVATE, seq, NULL, NULL, 0);
#else
    if (__atomic_load_n(ev, __ATOMIC_SEQ_CST) == seq) sched_yield();
#endif
    __atomic_sub_fetch(ev + 1, 1, __ATOMIC_SEQ_CST);
}

void lmt_event_signal(int32_t *ev) {
    __atomic_add_fetch(ev, 1, __ATOMIC_SEQ_CST);
#if defined(__linux__)
    if (__atomic_load_n(ev + 1, __ATOMIC_SEQ_CST) != 0) syscall(SYS_futex, ev, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
#endif
}

#if defined(__x86_64__)
#include <immintrin.h>

// GEMM packing with AVX2 in-register transposes. Packing reorders a block of a row-major matrix so the
// micro-kernel reads it contiguously; when the block's rows must become columns (op(A) = A, op(B) = Bᵀ) a
// scalar loop does one strided load and store per float, a few percent of a training step at d = 256.
// Compiled for AVX2 function by function (the target attribute): the rest of this file has no CPU flags, and
// AVX2 + FMA is the baseline lmtrain requires anyway.

/// Columns p..p+7 of rows r..r+7: eight loads, 24 shuffles, eight stores into dst[(p + j) * ld + r].
__attribute__((target("avx2"))) static inline void transpose8x8(const float *src, long lds, float *dst, long ldd) {
    __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + lds);
    __m256 r2 = _mm256_loadu_ps(src + 2 * lds), r3 = _mm256_loadu_ps(src + 3 * lds);
    __m256 r4 = _mm256_loadu_ps(src + 4 * lds), r5 = _mm256_loadu_ps(src + 5 * lds);
    __m256 r6 = _mm256_loadu_ps(src + 6 * lds), r7 = _mm256_loadu_ps(src + 7 * lds);
    // Pairs of rows interleaved, then quadruples, then the 128-bit halves swapped across.
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0)), s1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 s2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0)), s3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 s4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0)), s5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 s6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0)), s7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
    _mm256_storeu_ps(dst, _mm256_permute2f128_ps(s0, s4, 0x20));
    _mm256_storeu_ps(dst + ldd, _mm256_permute2f128_ps(s1, s5, 0x20));
    _mm256_storeu_ps(dst + 2 * ldd, _mm256_permute2f128_ps(s2, s6, 0x20));
    _mm256_storeu_ps(dst + 3 * ldd, _mm256_permute2f128_ps(s3, s7, 0x20));
    _mm256_storeu_ps(dst + 4 * ldd, _mm256_permute2f128_ps(s0, s4, 0x31));
    _mm256_storeu_ps(dst + 5 * ldd, _mm256_permute2f128_ps(s1, s5, 0x31));
    _mm256_storeu_ps(dst + 6 * ldd, _mm256_permute2f128_ps(s2, s6, 0x31));
    _mm256_storeu_ps(dst + 7 * ldd, _mm256_permute2f128_ps(s3, s7, 0x31));
}

/// Columns p..p+3 of rows r..r+3 (SSE).
__attribute__((target("avx2"))) static inline void transpose4x4(const float *src, long lds, float *dst, long ldd) {
    __m128 r0 = _mm_loadu_ps(src), r1 = _mm_loadu_ps(src + lds), r2 = _mm_loadu_ps(src + 2 * lds), r3 = _mm_loadu_ps(src + 3 * lds);
    _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
    _mm_storeu_ps(dst, r0); _mm_storeu_ps(dst + ldd, r1); _mm_storeu_ps(dst + 2 * ldd, r2); _mm_storeu_ps(dst + 3 * ldd, r3);
}

__attribute__((target("avx2")))
void lmt_pack_transposed(const float *src, long lds, long rows, long cols, long width, float *dst) {
    long r = 0;
    // Eight rows at a time, eight columns per transpose; the last columns one by one.
    for (; r + 8 <= rows; r += 8) {
        long p = 0;
        for (; p + 8 <= cols; p += 8) transpose8x8(src + r * lds + p, lds, dst + p * width + r, width);
        for (; p < cols; p++)
            for (long i = 0; i < 8; i++) dst[p * width + r + i] = src[(r + i) * lds + p];
    }
    for (; r + 4 <= rows; r += 4) {
        long p = 0;
        for (; p + 4 <= cols; p += 4) transpose4x4(src + r * lds + p, lds, dst + p * width + r, width);
        for (; p < cols; p++)
            for (long i = 0; i < 4; i++) dst[p * width + r + i] = src[(r + i) * lds + p];
    }
    for (; r < rows; r++)
        for (long p = 0; p < cols; p++) dst[p * width + r] = src[r * lds + p];
    for (long p = 0; p < cols; p++)
        for (long i = rows; i < width; i++) dst[p * width + i] = 0;
}

__attribute__((target("avx2")))
void lmt_pack_rows(const float *src, long lds, long rows, long cols, long width, float *dst) {
    if (cols == 12 && width == 12) {
        for (long p = 0; p < rows; p++) {
            _mm256_storeu_ps(dst + p * 12, _mm256_loadu_ps(src + p * lds));
            _mm_storeu_ps(dst + p * 12 + 8, _mm_loadu_ps(src + p * lds + 8));
        }
        return;
    }
    for (long p = 0; p < rows; p++) {
        long j = 0;
        for (; j + 8 <= cols; j += 8) _mm256_storeu_ps(dst + p * width + j, _mm256_loadu_ps(src + p * lds + j));
        for (; j < cols; j++) dst[p * width + j] = src[p * lds + j];
        for (; j < width; j++) dst[p * width + j] = 0;
    }
}

#else

// Other architectures: the same packings as plain loops.
void lmt_pack_transposed(const float *src, long lds, long rows, long cols, long width, float *dst) {
    for (long p = 0; p < cols; p++)
        for (long i = 0; i < width; i++) dst[p * width + i] = i < rows ? src[i * lds + p] : 0;
}

void lmt_pack_rows(const float *src, long lds, long rows, long cols, long width, float *dst) {
    for (long p = 0; p < rows; p++)
        for (long j = 0; j < width; j++) dst[p * width + j] = j < cols ? src[p * lds + j] : 0;
}

#endif
