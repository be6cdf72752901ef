"""Tokenizer training on a big corpus: lmtrain vs HF tokenizers vs sentencepiece, time and peak memory.

`scripts/bench tokenizer --size 1G` trains an 8000-piece BPE vocabulary on corpora/big/en.1G.txt (made by
scripts/big-corpus; made here when missing) with each trainer in a fresh process on 2 threads, one after another
per repeat, and records the wall time and the process's peak resident set (ru_maxrss of the finished child: the
Python interpreter and the library for HF and sentencepiece, the binary for lmtrain). Medians of --repeats.
Writes the tokenizer-scale section of BENCHMARKS.md.

Each trainer reads the file itself, the way its users hand it a big corpus: `lmtrain tokenizer train FILE`
(streams 8 MB blocks, adds up word counts), HF `Tokenizer.train([FILE])`, sentencepiece
`SentencePieceTrainer.train(input=FILE, input_sentence_size=0)` (every sentence, as `--spm-sample` is 0; its
documentation recommends sampling a few million sentences for big inputs, `--spm-sample N`).
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from bench_common import ROOT, machine_line, median, write_section  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--size", default="1G", help="10M, 100M or 1G: a corpus of scripts/big-corpus")
ap.add_argument("--repeats", type=int, default=3)
ap.add_argument("--vocab-size", type=int, default=8000)
ap.add_argument("--only", default="lmtrain,hf,spm", help="comma-separated trainers")
ap.add_argument("--spm-sample", type=int, default=0, help="sentencepiece input_sentence_size (0: every sentence)")
ap.add_argument("--timeout", type=int, default=3600, help="seconds before a trainer is stopped and reported so")
ap.add_argument("--worker", nargs=3, metavar=("KIND", "CORPUS", "OUT"), help=argparse.SUPPRESS)
args = ap.parse_args()

specials = ["<pad>", "<unk>", "<bos>", "<eos>"]

if args.worker:
    # One trainer in this fresh process, so its peak memory is its own.
    kind, corpus, out = args.worker
    if kind == "hf":
        from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
        tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
        tok.normalizer = normalizers.NFKC()
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Metaspace(prepend_scheme="never"),
                                                     pre_tokenizers.Punctuation()])
        tok.train([corpus], trainers.BpeTrainer(vocab_size=args.vocab_size, min_frequency=2, special_tokens=specials,
                                                show_progress=False))
        tok.save(out)
    else:
        import sentencepiece as spm
        spm.SentencePieceTrainer.train(input=corpus, model_prefix=out, model_type="bpe", vocab_size=args.vocab_size,
                                       byte_fallback=True, character_coverage=0.9995, num_threads=2, minloglevel=2,
                                       normalization_rule_name="nfkc", input_sentence_size=args.spm_sample,
                                       shuffle_input_sentence=args.spm_sample > 0, max_sentence_length=1 << 16)
    sys.exit(0)

corpus = os.path.join(ROOT, "corpora", "big", f"en.{args.size}.txt")
if not os.path.exists(corpus):
    subprocess.run([os.path.join(ROOT, "scripts", "big-corpus"), "--size", args.size, "--output", corpus], check=True)
nbytes = os.path.getsize(corpus)
binary = os.environ.get("LMTRAIN_BIN", os.path.join(ROOT, ".build", "release", "lmtrain"))


def run(kind, d):
    """Wall seconds and peak RSS (MB) of one trainer in its own process; None for a trainer stopped at --timeout."""
    out = os.path.join(d, kind)
    if kind == "lmtrain":
        cmd = [binary, "tokenizer", "train", corpus, "--vocab-size", str(args.vocab_size), "--threads", "2",
               "--output", out + ".json"]
    else:
        cmd = [sys.executable, __file__, "--vocab-size", str(args.vocab_size), "--spm-sample", str(args.spm_sample),
               "--worker", kind, corpus, out + (".json" if kind == "hf" else "")]
    env = dict(os.environ, RAYON_NUM_THREADS="2")
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = t0 + args.timeout
    while True:
        pid, status, usage = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            p.kill()
            os.wait4(p.pid, 0)
            return None
        time.sleep(0.05)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"bench: {kind} failed: {p.stderr.read().decode()[-2000:]}")
    return wall, usage.ru_maxrss / 1024


kinds = args.only.split(",")
res = {k: [] for k in kinds}
for r in range(args.repeats):
    for k in kinds:  # interleaved, so drift on a busy machine hits every trainer alike
        with tempfile.TemporaryDirectory() as d:
            m = run(k, d)
        res[k].append(m)
        print(f"repeat {r + 1}: {k} " + (f"{m[0]:.1f} s, peak {m[1]:.0f} MB" if m else f"stopped after {args.timeout} s"),
              flush=True)

import sentencepiece  # noqa: E402
import tokenizers  # noqa: E402

labels = {"lmtrain": "lmtrain (ICU word breaks + BPE, streamed)",
          "hf": f"HF tokenizers {tokenizers.__version__} (NFKC, Metaspace + Punctuation, BPE)",
          "spm": f"sentencepiece {sentencepiece.__version__} (BPE, NFKC"
                 + (f", {args.spm_sample:,} sampled sentences)" if args.spm_sample else ", every sentence)")}
ok = {k: [m for m in v if m] for k, v in res.items()}
ours = (median([m[0] for m in ok["lmtrain"]]), median([m[1] for m in ok["lmtrain"]])) if ok.get("lmtrain") else None
table = ["| trainer | train s | MB/s | lmtrain speed-up | peak RSS MB | RSS vs lmtrain |", "|---|---|---|---|---|---|"]
for k in kinds:
    if not ok[k]:
        table.append(f"| {labels[k]} | > {args.timeout} (stopped) | – | – | – | – |")
        continue
    t, m = median([x[0] for x in ok[k]]), median([x[1] for x in ok[k]])
    sp = f"{t / ours[0]:.2f}×" if ours else "–"
    rs = f"{m / ours[1]:.2f}×" if ours else "–"
    table.append(f"| {labels[k]} | {t:.1f} | {nbytes / t / 1e6:.1f} | {sp} | {m:,.0f} | {rs} |")

md = f"""## Tokenizer training on {args.size}

Command: `scripts/bench tokenizer --size {args.size}` (`scripts/bench_tokenizer_scale.py --size {args.size} --repeats {args.repeats}`)

Machine: {machine_line()}. Corpus: `corpora/big/en.{args.size}.txt` ({nbytes / 1e6:,.0f} MB; the bible's English
training lines written again in seeded orders by `scripts/big-corpus`). An {args.vocab_size}-piece BPE vocabulary,
each trainer in a fresh process on 2 threads reading the file itself; medians of {args.repeats} interleaved runs.
Peak RSS is the finished process's maximum resident set (for HF and sentencepiece: Python with the library).
"lmtrain speed-up" = their time / lmtrain's (above 1: lmtrain is faster); "RSS vs lmtrain" = their peak / lmtrain's.

{chr(10).join(table)}

Raw (s, MB): {"; ".join(f"{k} " + ", ".join(f"{m[0]:.1f} s {m[1]:.0f} MB" if m else "stopped" for m in v) for k, v in res.items())}
"""
print(md)
write_section(f"tokenizer-{args.size}", md)
