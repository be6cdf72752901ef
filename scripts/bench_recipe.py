"""Ablations of the translation recipe (bible en→es), chosen on the validation books only: each entry trains
with a step budget (so a busy machine changes how long it takes, not what it learns), two at a time on one
thread each, and is scored by teacher-forced validation NLL and beam-4 BLEU of the 613 validation verses.
Resumable: finished entries are skipped (RUN/recipe.json), an interrupted one resumes. The test books are never
decoded here; `scripts/bench budget` reports them once for the recipe chosen.
Usage: scripts/bench recipe [--only NAME,NAME] [--parallel 2] [--no-write]."""
import argparse
import json
import os
import subprocess
import sys
import threading

from bench_common import LMTRAIN, ROOT, bible_split, machine_line, write_section
from bench_budget import TRAIN, VALID, sacrebleu, translate

# name, what changes against the base, fit options. The base is the default recipe (fit's translation defaults)
# at 1,000 steps with a warm-up of 150 (a tenth of the budget, as a time budget caps it).
BASE = ["--steps", "1000", "--warmup", "150", "--eval-every", "250", "--checkpoint-every", "250", "--log-every", "50"]
ENTRIES = [
    ("base", "the default recipe: lr 1e-3, batch 3072, dropout 0.1, ε 0.1, 8k joint BPE, 3+3 layers", []),
    ("lr2e-3", "peak lr 2e-3", ["--lr", "2e-3"]),
    ("lr7e-4", "peak lr 7e-4", ["--lr", "7e-4"]),
    ("batch2048", "batch 2,048 padded tokens, 1,500 steps (the same tokens)", ["--batch-tokens", "2048", "--steps", "1500", "--warmup", "225"]),
    ("batch1024", "batch 1,024 padded tokens, 3,000 steps (the same tokens)", ["--batch-tokens", "1024", "--steps", "3000", "--warmup", "450", "--eval-every", "750", "--checkpoint-every", "750"]),
    ("bf16", "matrix products in bf16 (operands rounded to bfloat16, FP32 sums)", ["--matmul-precision", "bf16"]),
    ("vocab4k", "joint BPE of 4,000 pieces", ["--vocab-size", "4000"]),
    ("enc4dec2", "4 encoder + 2 decoder layers", ["--encoder-layers", "4", "--decoder-layers", "2"]),
    ("dropout0", "no dropout (a run of a few epochs may not need it)", ["--dropout", "0"]),
    ("batch6144", "batch 6,144 padded tokens, 500 steps (the same tokens), lr 1.4e-3", ["--batch-tokens", "6144", "--steps", "500", "--warmup", "75", "--lr", "1.4e-3"]),
    ("dropout0.2", "dropout 0.2", ["--dropout", "0.2"]),
]


