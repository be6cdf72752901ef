"""PyTorch reference for the GPT model tests (Tests/ModelTests/Fixtures/gpt_tiny.safetensors).

A tiny GPT (V 61, context 8, d 16, 2 layers, 2 heads, batch 2, dropout 0) built with lmtrain's exact
conventions: pre-LN blocks, learned positions, GELU (tanh), tied embeddings, matrices stored [in, out]
(GPT-2's Conv1D), LayerNorm eps 1e-5, loss F.cross_entropy(label_smoothing=0.1, ignore_index=-100).
Stores the weights, inputs, logits, loss, every parameter's gradient, and the losses of ten AdamW steps
(lr 1e-3, betas 0.9/0.95, eps 1e-8, weight decay 0.1 on matrices only).
"""
import json
import math
import os
import struct

import numpy as np
import torch
import torch.nn.functional as F

torch.manual_seed(7)
V, T, C, L, H, B = 61, 8, 16, 2, 2, 2
hs = C // H
names = [("wte.weight", (V, C)), ("wpe.weight", (T, C))]
for l in range(L):
    names += [(f"h.{l}.ln_1.weight", (C,)), (f"h.{l}.ln_1.bias", (C,)),
              (f"h.{l}.attn.c_attn.weight", (C, 3 * C)), (f"h.{l}.attn.c_attn.bias", (3 * C,)),
              (f"h.{l}.attn.c_proj.weight", (C, C)), (f"h.{l}.attn.c_proj.bias", (C,)),
              (f"h.{l}.ln_2.weight", (C,)), (f"h.{l}.ln_2.bias", (C,)),
              (f"h.{l}.mlp.c_fc.weight", (C, 4 * C)), (f"h.{l}.mlp.c_fc.bias", (4 * C,)),
              (f"h.{l}.mlp.c_proj.weight", (4 * C, C)), (f"h.{l}.mlp.c_proj.bias", (C,))]
names += [("ln_f.weight", (C,)), ("ln_f.bias", (C,))]
P = {}
for n, shape in names:
    if len(shape) == 2:
        t = torch.randn(shape) * 0.3
    elif n.endswith("ln_1.weight") or n.endswith("ln_2.weight") or n == "ln_f.weight":
        t = 1 + 0.1 * torch.randn(shape)
    else:
        t = 0.1 * torch.randn(shape)
    P[n] = t.requires_grad_(True)

ids = torch.randint(0, V, (B, T))
targets = torch.randint(0, V, (B, T))
targets[1, 3] = -100


def forward(P, ids):
    x = P["wte.weight"][ids] + P["wpe.weight"][:T]
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for l in range(L):
        p = lambda n: P[f"h.{l}.{n}"]  # noqa: E731
        h = F.layer_norm(x, (C,), p("ln_1.weight"), p("ln_1.bias"), eps=1e-5)
        qkv = h @ p("attn.c_attn.weight") + p("attn.c_attn.bias")
        q, k, v = qkv.split(C, dim=-1)
        q, k, v = (t.view(B, T, H, hs).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(hs)
        att = att.masked_fill(~mask, float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        x = x + y @ p("attn.c_proj.weight") + p("attn.c_proj.bias")
        h = F.layer_norm(x, (C,), p("ln_2.weight"), p("ln_2.bias"), eps=1e-5)
        f = F.gelu(h @ p("mlp.c_fc.weight") + p("mlp.c_fc.bias"), approximate="tanh")
        x = x + f @ p("mlp.c_proj.weight") + p("mlp.c_proj.bias")
    x = F.layer_norm(x, (C,), P["ln_f.weight"], P["ln_f.bias"], eps=1e-5)
    return x @ P["wte.weight"].T


def loss_of(logits):
    return F.cross_entropy(logits.view(-1, V), targets.view(-1), label_smoothing=0.1, ignore_index=-100)


weights0 = {n: t.detach().clone() for n, t in P.items()}
logits = forward(P, ids)
loss = loss_of(logits)
nll = F.cross_entropy(logits.view(-1, V), targets.view(-1), ignore_index=-100)
grads = torch.autograd.grad(loss, [P[n] for n, _ in names])

# Ten AdamW steps from the same weights.
decay = [P[n] for n, s in names if len(s) == 2]
no_decay = [P[n] for n, s in names if len(s) != 2]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                        lr=1e-3, betas=(0.9, 0.95), eps=1e-8)
losses = []
for _ in range(10):
    opt.zero_grad()
    l_ = loss_of(forward(P, ids))
    losses.append(float(l_.detach()))
    l_.backward()
    opt.step()

tensors = [(n, weights0[n].numpy()) for n, _ in names]
tensors += [("input.ids", ids.numpy().astype(np.int32)), ("input.targets", targets.numpy().astype(np.int32)),
            ("expected.logits", logits.detach().numpy()), ("expected.loss", np.array([float(loss.detach())], np.float32)),
            ("expected.nll", np.array([float(nll.detach())], np.float32)),
            ("expected.adamw_losses", np.array(losses, np.float32))]
tensors += [("grad." + n, g.numpy()) for (n, _), g in zip(names, grads)]

header, blobs, off = {}, [], 0
for n, a in tensors:
    a = np.ascontiguousarray(a)
    dt = "I32" if a.dtype == np.int32 else "F32"
    a = a.astype(np.int32 if dt == "I32" else np.float32)
    header[n] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
    blobs.append(a.tobytes())
    off += a.nbytes
header["__metadata__"] = {"generator": "scripts/make_model_fixture.py", "torch": torch.__version__,
                          "config": json.dumps({"vocab": V, "context": T, "d": C, "layers": L, "heads": H, "batch": B})}
h = json.dumps(header).encode()
h += b" " * ((8 - len(h) % 8) % 8)
out = os.path.join(os.path.dirname(__file__), "..", "Tests", "ModelTests", "Fixtures", "gpt_tiny.safetensors")
with open(out, "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
print(f"wrote {os.path.normpath(out)}: loss {float(loss):.6f}, adamw losses {losses[0]:.4f} -> {losses[-1]:.4f}")
