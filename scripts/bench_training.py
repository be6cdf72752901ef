"""Training speed and memory: lmtrain vs the same GPT in PyTorch (eager, CPU), in one run.

Config A: V 8192, d 256, L 4, H 4, T 128, B 16.  Config B: V 8192, d 512, L 6, H 8, T 128, B 8.
PyTorch model: pre-LN GPT with learned positions, GELU (tanh), tied embeddings, scaled_dot_product_attention
(causal), AdamW, cross_entropy(label_smoothing=0.1), gradient clipping; dropout 0 on both sides.
Each measurement runs in a fresh process (so its peak RSS is its own): median step time over --repeats steps
after warm-up. Writes the training section of BENCHMARKS.md for this CPU family (training-amd-zen4, ...), so
the figures of each machine the project meets stay side by side.

Two precisions, each against its PyTorch counterpart: FP32 (both sides plain FP32), and, where the CPU has
AVX512-BF16 or AMX-BF16, lmtrain's `--matmul-precision bf16` (matrix-product operands rounded to bfloat16, FP32
sums; all else FP32) against PyTorch under torch.autocast("cpu", dtype=torch.bfloat16), which runs its matrix
products in bf16 through oneDNN on the same units (and keeps more in bf16 besides).
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

CONFIGS = {"A": dict(V=8192, d=256, L=4, H=4, T=128, B=16), "B": dict(V=8192, d=512, L=6, H=8, T=128, B=8)}


def torch_worker(cfg, threads, repeats, precision):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    V, d, L, H, T, B = (cfg[k] for k in "VdLHTB")

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1, self.ln_2 = nn.LayerNorm(d), nn.LayerNorm(d)
            self.c_attn, self.c_proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
            self.c_fc, self.mlp_proj = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

        def forward(self, x):
            q, k, v = self.c_attn(self.ln_1(x)).split(d, dim=2)
            q, k, v = (t.view(B, T, H, d // H).transpose(1, 2) for t in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, d)
            x = x + self.c_proj(y)
            return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte, self.wpe = nn.Embedding(V, d), nn.Embedding(T, d)
            self.h = nn.ModuleList(Block() for _ in range(L))
            self.ln_f = nn.LayerNorm(d)

        def forward(self, idx):
            x = self.wte(idx) + self.wpe(torch.arange(T))
            for b in self.h:
                x = b(x)
            return self.ln_f(x) @ self.wte.weight.T

    model = GPT()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.1, betas=(0.9, 0.95))
    idx = torch.randint(0, V, (B, T))
    tgt = torch.randint(0, V, (B, T))

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            logits = model(idx)
        loss = F.cross_entropy(logits.float().view(-1, V), tgt.view(-1), label_smoothing=0.1)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    for _ in range(3):
        step()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        ts.append(time.perf_counter() - t0)
    ts.sort()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"train_tokens_per_s": B * T / ts[len(ts) // 2], "peak_rss_mb": rss,
                      "params": sum(p.numel() for p in model.parameters()), "torch": torch.__version__}))


def run_torch(name, threads, repeats, precision):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, __file__, "--worker", name, str(threads), str(repeats), precision], env=env,
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--worker", nargs=4)
    ap.add_argument("--print-only", action="store_true", help="print the table; leave BENCHMARKS.md as it is")
    args = ap.parse_args()
    if args.worker:
        name, threads, repeats, precision = args.worker
        torch_worker(CONFIGS[name], int(threads), int(repeats), precision)
        return
    from bench_common import LMTRAIN, cpu_slug, lmtrain_json, machine_line, write_section
    # bf16 rows only where lmtrain can run them (AVX512-BF16 or AMX-BF16); elsewhere the FP32 rows alone.
    probe = subprocess.run([LMTRAIN, "bench", "train", "--d-model", "32", "--layers", "1", "--heads", "1", "--vocab-size", "300",
                    "--context", "8", "--batch-size", "1", "--repeats", "1", "--warmup", "0", "--matmul-precision", "bf16"],
                   capture_output=True, text=True)
    precisions = ["fp32", "bf16"] if probe.returncode == 0 else ["fp32"]
    rows = []
    for precision in precisions:
        for name, c in CONFIGS.items():
            for threads in (1, 2):
                ours = lmtrain_json(["bench", "train", "--vocab-size", str(c["V"]), "--d-model", str(c["d"]), "--layers", str(c["L"]),
                                     "--heads", str(c["H"]), "--context", str(c["T"]), "--batch-size", str(c["B"]),
                                     "--threads", str(threads), "--repeats", str(args.repeats), "--matmul-precision", precision])
                theirs = run_torch(name, threads, args.repeats, precision)
                rows.append((precision, name, threads, ours, theirs))
                print(precision, name, threads, ours, theirs, flush=True)
    table = ["| precision | config | threads | lmtrain tok/s | PyTorch tok/s | speed ratio | lmtrain model GFLOP/s | lmtrain peak RSS | PyTorch peak RSS | RSS ratio |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for precision, name, threads, o, t in rows:
        label = "FP32" if precision == "fp32" else "bf16 (PyTorch: autocast)"
        table.append(f"| {label} | {name} | {threads} | {o['train_tokens_per_s']:,.0f} | {t['train_tokens_per_s']:,.0f} | "
                     f"{o['train_tokens_per_s'] / t['train_tokens_per_s']:.2f}× | {o['gflops']:.0f} GFLOP/s | "
                     f"{o['peak_rss_mb']:.0f} MB | {t['peak_rss_mb']:.0f} MB | {o['peak_rss_mb'] / t['peak_rss_mb']:.2f}× |")
    torch_version = rows[0][4]["torch"]
    kernel = lmtrain_json(["bench", "gemm", "--m", "64", "--k", "64", "--n", "64", "--repeats", "1", "--warmup", "0",
                           "--matmul-precision", "bf16"])["kernel_variant"] if "bf16" in precisions else None
    bf16_units = {"amx-bf16-32x32": "AMX tiles", "avx512-bf16-32x32": "AVX512-BF16 (`vdpbf16ps`)"}.get(kernel, kernel)
    md = f"""## Language-model training speed ({cpu_slug()})

