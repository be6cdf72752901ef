"""The library side of scripts/interop-check: given WORK (the runs, exports and lmtrain outputs the shell
script made), checks each export with the library that loads it and exits non-zero if any check fails.

  tokenizer     HF tokenizers on raw text gives lmtrain's ids on every bible test line (en and es, both
                tokenizers); the agreement on corpora/tiny (hard text) is reported, not required
  GPT-2         transformers' logits within 1e-4 of lmtrain's on real test windows; test perplexity, with
                HF's own tokenization, within 1e-4 relative of `lmtrain eval`
  M2M100        teacher-forced logits within 1e-4; generate(num_beams=1) gives `lmtrain translate --beam 1`'s
                text on >= 99% of test lines
  CTranslate2   Translator greedy == `lmtrain translate --beam 1` on >= 99% of lines, beam 4 BLEU within 0.2;
                Generator greedy continuations == `lmtrain generate --greedy` on >= 99% of prompts
Lengths follow lmtrain's defaults: a translation stops at min(max length, 1.5 * source tokens + 10) tokens,
EOS included (so at one token fewer without it, which is how transformers' max_new_tokens and CTranslate2's
max_decoding_length count), and sentences are decoded in groups of equal limits; pad, <bos> and <unk> are
never produced."""
import json
import math
import os
import sys
import time
from collections import defaultdict

import numpy as np
import sacrebleu
import torch
import ctranslate2
from safetensors.numpy import load_file
from tokenizers import Tokenizer
from transformers import AutoTokenizer, GPT2LMHeadModel, M2M100ForConditionalGeneration
from transformers.utils import logging as hf_logging

hf_logging.set_verbosity_error()
torch.set_grad_enabled(False)
W = sys.argv[1]
failures = []


START = time.time()


def check(ok, line):
    print(("ok    " if ok else "FAIL  ") + line + f"  [{time.time() - START:.0f} s]", flush=True)
    if not ok:
        failures.append(line)


def lines(path):
    with open(path, encoding="utf-8") as f:
        return f.read().split("\n")[:-1]


def lmtrain_ids(path):
    return [sum(json.loads(r)["ids"], []) for r in open(path, encoding="utf-8")]


def max_logit_error(ours, theirs, lengths):
    return max(float(np.abs(ours[i, :n] - theirs[i, :n]).max()) for i, n in enumerate(lengths))


# ---- tokenizer: HF tokenizers on raw text vs lmtrain's ids ----
def agreement(tok_json, text_path, ids_path):
    hf = Tokenizer.from_file(tok_json)
    text, ours = lines(text_path), lmtrain_ids(ids_path)
    same = sum(hf.encode(t, add_special_tokens=False).ids == o for t, o in zip(text, ours))
    return same, len(text), len(ours)


for name, tok, text, ids in [("translation tokenizer, test.en", "tr-hf", "test.en", "tr-ids.en.jsonl"),
                             ("translation tokenizer, test.es", "tr-hf", "test.es", "tr-ids.es.jsonl"),
                             ("LM tokenizer, web.en.test", "lm-hf", None, "lm-ids.jsonl")]:
    text_path = os.path.join(W, text) if text else os.path.join("corpora", "bible", "web.en.test.txt")
    same, n, m = agreement(os.path.join(W, tok, "tokenizer.json"), text_path, os.path.join(W, ids))
    check(n == m and n > 1000 and same == n, f"{name}: HF tokenizers gives lmtrain's ids on {same}/{n} lines")
same, n, _ = agreement(os.path.join(W, "tr-hf", "tokenizer.json"), "corpora/tiny/tiny.txt", os.path.join(W, "tiny-ids.jsonl"))
print(f"info  corpora/tiny (hard text): HF tokenizers agrees with lmtrain on {same}/{n} lines")

# ---- GPT-2 ----
gpt = GPT2LMHeadModel.from_pretrained(os.path.join(W, "lm-hf")).eval()
L = load_file(os.path.join(W, "lm-logits.safetensors"))
theirs = gpt(torch.from_numpy(L["input_ids"]).long()).logits.numpy()
err = max_logit_error(L["logits"], theirs, L["lengths"])
check(err < 1e-4, f"GPT-2: max |logit difference| {err:.2e} over {int(L['lengths'].sum())} positions (< 1e-4)")
# Perplexity of the test file, tokenized by HF, windows as `lmtrain eval` cuts them.
hf_lm_tok = AutoTokenizer.from_pretrained(os.path.join(W, "lm-hf"))
eos, T = hf_lm_tok.eos_token_id, gpt.config.n_positions
stream = [eos]
for t in lines("corpora/bible/web.en.test.txt"):
    stream += hf_lm_tok(t)["input_ids"] + [eos]
nll, count = 0.0, 0
windows = [stream[w * T:w * T + T + 1] for w in range((len(stream) - 1 + T - 1) // T)]
for i in range(0, len(windows), 16):
    batch = windows[i:i + 16]
    x = torch.zeros(len(batch), T, dtype=torch.long)
    y = torch.full((len(batch), T), -100, dtype=torch.long)
    for b, win in enumerate(batch):
        x[b, :len(win) - 1] = torch.tensor(win[:-1])
        y[b, :len(win) - 1] = torch.tensor(win[1:])
    logits = gpt(x).logits.double()
    nll += torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), ignore_index=-100,
                                             reduction="sum").item()
    count += int((y != -100).sum())
ours = json.loads(open(os.path.join(W, "lm-eval.json")).read())
ppl = math.exp(nll / count)
rel = abs(ppl - ours["ppl"]) / ours["ppl"]
check(count == ours["tokens"] and rel < 1e-4,
      f"GPT-2: test perplexity {ppl:.4f} over {count} tokens, lmtrain {ours['ppl']:.4f} over {ours['tokens']} (relative {rel:.1e} < 1e-4)")

