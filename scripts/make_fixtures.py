"""PyTorch reference values for the kernel tests (Tests/KernelsTests/Fixtures/*.json).

Cross-entropy: V in {5, 7, 11} (small enough that the three smoothing conventions differ visibly), several ε,
one ignored row per case. `uniform` is F.cross_entropy(label_smoothing=ε, ignore_index=-100) itself; fairseq
and prior are the same loss written with their explicit target distributions q (−Σ q·log_softmax), so autograd
gives their gradients. Gradients are of the mean over counted rows.
"""
import json
import os

import torch
import torch.nn.functional as F

torch.manual_seed(20261130)
OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "KernelsTests", "Fixtures")
os.makedirs(OUT, exist_ok=True)


def floats(t):
    return [float(x) for x in t.detach().reshape(-1).tolist()]


cases = []
for V in (5, 7, 11):
    for eps in (0.0, 0.1, 0.25):
        for style in ("uniform", "fairseq", "prior"):
            rows = 6
            z = (torch.randn(rows, V) * 3).requires_grad_(True)
            y = torch.randint(0, V, (rows,))
            y[2] = -100
            u = torch.rand(V) + 0.05
            u = u / u.sum()
            keep = y != -100
            logp = F.log_softmax(z, dim=-1)
            if style == "uniform":
                loss_mean = F.cross_entropy(z, y, label_smoothing=eps, ignore_index=-100, reduction="mean")
                loss_sum = F.cross_entropy(z, y, label_smoothing=eps, ignore_index=-100, reduction="sum")
            else:
                yk = y.clamp(min=0)
                onehot = F.one_hot(yk, V).float()
                if style == "fairseq":
                    q = onehot * (1 - eps) + (1 - onehot) * (eps / (V - 1))
                else:
                    q = onehot * (1 - eps) + eps * u.unsqueeze(0)
                per_row = -(q * logp).sum(-1) * keep
                loss_sum = per_row.sum()
                loss_mean = loss_sum / keep.sum()
            nll_sum = F.nll_loss(logp, y, ignore_index=-100, reduction="sum")
            (grad,) = torch.autograd.grad(loss_mean, z)
            cases.append({
                "vocab": V, "rows": rows, "smoothing": eps, "style": style,
                "logits": floats(z), "targets": [int(t) for t in y], "prior": floats(u),
                "loss_sum": float(loss_sum.detach()), "nll_sum": float(nll_sum.detach()), "count": int(keep.sum()),
                "grad_mean": floats(grad),
            })

# LayerNorm and GELU (tanh) forward/backward, for the same conventions in the model later.
N, C = 5, 13
x = (torch.randn(N, C) * 2 + 1).requires_grad_(True)
w = torch.randn(C).requires_grad_(True)
b = torch.randn(C).requires_grad_(True)
dy = torch.randn(N, C)
ln = F.layer_norm(x, (C,), w, b, eps=1e-5)
dx, dw, db = torch.autograd.grad(ln, (x, w, b), dy)
layer_norm = {"N": N, "C": C, "x": floats(x), "weight": floats(w), "bias": floats(b), "dout": floats(dy),
              "out": floats(ln), "dx": floats(dx), "dweight": floats(dw), "dbias": floats(db)}

g = (torch.randn(97) * 3).requires_grad_(True)
gy = F.gelu(g, approximate="tanh")
gd = torch.randn(97)
(gdx,) = torch.autograd.grad(gy, g, gd)
gelu = {"x": floats(g), "out": floats(gy), "dout": floats(gd), "dx": floats(gdx)}

# AdamW: five steps with PyTorch's optimizer on fixed gradients.
p = torch.randn(37, requires_grad=True)
p0 = floats(p)
opt = torch.optim.AdamW([p], lr=3e-3, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
grads = []
for _ in range(5):
    gr = torch.randn(37)
    grads.append(floats(gr))
    p.grad = gr
    opt.step()
adamw = {"lr": 3e-3, "beta1": 0.9, "beta2": 0.95, "eps": 1e-8, "weight_decay": 0.1, "params": p0,
         "grads": grads, "after": floats(p)}

meta = {"generator": "scripts/make_fixtures.py", "torch": torch.__version__}
with open(os.path.join(OUT, "cross_entropy.json"), "w") as f:
    json.dump({"meta": meta, "cases": cases}, f)
with open(os.path.join(OUT, "layers.json"), "w") as f:
    json.dump({"meta": meta, "layer_norm": layer_norm, "gelu": gelu, "adamw": adamw}, f)
print(f"wrote {len(cases)} cross-entropy cases, layer_norm, gelu, adamw to {os.path.normpath(OUT)}")