Command: `scripts/bench training` (runs `scripts/bench_training.py --repeats {args.repeats}`)

Machine: {machine_line()}. Reference: PyTorch {torch_version} (eager, CPU) with the same model (pre-LN GPT,
learned positions, GELU tanh, tied embeddings, SDPA causal attention, AdamW, cross_entropy with
label_smoothing=0.1, clipping; dropout 0), thread count set with torch.set_num_threads. Each figure is the
median step time over {args.repeats} steps after 3 warm-up steps, in a fresh process (peak RSS is that process's
maximum resident set). Config A: V 8192, d 256, 4 layers, 4 heads, T 128, B 16 (5.3 M parameters);
config B: V 8192, d 512, 6 layers, 8 heads, T 128, B 8 (23.2 M). "Model GFLOP/s" counts
6 FLOPs per parameter per token plus attention (6·L·T·d); as a utilisation, compare it with the GEMM rates of the
kernels section measured on the same CPU family.
bf16 rows (where the CPU has AVX512-BF16 or AMX-BF16): lmtrain `--matmul-precision bf16` (operands of every large
matrix product rounded to bfloat16 as they are packed, sums in FP32, here on {bf16_units}; weights, activations,
loss and optimizer FP32) against PyTorch with the forward under `torch.autocast("cpu", dtype=torch.bfloat16)`
(its matrix products in bf16 through oneDNN; the loss in FP32).

{chr(10).join(table)}
"""
    print(md)
    if not args.print_only:
        write_section(f"training-{cpu_slug()}", md, beside="training-")


if __name__ == "__main__":
    main()
