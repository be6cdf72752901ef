"""Language-model training against corpus size: memory and start-up of `lmtrain fit` on the bible's English
(4.6 MB) and on 10 MB, 100 MB and 1 GB made from it by scripts/big-corpus.

Each corpus gets a fresh run with one tokenizer (trained once on the bible, so tokenizer training is not in
the numbers): `fit CORPUS --valid web.en.valid.txt --tokenizer TOK --steps 20` (the first start, which
tokenises the corpus into the run's id cache), then `fit --resume RUN --steps 21` (a start on the cached
corpus: read the cache's key, open it, one step, a checkpoint, exit). The process's memory is sampled from
/proc every 20 ms: peak VmHWM (what `time -v` calls maximum resident set), and apart the peak anonymous
(heap) and file-backed (binary, libraries) parts. Writes the scale section of BENCHMARKS.md.

Translation (`--only translate`, section scale-translate): `fit --task translate --steps 1` on the bible's pairs
and on about a million pairs (`--pairs 270M`, scripts/big-corpus --kind pairs), start-up and peak memory.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from bench_common import LMTRAIN, ROOT, machine_line, write_section  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--sizes", default="10M,100M,1G", help="corpora made by scripts/big-corpus, beside the bible's")
ap.add_argument("--pairs", default="270M", help="a translation corpus of scripts/big-corpus --kind pairs (about 1M pairs)")
ap.add_argument("--only", choices=["lm", "translate"], help="measure one task (each writes its own section)")
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--work", default=os.path.join(ROOT, ".bench", "scale"))
args = ap.parse_args()

bible = os.path.join(ROOT, "corpora/bible/web.en.train.txt")
valid = os.path.join(ROOT, "corpora/bible/web.en.valid.txt")
os.makedirs(args.work, exist_ok=True)


def status_kb(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def measured(cmd, name):
    """Runs cmd; returns the seconds until it printed "training for" (set-up done, the first step next), peak
    VmHWM, RssAnon and RssFile (MB), and its stderr."""
    t0 = time.time()
    err_path = os.path.join(args.work, name + ".stderr")
    ready = None
    with open(err_path, "w") as err:
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        peak = {"VmHWM": 0, "RssAnon": 0, "RssFile": 0}
        while p.poll() is None:
            for k in peak:
                v = status_kb(p.pid, k)
                if v:
                    peak[k] = max(peak[k], v)
            if ready is None and "training for" in open(err_path, errors="replace").read():
                ready = time.time() - t0
            time.sleep(0.02)
    text = open(err_path, errors="replace").read()
    if p.returncode != 0 or ready is None:
        sys.exit(f"bench scale: {' '.join(cmd)} failed:\n{text[-2000:]}")
    return ready, {k: v / 1024 for k, v in peak.items()}, text


def seconds(text):
    """lmtrain's durations: 0.4s, 1m05s, 2h03m."""
    m = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:([\d.]+)s)?", text)
    return 3600 * int(m.group(1) or 0) + 60 * int(m.group(2) or 0) + float(m.group(3) or 0)




