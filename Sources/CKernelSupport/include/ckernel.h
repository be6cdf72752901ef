// What Swift cannot say itself, for the kernels: a prefetch hint.
#ifndef LMTRAIN_CKERNEL_H
#define LMTRAIN_CKERNEL_H

static inline void lmt_prefetch_write(const void *p) { __builtin_prefetch(p, 1, 3); }
static inline void lmt_prefetch_read(const void *p) { __builtin_prefetch(p, 0, 3); }

#endif
