// What Swift cannot say itself, for the kernels: prefetch hints, a spin-wait pause, atomics on plain
// integers (the worker pool's generation counter and barrier), without a package dependency, and the GEMM
// packing loops, which need shuffles Swift's SIMD types do not expose.
#ifndef LMTRAIN_CKERNEL_H
#define LMTRAIN_CKERNEL_H

#include <stdint.h>

static inline void lmt_prefetch_write(const void *p) { __builtin_prefetch(p, 1, 3); }
static inline void lmt_prefetch_read(const void *p) { __builtin_prefetch(p, 0, 3); }

static inline void lmt_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/// Whether this CPU (and OS) can run code compiled for skylake-avx512 (AVX-512 F, CD, BW, DQ and VL), the
/// target of the AVX-512 GEMM micro-kernel, which is chosen at run time.
static inline int lmt_cpu_has_avx512_skylake(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vl");
#else
    return 0;
#endif
}

/// GEMM packing, vectorised (AVX2 transposes) in ckernel.c; Gemm.swift keeps the scalar loops they replace as
/// the reference its tests compare with.
/// dst[p * width + i] = src[i * lds + p] for i < rows, 0 for rows ≤ i < width; p < cols.
/// src: [rows, lds] row-major; dst: [cols, width].
void lmt_pack_transposed(const float *src, long lds, long rows, long cols, long width, float *dst);
/// dst[p * width + j] = src[p * lds + j] for j < cols, 0 for cols ≤ j < width; p < rows.
/// src: [rows, lds] row-major; dst: [rows, width].
void lmt_pack_rows(const float *src, long lds, long rows, long cols, long width, float *dst);

static inline int64_t lmt_load(const int64_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void lmt_store(int64_t *p, int64_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static inline int64_t lmt_add(int64_t *p, int64_t v) { return __atomic_add_fetch(p, v, __ATOMIC_ACQ_REL); }

#endif
