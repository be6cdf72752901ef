"""Tokenizer benchmark: lmtrain vs HF tokenizers vs sentencepiece (BPE), in one run.

Training: an 8000-piece joint en+es vocabulary on the bible train split (both text columns), all
trainers on 2 threads. Encoding: the same text, one thread, each tokenizer with its own pre-tokenizer,
lines encoded as a batch (HF encode_batch with RAYON_NUM_THREADS=1; sentencepiece num_threads=1).
Medians of --repeats runs. Writes the tokenizer section of BENCHMARKS.md.
"""
import argparse
import os

os.environ.setdefault("RAYON_NUM_THREADS", "2")  # HF training on 2 threads, like the others
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from bench_common import ROOT, lmtrain_json, machine_line, median, write_section  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--repeats", type=int, default=5)
ap.add_argument("--vocab-size", type=int, default=8000)
ap.add_argument("--encode-worker", nargs=2, metavar=("KIND", "MODEL"), help=argparse.SUPPRESS)
args = ap.parse_args()

corpus = os.path.join(ROOT, "corpora/bible/bible.en-es.train.tsv")
lines = []
for row in open(corpus, encoding="utf-8"):
    f = row.rstrip("\n").split("\t")
    lines += [x for x in f[1:] if x]
nbytes = sum(len(x.encode()) + 1 for x in lines)

import sentencepiece as spm  # noqa: E402
import tokenizers  # noqa: E402
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers  # noqa: E402

specials = ["<pad>", "<unk>", "<bos>", "<eos>"]


def hf_train():
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Metaspace(prepend_scheme="never"),
                                                 pre_tokenizers.Punctuation()])
    tr = trainers.BpeTrainer(vocab_size=args.vocab_size, min_frequency=2, special_tokens=specials,
                             show_progress=False)
    t0 = time.perf_counter()
    tok.train_from_iterator(lines, tr)
    return time.perf_counter() - t0, tok


def spm_train(d):
    t0 = time.perf_counter()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_prefix=os.path.join(d, "spm"),
                                   model_type="bpe", vocab_size=args.vocab_size, byte_fallback=True,
                                   character_coverage=0.9995, num_threads=2, minloglevel=2,
                                   normalization_rule_name="nfkc", input_sentence_size=0,
                                   max_sentence_length=1 << 16)
    return time.perf_counter() - t0, spm.SentencePieceProcessor(model_file=os.path.join(d, "spm.model"))


if args.encode_worker:
    # A fresh process, so the one-thread setting holds from the start (HF's pool is fixed once started).
    kind, model_path = args.encode_worker
    if kind == "hf":
        tok = Tokenizer.from_file(model_path)
        t0 = time.perf_counter()
        tok.encode_batch(lines)
    else:
        sp = spm.SentencePieceProcessor(model_file=model_path)
        t0 = time.perf_counter()
        sp.encode(lines, num_threads=1)
    print(time.perf_counter() - t0)
    sys.exit(0)


def encode_in_subprocess(kind, model_path):
    import subprocess
    env = dict(os.environ, RAYON_NUM_THREADS="1", OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, __file__, "--encode-worker", kind, model_path], env=env, check=True,
                         capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


rows = {"lmtrain": {"train": [], "enc": []}, "hf": {"train": [], "enc": []}, "spm": {"train": [], "enc": []}}
for r in range(args.repeats):
    # Interleaved, so drift on a noisy machine hits every contender alike.
    res = lmtrain_json(["bench", "tokenizer", corpus, "--vocab-size", str(args.vocab_size), "--threads", "2",
                        "--repeats", "1"])
    rows["lmtrain"]["train"].append(res["train_s"])
    rows["lmtrain"]["enc"].append(res["encode_s"])

    with tempfile.TemporaryDirectory() as d:
        t, hf = hf_train()
        rows["hf"]["train"].append(t)
        hf.save(os.path.join(d, "hf.json"))
        rows["hf"]["enc"].append(encode_in_subprocess("hf", os.path.join(d, "hf.json")))
        t, sp = spm_train(d)
        rows["spm"]["train"].append(t)
        rows["spm"]["enc"].append(encode_in_subprocess("spm", os.path.join(d, "spm.model")))

ours_t, ours_e = median(rows["lmtrain"]["train"]), median(rows["lmtrain"]["enc"])
table = ["| tokenizer | train 8000 (s) | lmtrain speed-up | encode (MB/s, 1 thread) | lmtrain ratio |",
         "|---|---|---|---|---|"]
for name, label in [("lmtrain", "lmtrain (ICU word breaks + BPE)"),
                    ("hf", f"HF tokenizers {tokenizers.__version__} (NFKC, Metaspace + Punctuation, BPE)"),
                    ("spm", f"sentencepiece {spm.__version__} (BPE, NFKC)")]:
    t, e = median(rows[name]["train"]), median(rows[name]["enc"])
    table.append(f"| {label} | {t:.2f} | {t / ours_t:.2f}× | {nbytes / e / 1e6:.1f} | {e / ours_e:.2f}× |")

md = f"""## Tokenizer

Command: `scripts/bench tokenizer` (runs `scripts/bench_tokenizer.py --repeats {args.repeats}`)

Machine: {machine_line()}. Corpus: bible en–es train split, both text columns, {len(lines):,} lines,
{nbytes / 1e6:.2f} MB. Medians of {args.repeats} interleaved runs. "lmtrain speed-up" = their time / lmtrain's
time (above 1 means lmtrain is faster); "lmtrain ratio" for encoding likewise (their time / ours).
Training on 2 threads for all three; encoding on one thread, a whole batch of lines, from a cold word cache.

{chr(10).join(table)}

Raw times (s): {", ".join(f"{k} train {[round(x, 3) for x in v['train']]} encode {[round(x, 3) for x in v['enc']]}" for k, v in rows.items())}
"""
print(md)
write_section("tokenizer", md)