def one(name, extra, prefix, tokenizer):
    run = f"{prefix}/{name}"
    done = os.path.join(run, "recipe.json")
    if os.path.exists(done):
        return json.load(open(done, encoding="utf-8"))
    own_vocab = "--vocab-size" in extra
    if os.path.exists(os.path.join(run, "optimizer.safetensors")):
        cmd = [LMTRAIN, "fit", "--resume", run, "--threads", "1"]
    else:
        cmd = ([LMTRAIN, "fit", TRAIN, "--valid", VALID, "--output", run, "--threads", "1"] + BASE + extra
               + ([] if own_vocab or not tokenizer else ["--tokenizer", tokenizer]))
    os.makedirs(prefix, exist_ok=True)
    with open(f"{prefix}/{name}.log", "a", encoding="utf-8") as log:
        subprocess.run(cmd, check=True, stderr=log, stdout=log)
    metrics = [json.loads(l) for l in open(os.path.join(run, "metrics.jsonl"), encoding="utf-8") if l.strip()]
    steps = [m for m in metrics if "split" not in m]
    valids = [m for m in metrics if m.get("split") == "valid"]
    vsrc, vref, _ = bible_split("valid", run)
    translate(run, vsrc, os.path.join(run, "valid.beam4.es"))
    r = {"name": name, "options": extra, "steps": steps[-1]["step"], "tokens": steps[-1]["tokens"],
         "tokens_per_s_1thread": round(sum(m["tokens_per_s"] for m in steps[-10:]) / len(steps[-10:])),
         "valid_nll": round(valids[-1]["nll"], 4), "greedy200_bleu": round(valids[-1].get("bleu", 0), 2),
         "valid": sacrebleu(os.path.join(run, "valid.beam4.es"), vref), "machine": machine_line()}
    json.dump(r, open(done + ".tmp", "w", encoding="utf-8"), indent=1)
    os.replace(done + ".tmp", done)
    print(f"bench recipe: {name}: valid NLL {r['valid_nll']}, valid BLEU {r['valid']['bleu']}", file=sys.stderr)
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="")
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--prefix", default="runs/recipe")
    ap.add_argument("--tokenizer", default="", help="the 8k joint tokenizer the entries share (default: PREFIX/tokenizer.json, trained once)")
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    os.chdir(ROOT)
    entries = [e for e in ENTRIES if not a.only or e[0] in a.only.split(",")]
    if not a.tokenizer:
        # One tokenizer for every entry that keeps the vocabulary: what fit would train on the same corpus.
        a.tokenizer = os.path.join(a.prefix, "tokenizer.json")
        if not os.path.exists(a.tokenizer):
            os.makedirs(a.prefix, exist_ok=True)
            subprocess.run([LMTRAIN, "tokenizer", "train", TRAIN, "--output", a.tokenizer], check=True, stdout=subprocess.DEVNULL)
    results, lock, queue = {}, threading.Lock(), list(entries)

    def worker():
        while True:
            with lock:
                if not queue:
                    return
                name, _, extra = queue.pop(0)
            try:
                results[name] = one(name, extra, a.prefix, a.tokenizer)
            except subprocess.CalledProcessError as e:
                print(f"bench recipe: {name} failed ({e}); see {a.prefix}/{name}.log", file=sys.stderr)

    threads = [threading.Thread(target=worker) for _ in range(max(1, a.parallel))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if a.no_write:
        print(json.dumps(results, indent=1))
        return
    done = [(n, what, results[n]) for n, what, _ in ENTRIES if n in results]
    md = ["## Translation recipe: ablations on the validation books", "",
          "```sh", "scripts/bench recipe      # two runs at a time, one thread each; resumable", "```", "",
          f"Machine: {done[0][2]['machine'] if done else machine_line()}. Each entry is `lmtrain fit {TRAIN} --valid {VALID}"
          f" {' '.join(BASE)} --threads 1` plus its options (the 8k tokenizer shared unless the entry sets the vocabulary)."
          " Step budgets, not time: several runs share the machine, so their speed says nothing (speeds are measured"
          " apart, at 2 threads; see the notes below the table). Entries that change the batch keep the tokens and scale"
          " steps and warm-up, so compare them along the run at equal tokens seen. Validation = 613 verses of books not"
          " in training; BLEU is sacreBLEU's (beam 4, α 1). The test books are not decoded here.", "",
          "| entry | change | steps | tokens | valid NLL along the run (tokens seen: NLL) | valid NLL | greedy BLEU (200) | valid BLEU beam 4 | valid chrF2 | kept? |",
          "|---|---|---|---|---|---|---|---|---|---|"]
    for n, what, r in done:
        md.append(f"| {n} | {what} | {r['steps']:,} | {r['tokens']:,} | {curve(os.path.join(a.prefix, n))} | {r['valid_nll']:.3f} |"
                  f" {r['greedy200_bleu']:.2f} | {r['valid']['bleu']:.2f} | {r['valid']['chrf2']:.2f} | {VERDICTS.get(n, 'not decided')} |")
    write_section("recipe-ablations", "\n".join(md))


# What was done with each entry's result (decided on these validation numbers; the defaults follow them).
VERDICTS = {
    "base": "the reference",
    "lr2e-3": "no: ahead to 500 steps, then worse",
    "lr7e-4": "no: behind at every validation",
    "batch2048": "superseded by batch1024",
    "batch1024": "**yes** (default since): far ahead at equal tokens, as many tokens/s",
    "bf16": "**yes** where the CPU has a bf16 kernel (default since): as good or better, 1.38x steps/s",
}


def curve(run):
    """Validation NLL at each validation, against the tokens trained on by then: '1.5M 4.73 · 3.1M 4.14'."""
    ms = [json.loads(l) for l in open(os.path.join(run, "metrics.jsonl"), encoding="utf-8") if l.strip()]
    tokens = {m["step"]: m["tokens"] for m in ms if "split" not in m}
    seen, out = set(), []
    for m in ms:
        if m.get("split") == "valid" and m["step"] not in seen and m["step"] in tokens:
            seen.add(m["step"])
            out.append(f"{tokens[m['step']] / 1e6:.1f}M {m['nll']:.2f}")
    return " · ".join(out)


if __name__ == "__main__":
    main()