def lm_scale():
    corpora = [("bible (web.en.train.txt)", bible)]
    for s in [x for x in args.sizes.split(",") if x]:
        path = os.path.join(ROOT, "corpora", "big", f"en.{s}.txt")
        if not os.path.exists(path):
            subprocess.run([os.path.join(ROOT, "scripts", "big-corpus"), "--size", s, "--output", path], check=True)
        corpora.append((f"{s} (scripts/big-corpus)", path))

    tok = os.path.join(args.work, "tokenizer.json")
    if not os.path.exists(tok):
        subprocess.run([LMTRAIN, "tokenizer", "train", bible, "--vocab-size", "8000", "--output", tok], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    rows = []
    for name, path in corpora:
        run = os.path.join(args.work, "run-" + os.path.basename(path))
        shutil.rmtree(run, ignore_errors=True)
        common = ["--threads", str(args.threads), "--eval-every", "1000", "--checkpoint-every", "1000"]
        base_name = os.path.basename(path)
        w1, m1, e1 = measured([LMTRAIN, "fit", path, "--valid", valid, "--tokenizer", tok, "--output", run, "--steps", "20", *common],
                              "first-" + base_name)
        enc = re.search(r"ids of " + re.escape(base_name) + r": [\d.]+ MB tokenised into the id cache in (\S+)", e1)
        enc_s = seconds(enc.group(1)) if enc else None
        w2, m2, _ = measured([LMTRAIN, "fit", "--resume", run, "--steps", "21", "--threads", str(args.threads)], "cached-" + base_name)
        cache = sum(os.path.getsize(os.path.join(run, "data", f)) for f in os.listdir(os.path.join(run, "data")))
        rows.append((name, os.path.getsize(path), cache, enc_s, w1, m1, w2, m2))
        print(f"{name}: first start {w1:.1f} s, peak {m1['VmHWM']:.0f} MB (anon {m1['RssAnon']:.0f}); cached start {w2:.1f} s,"
              f" peak {m2['VmHWM']:.0f} MB (anon {m2['RssAnon']:.0f})", file=sys.stderr)

    base = rows[0]
    L = ["## Language-model training against corpus size: memory and start-up", "",
         f"Machine: {machine_line()}. Command: `scripts/bench scale` ({args.threads} threads). The corpora beyond the bible"
         " are its English training split written again in seeded orders (`scripts/big-corpus --size S`), so the"
         " vocabulary stays the bible's. One tokenizer (8,000 pieces, trained on the bible) serves every run.",
         "", "First start: `fit CORPUS --valid web.en.valid.txt --tokenizer TOK --steps 20` (tokenises the corpus, streamed in"
         " 8 MB blocks, into the run's id cache, trains 20 steps). Cached start: `fit --resume RUN --steps 21`"
         " (hashes the corpus to find its cache, opens it, loads the checkpoint, trains one step). *Start-up* is the time"
         " from launch to fit's \"training for …\" line, printed when everything before the first step is done. Peak memory sampled from /proc every 20 ms: VmHWM (the peak"
         " resident set, what `time -v` reports), and the peaks of its anonymous (heap) and file-backed (the"
         " binary, libraries) parts.", "",
         "| corpus | text MB | id cache MB | tokenising s | first start-up s | first: peak RSS MB (anon / file) | cached start-up s | cached: peak RSS MB (anon / file) | peak RSS vs bible: first / cached |",
         "|---|---|---|---|---|---|---|---|---|"]
    for name, size, cache, enc_s, w1, m1, w2, m2 in rows:
        enc = f"{enc_s:.1f}" if enc_s is not None else "–"
        L.append(f"| {name} | {size / 1e6:,.1f} | {cache / 1e6:,.1f} | {enc} | {w1:.1f} | {m1['VmHWM']:.0f} ({m1['RssAnon']:.0f} / {m1['RssFile']:.0f})"
                 f" | {w2:.1f} | {m2['VmHWM']:.0f} ({m2['RssAnon']:.0f} / {m2['RssFile']:.0f}) | {m1['VmHWM'] / base[5]['VmHWM']:.2f}× / {m2['VmHWM'] / base[7]['VmHWM']:.2f}× |")
    write_section("scale", "\n".join(L))
    print("\n".join(L))


def translate_scale():
    """fit --task translate on the bible's pairs and on a corpus of --pairs: set-up (reading, tokenising,
    length buckets, the model's buffers) and its peak memory."""
    train = os.path.join(ROOT, "corpora/bible/bible.en-es.train.tsv")
    pvalid = os.path.join(ROOT, "corpora/bible/bible.en-es.valid.tsv")
    big = os.path.join(ROOT, "corpora", "big", f"pairs.{args.pairs}.tsv")
    if not os.path.exists(big):
        subprocess.run([os.path.join(ROOT, "scripts", "big-corpus"), "--size", args.pairs, "--kind", "pairs", "--output", big],
                       check=True)
    ptok = os.path.join(args.work, "tokenizer-pairs.json")
    if not os.path.exists(ptok):
        subprocess.run([LMTRAIN, "tokenizer", "train", train, "--vocab-size", "8000", "--output", ptok], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rows = []
    for name, path in [("bible (bible.en-es.train.tsv)", train), (f"{args.pairs} (scripts/big-corpus --kind pairs)", big)]:
        run = os.path.join(args.work, "run-" + os.path.basename(path))
        shutil.rmtree(run, ignore_errors=True)
        w, m, text = measured([LMTRAIN, "fit", path, "--task", "translate", "--valid", pvalid, "--tokenizer", ptok,
                               "--output", run, "--steps", "1", "--threads", str(args.threads)], "pairs-" + os.path.basename(path))
        pairs = re.search(r"data: ([\d,]+) training pairs", text)
        batches = re.search(r"([\d,]+) batches of", text)
        rows.append((name, os.path.getsize(path), pairs.group(1) if pairs else "?", batches.group(1) if batches else "?", w, m))
        print(f"{name}: start-up {w:.1f} s, peak {m['VmHWM']:.0f} MB", file=sys.stderr)
    L = ["## Translation training against corpus size: memory and start-up", "",
         f"Machine: {machine_line()}. Command: `scripts/bench scale --only translate` ({args.threads} threads)."
         " `fit PAIRS --task translate --valid bible.en-es.valid.tsv --tokenizer TOK --steps 1`, one tokenizer (8,000"
         " pieces, trained on the bible's pairs); the big corpus is the bible's training pairs written again in seeded"
         " orders. Start-up and peak memory as in the language-model table. The pairs are streamed from the file in"
         " blocks but their text and ids are then all in memory (flat arrays, not one per sentence): unlike a"
         " language model's corpus, a translation corpus's memory grows with its size.", "",
         "| corpus | text MB | training pairs | batches | start-up s | peak RSS MB (anon / file) | peak RSS vs bible |",
         "|---|---|---|---|---|---|---|"]
    for name, size, pairs, batches, w, m in rows:
        L.append(f"| {name} | {size / 1e6:,.1f} | {pairs} | {batches} | {w:.1f} | {m['VmHWM']:,.0f} ({m['RssAnon']:,.0f} / {m['RssFile']:.0f})"
                 f" | {m['VmHWM'] / rows[0][5]['VmHWM']:.2f}× |")
    write_section("scale-translate", "\n".join(L))
    print("\n".join(L))


if args.only != "translate":
    lm_scale()
if args.only != "lm" and args.pairs:
    translate_scale()
