"""Kernel benchmark: lmtrain's SGEMM, softmax and label-smoothed cross-entropy against numpy (OpenBLAS) on
the same shapes, in the same run, at 1 and 2 threads. Medians of --repeats timed calls after warm-up; each
lmtrain figure comes from a fresh `lmtrain bench …` process. Writes the kernels section of BENCHMARKS.md.

OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, which some machines set to work around old OpenBLAS bugs, slow a current
numpy down: they are removed for this process, and the kernel OpenBLAS then picks is recorded.
"""
import argparse
import os
import sys
import time

for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
    os.environ.pop(var, None)

import numpy as np  # noqa: E402
import threadpoolctl  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from bench_common import lmtrain_json, machine_line, median, write_section  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--repeats", type=int, default=15)
ap.add_argument("--quick", action="store_true", help="only the square shapes, for a smoke test")
args = ap.parse_args()

SQUARE = [(256, 256, 256), (512, 512, 512), (1024, 1024, 1024), (2048, 2048, 2048)]
TRANSFORMER = [(4096, 256, 768), (4096, 256, 1024), (4096, 1024, 256), (4096, 256, 8192)]
FORMS = [("A·B", False, False), ("Aᵀ·B", True, False), ("A·Bᵀ", False, True)]


def np_time(fn, repeats):
    for _ in range(3):
        fn()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return median(ts)


rng = np.random.default_rng(0)
blas = [d for d in threadpoolctl.threadpool_info() if d["internal_api"] == "openblas"]
blas_desc = f"OpenBLAS {blas[0]['version']} ({blas[0].get('architecture')} kernel)" if blas else "numpy BLAS"
from lmtrain_kernel import gemm_kernel_name  # noqa: E402  (tiny helper below, resolved through lmtrain)

rows = []
shapes = SQUARE[:2] if args.quick else SQUARE + TRANSFORMER
for (m, k, n) in shapes:
    forms = FORMS if (m, k, n) in TRANSFORMER or (m, k, n) == (1024, 1024, 1024) else FORMS[:1]
    for form, ta, tb in forms:
        a = rng.standard_normal((k, m) if ta else (m, k), dtype=np.float32)
        b = rng.standard_normal((n, k) if tb else (k, n), dtype=np.float32)
        A = a.T if ta else a
        B = b.T if tb else b
        out = np.empty((m, n), dtype=np.float32)
        flops = 2.0 * m * n * k
        for threads in (1, 2):
            with threadpoolctl.threadpool_limits(threads):
                t_np = np_time(lambda: np.matmul(A, B, out=out), args.repeats)
            cli = ["bench", "gemm", "--m", str(m), "--k", str(k), "--n", str(n), "--threads", str(threads),
                   "--repeats", str(args.repeats)] + (["--transpose-a"] if ta else []) + (["--transpose-b"] if tb else [])
            ours = lmtrain_json(cli)["gflops"]
            theirs = flops / t_np / 1e9
            rows.append((f"({m}×{k})·({k}×{n})", form, threads, ours, theirs))
            print(rows[-1], flush=True)

# Softmax and cross-entropy over 4096 × 8192: numpy as a user would write them, and the memory floor
# (one read + one write of the logits at the copy bandwidth measured here).
R, V = 4096, 8192
x = rng.standard_normal((R, V), dtype=np.float32)
y = np.empty_like(x)
targets = (np.arange(R) * 7919) % V
eps = 0.1


def np_softmax():
    e = np.exp(x - x.max(axis=1, keepdims=True))
    e /= e.sum(axis=1, keepdims=True)
    return e


def np_cross_entropy():
    m = x.max(axis=1, keepdims=True)
    e = np.exp(x - m)
    s = e.sum(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(s[:, 0])
    loss = (lse - (1 - eps) * x[np.arange(R), targets] - eps / V * x.sum(axis=1)).mean()
    g = e / s - eps / V
    g[np.arange(R), targets] -= 1 - eps
    g /= R
    return loss, g


extra = []
with threadpoolctl.threadpool_limits(1):
    t_copy = np_time(lambda: np.copyto(y, x), args.repeats)
    t_sm = np_time(np_softmax, max(3, args.repeats // 3))
    t_ce = np_time(np_cross_entropy, max(3, args.repeats // 3))
floor_ms = t_copy * 1e3
for threads in (1, 2):
    sm = lmtrain_json(["bench", "softmax", "--rows", str(R), "--cols", str(V), "--threads", str(threads), "--repeats", str(args.repeats)])
    ce = lmtrain_json(["bench", "cross-entropy", "--rows", str(R), "--vocab", str(V), "--threads", str(threads), "--repeats", str(args.repeats)])
    extra.append(("softmax", threads, sm["ms"], t_sm * 1e3))
    extra.append(("label-smoothed cross-entropy, forward + gradient", threads, ce["ms"], t_ce * 1e3))

table = ["| product | form | threads | lmtrain GFLOP/s | numpy GFLOP/s | ratio |", "|---|---|---|---|---|---|"]
for shape, form, threads, ours, theirs in rows:
    table.append(f"| {shape} | {form} | {threads} | {ours:.1f} | {theirs:.1f} | {ours / theirs:.2f}× |")
table2 = ["| kernel (4096 × 8192) | threads | lmtrain ms | numpy ms (1 thread) | vs numpy | vs memory floor |",
          "|---|---|---|---|---|---|"]
for name, threads, ours, theirs in extra:
    table2.append(f"| {name} | {threads} | {ours:.1f} | {theirs:.1f} | {theirs / ours:.1f}× faster | {ours / floor_ms:.2f}× floor |")

md = f"""## Kernels

Command: `scripts/bench kernels` (runs `scripts/bench_kernels.py --repeats {args.repeats}`)

Machine: {machine_line()}. Reference: numpy {np.__version__} with {blas_desc}, thread count set with
threadpoolctl. lmtrain GEMM micro-kernel: `{gemm_kernel_name()}` (chosen at run time by CPUID). Medians of
{args.repeats} timed calls after warm-up; ratio = lmtrain / numpy (above 1: lmtrain faster). Aᵀ·B means A is
stored k×m; A·Bᵀ means B is stored n×k (both read in place, no transposed copy).

{chr(10).join(table)}

Memory floor for one read and one write of the 128 MiB logits: {floor_ms:.1f} ms (numpy copy, measured in this
run). numpy needs several passes and temporaries for each.

{chr(10).join(table2)}
"""
print(md)
write_section("kernels", md)
