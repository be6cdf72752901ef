"""bf16 matrix products: lmtrain's `--matmul-precision bf16` GEMM (operands rounded to bfloat16 as they are
packed, FP32 sums) against its own FP32 GEMM and against PyTorch's bf16 matmul (oneDNN) on the same shapes, in
the same run, at 1 and 2 threads. PyTorch multiplies bf16 tensors (converted before timing) and returns bf16;
lmtrain takes and returns FP32, its conversion inside the timed call. Medians of --repeats timed calls after
warm-up. Writes the section gemm-bf16-<cpu family> of BENCHMARKS.md (only where the CPU has a bf16 kernel).
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from bench_common import cpu_slug, lmtrain_json, machine_line, median, write_section  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--repeats", type=int, default=15)
ap.add_argument("--print-only", action="store_true")
args = ap.parse_args()

import torch  # noqa: E402

# The products of a training step of the translation model (d 256, FFN 1024, 8k vocabulary, ~1k-token batches)
# and of config A, and a square one.
SHAPES = [(1024, 256, 1024, "FFN up, batch 1k"), (1024, 1024, 256, "FFN down"), (1024, 256, 8000, "output projection"),
          (4096, 256, 1024, "FFN up, batch 4k"), (4096, 256, 8192, "output projection, batch 4k"),
          (1024, 1024, 1024, "square")]


def torch_gflops(m, k, n, threads):
    torch.set_num_threads(threads)
    a = torch.randn(m, k).to(torch.bfloat16)
    b = torch.randn(k, n).to(torch.bfloat16)
    for _ in range(3):
        torch.matmul(a, b)
    ts = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        torch.matmul(a, b)
        ts.append(time.perf_counter() - t0)
    return 2.0 * m * n * k / median(ts) / 1e9


def main():
    probe = lmtrain_json(["bench", "gemm", "--m", "64", "--k", "64", "--n", "64", "--repeats", "1", "--warmup", "0",
                          "--matmul-precision", "bf16"])
    kernel = probe["kernel_variant"]
    rows = []
    for m, k, n, what in SHAPES:
        for threads in (1, 2):
            ours = {p: lmtrain_json(["bench", "gemm", "--m", str(m), "--k", str(k), "--n", str(n), "--threads", str(threads),
                                     "--repeats", str(args.repeats), "--matmul-precision", p])["gflops"] for p in ("fp32", "bf16")}
            theirs = torch_gflops(m, k, n, threads)
            rows.append((m, k, n, what, threads, ours["fp32"], ours["bf16"], theirs))
            print(rows[-1], flush=True)
    table = ["| product (m·k·n) | what | threads | lmtrain fp32 GFLOP/s | lmtrain bf16 GFLOP/s | bf16 / fp32 | PyTorch bf16 GFLOP/s | lmtrain bf16 / PyTorch |",
             "|---|---|---|---|---|---|---|---|"]
    for m, k, n, what, t, f32, b16, pt in rows:
        table.append(f"| {m}·{k}·{n} | {what} | {t} | {f32:.0f} | {b16:.0f} | {b16 / f32:.2f}× | {pt:.0f} | {b16 / pt:.2f}× |")
    md = f"""## bf16 matrix products ({cpu_slug()})

Command: `scripts/bench gemm-bf16` (runs `scripts/bench_gemm_bf16.py --repeats {args.repeats}`)

Machine: {machine_line()}. lmtrain bf16 kernel: `{kernel}` (chosen at run time by CPUID). Reference: PyTorch
{torch.__version__} `torch.matmul` on bf16 tensors (oneDNN), thread count set with torch.set_num_threads. lmtrain
takes FP32 operands and rounds them to bf16 while packing, inside the timed call; PyTorch's operands are bf16
before timing. Medians of {args.repeats} timed calls after 3 warm-up calls.

{chr(10).join(table)}
"""
    print(md)
    if not args.print_only:
        write_section(f"gemm-bf16-{cpu_slug()}", md, beside="gemm-bf16-")


if __name__ == "__main__":
    main()