# ---- translation: shared inputs ----
sources, beam1, beam4 = lines(os.path.join(W, "test.en")), lines(os.path.join(W, "beam1.es")), lines(os.path.join(W, "beam4.es"))
refs = lines(os.path.join(W, "test.es"))
src_ids = lmtrain_ids(os.path.join(W, "tr-ids.en.jsonl"))
m2m = M2M100ForConditionalGeneration.from_pretrained(os.path.join(W, "tr-hf")).eval()
max_length = m2m.config.max_position_embeddings
limits = [max(1, min(max_length, int(1.5 * min(len(s), max_length - 1) + 10))) for s in src_ids]
groups = defaultdict(list)
for i, lim in enumerate(limits):
    groups[lim].append(i)


def batches(size=32):
    """(limit, sentence indices) in batches of equal output limits."""
    for lim, idx in sorted(groups.items()):
        for k in range(0, len(idx), size):
            yield lim, idx[k:k + size]


def agree(name, got, want):
    same = sum(g == w for g, w in zip(got, want))
    check(len(got) == len(want) and same >= 0.99 * len(want), f"{name}: same text as lmtrain on {same}/{len(want)} lines (>= 99%)")
    for g, w in [(g, w) for g, w in zip(got, want) if g != w][:2]:
        print(f"      lmtrain: {w!r}\n      other:   {g!r}")


# ---- M2M100 ----
R = load_file(os.path.join(W, "tr-logits.safetensors"))
src = torch.from_numpy(R["src"]).long()
mask = (torch.arange(src.shape[1])[None] < torch.from_numpy(R["src_lengths"])[:, None]).long()
theirs = m2m(input_ids=src, attention_mask=mask, decoder_input_ids=torch.from_numpy(R["tgt_in"]).long()).logits.numpy()
err = max_logit_error(R["logits"], theirs, R["tgt_lengths"])
check(err < 1e-4, f"M2M100: max |logit difference| {err:.2e} over {int(R['tgt_lengths'].sum())} target positions (< 1e-4)")
hf_tr_tok = AutoTokenizer.from_pretrained(os.path.join(W, "tr-hf"))
# Greedy search is decided token by token, so a sentence's output under a limit is the first `limit` tokens of
# its output under a larger one: sentences sorted by length are decoded in batches of 64 to the batch's
# largest limit and each output is cut to its own (fewer, fuller batches than one group per limit).
out = [None] * len(sources)
order = sorted(range(len(sources)), key=lambda i: limits[i])
for k in range(0, len(order), 64):
    idx = order[k:k + 64]
    enc = hf_tr_tok([sources[i] for i in idx], return_tensors="pt", padding=True, truncation=True, max_length=max_length)
    gen = m2m.generate(**enc, num_beams=1, do_sample=False, max_new_tokens=max(limits[i] for i in idx) - 1)
    eos = m2m.generation_config.eos_token_id
    for i, row in zip(idx, gen[:, 1:].tolist()):
        row = row[:row.index(eos)] if eos in row else row
        out[i] = hf_tr_tok.decode(row[:limits[i] - 1], skip_special_tokens=True)
agree("M2M100 generate(num_beams=1)", out, beam1)

# ---- CTranslate2 ----
threads = os.cpu_count() or 1
translator = ctranslate2.Translator(os.path.join(W, "tr-ctranslate2"), device="cpu", compute_type="float32",
                                    inter_threads=1, intra_threads=threads)
vocab = json.load(open(os.path.join(W, "tr-ctranslate2", "shared_vocabulary.json"), encoding="utf-8"))
banned = [["<pad>"], ["<bos>"], ["<unk>"]]
ct2_tokens = [[vocab[i] for i in s[:max_length - 1]] for s in src_ids]
for beam, want in [(1, beam1), (4, beam4)]:
    out = [None] * len(sources)
    for lim, idx in batches():
        res = translator.translate_batch([ct2_tokens[i] for i in idx], beam_size=beam, max_decoding_length=lim - 1,
                                         length_penalty=1.0, suppress_sequences=banned, max_batch_size=32)
        for i, r in zip(idx, res):
            out[i] = hf_tr_tok.decode(hf_tr_tok.convert_tokens_to_ids(r.hypotheses[0]),
                                      skip_special_tokens=True)
    if beam == 1:
        agree("CTranslate2 Translator greedy", out, beam1)
    else:
        ours_bleu, their_bleu = sacrebleu.corpus_bleu(beam4, [refs]).score, sacrebleu.corpus_bleu(out, [refs]).score
        check(abs(ours_bleu - their_bleu) <= 0.2,
              f"CTranslate2 Translator beam 4: BLEU {their_bleu:.2f}, lmtrain {ours_bleu:.2f} (within 0.2); same text on "
              f"{sum(a == b for a, b in zip(out, beam4))}/{len(out)} lines")

generator = ctranslate2.Generator(os.path.join(W, "lm-ctranslate2"), device="cpu", compute_type="float32",
                                  inter_threads=1, intra_threads=threads)
prompts, want = lines(os.path.join(W, "prompts.txt")), lines(os.path.join(W, "continuations.txt"))
res = generator.generate_batch([["<eos>"] + hf_lm_tok.convert_ids_to_tokens(hf_lm_tok(p)["input_ids"]) for p in prompts],
                               max_length=24, sampling_topk=1, include_prompt_in_result=False,
                               suppress_sequences=banned)
got = [p + hf_lm_tok.decode(r.sequences_ids[0], skip_special_tokens=True) for p, r in zip(prompts, res)]
agree("CTranslate2 Generator greedy continuations", got, want)

print(f"interop-check: {len(failures)} failed")
sys.exit(1 if failures else 0)
