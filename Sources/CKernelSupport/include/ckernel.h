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

/// AMX-BF16 matrix products (amx_bf16.c). `lmt_amx_bf16_init` returns 1 when this CPU has AMX-TILE, AMX-BF16
/// and AVX512-BF16 and the OS granted the tile state (call it before any other function here, once).
int lmt_amx_bf16_init(void);
/// Loads the tile configuration on the calling thread (before its kernel calls) and releases it.
void lmt_amx_begin(void);
void lmt_amx_end(void);
/// One A sliver: op(A)[0..<rows, 0..<cols] (rows ≤ 32) as bf16 tiles [ceil(cols/32)][32][32], zero-padded.
/// a: op(A)'s first element; op(A)[i][p] = trans ? a[p * lda + i] : a[i * lda + p].
void lmt_bf16_pack_a(const float *a, long lda, int trans, long rows, long cols, uint16_t *dst);
/// One B sliver: op(B)[0..<kc, 0..<cols] (cols ≤ 32) as bf16 VNNI tiles [ceil(kc/32)][2][16][16][2].
/// op(B)[p][j] = trans ? b[j * ldb + p] : b[p * ldb + j].
void lmt_bf16_pack_b(const float *b, long ldb, int trans, long kc, long cols, uint16_t *dst);
/// C[32×32] = α·A·B + β·C over `chunks` packed k chunks (β = 0 never reads C); c has row stride ldc.
void lmt_amx_kernel_32x32(long chunks, const uint16_t *a, const uint16_t *b, float *c, long ldc, float alpha,
                          float beta);

/// BF16 products with AVX512-BF16's VDPBF16PS (avx512_bf16.c), where the CPU has it but may lack AMX.
/// `lmt_cpu_has_avx512_bf16` returns 1 when this CPU has AVX-512 F, BW, VL and BF16.
int lmt_cpu_has_avx512_bf16(void);
/// C[32×32] = α·A·B + β·C over one A sliver and one B sliver packed by lmt_bf16_pack_a / lmt_bf16_pack_b,
/// kc deep (β = 0 never reads C); c has row stride ldc.
void lmt_avx512_bf16_kernel_32x32(long kc, const uint16_t *a, const uint16_t *b, float *c, long ldc, float alpha,
                                  float beta);

/// Int8 products for inference (int8_gemm.c): activations quantised per row, weights per column, sums in int32.
/// `lmt_cpu_has_avx512_vnni` returns 1 when this CPU has AVX-512 F, BW, VL and VNNI.
int lmt_cpu_has_avx512_vnni(void);
/// Quantises rows 0..<rows (≤ 12) of a [rows, k] matrix (row stride lda) to one packed A sliver
/// [ceil(k/4)][12][4] of uint8 codes (q + 128) and writes each row's scale (max|row| / 127).
void lmt_int8_pack_a(const float *a, long lda, long rows, long k, uint8_t *dst, float *scales);
/// C[rows × cols] = (sa_i · sb_j) · (Σ ua·qb − comp_j) + bias_j for one A sliver (rows ≤ 12) and one B sliver
/// [quads][32][4] (cols ≤ 32); sb, comp: the sliver's 32 column scales and compensations; bias NULL or [cols].
void lmt_int8_kernel_avx512vnni(long quads, long rows, long cols, const uint8_t *a, const int8_t *b, const float *sa,
                                const float *sb, const int32_t *comp, const float *bias, float *c, long ldc);
/// The same with AVX2 (no VNNI), bitwise equal results.
void lmt_int8_kernel_avx2(long quads, long rows, long cols, const uint8_t *a, const int8_t *b, const float *sa,
                          const float *sb, const int32_t *comp, const float *bias, float *c, long ldc);

static inline int64_t lmt_load(const int64_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void lmt_store(int64_t *p, int64_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static inline int64_t lmt_add(int64_t *p, int64_t v) { return __atomic_add_fetch(p, v, __ATOMIC_ACQ_REL); }

/// Monotonic time in nanoseconds (clock_gettime through the vDSO: tens of nanoseconds), for bounding spins.
int64_t lmt_now_ns(void);
/// How many times the kernel has preempted this process's threads so far (getrusage's ru_nivcsw): it grows
/// fast only when other work competes for the cores.
int64_t lmt_involuntary_switches(void);

/// Sleeping for the worker pool's waits, so a thread whose partner was preempted (another process on the
/// cores) gives its core up instead of spinning through the partner's time slice. An event is two int32:
/// ev[0] a sequence number every signal bumps, ev[1] the number of threads asleep on it (a signal with none
/// asleep makes no system call). Waiter: seq = lmt_event_seq(ev); re-check the condition; lmt_event_sleep(ev,
/// seq), which returns at once if a signal came after seq was read. Signaller: make the condition true, then
/// lmt_event_signal(ev). Linux futexes; elsewhere sleep yields the core instead.
static inline int32_t lmt_event_seq(const int32_t *ev) { return __atomic_load_n(ev, __ATOMIC_SEQ_CST); }
void lmt_event_sleep(int32_t *ev, int32_t seq);
void lmt_event_signal(int32_t *ev);

#endif
