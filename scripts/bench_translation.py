"""The real translation run of BENCHMARKS.md: trains bible en→es (unless RUN already holds a model), translates
the test split greedily and with beam 4 (batch 32), scores both with `lmtrain score`, and rewrites the
translation-run section. Usage: scripts/bench translation [RUN] [--steps N]."""
import argparse
import json
import os
import subprocess
import sys
import time

from bench_common import LMTRAIN, ROOT, machine_line, write_section

BIBLE = os.path.join(ROOT, "corpora", "bible")
FIT = ["--valid", "corpora/bible/bible.en-es.valid.tsv", "--task", "translate", "--preset", "small", "--smoothing", "0.1",
       "--batch-tokens", "3072", "--lr", "1e-3", "--warmup", "300", "--eval-every", "500", "--checkpoint-every", "250",
       "--log-every", "20"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run", nargs="?", default="runs/bible-en-es")
    ap.add_argument("--steps", default="2550")
    a = ap.parse_args()
    os.chdir(ROOT)
    if not os.path.exists(os.path.join(a.run, "model.safetensors")):
        cmd = [LMTRAIN, "fit", "corpora/bible/bible.en-es.train.tsv", "--output", a.run, "--steps", a.steps] + FIT
        print("bench translation: " + " ".join(cmd), file=sys.stderr)
        subprocess.run(cmd, check=True)
    with open(os.path.join(BIBLE, "bible.en-es.test.tsv"), encoding="utf-8") as f:
        rows = [l.rstrip("\n").split("\t") for l in f if l.strip()]
    src, ref = os.path.join(a.run, "test.en"), os.path.join(a.run, "test.es")
    with open(src, "w", encoding="utf-8") as f:
        f.write("".join(r[1] + "\n" for r in rows))
    with open(ref, "w", encoding="utf-8") as f:
        f.write("".join(r[2] + "\n" for r in rows))
    results = {}
    for beam in (1, 4):
        hyp = os.path.join(a.run, f"test.beam{beam}.es")
        with open(src, encoding="utf-8") as fin, open(hyp, "w", encoding="utf-8") as fout:
            p = subprocess.run([LMTRAIN, "translate", a.run, "--beam", str(beam), "--batch-size", "32"], stdin=fin, stdout=fout,
                               stderr=subprocess.PIPE, text=True, check=True)
        speed = p.stderr.strip().splitlines()[-1]
        score = subprocess.run([LMTRAIN, "score", "--ref", ref, hyp], capture_output=True, text=True, check=True).stdout
        results[beam] = (json.loads(score.strip().splitlines()[-1]), speed, score.strip().splitlines()[0])
        print(f"beam {beam}: {results[beam][2]}\n  {speed}", file=sys.stderr)
    metrics = [json.loads(l) for l in open(os.path.join(a.run, "metrics.jsonl"), encoding="utf-8") if l.strip()]
    steps = [m for m in metrics if "split" not in m]
    valids = [m for m in metrics if m.get("split") == "valid"]
    cfg = json.load(open(os.path.join(a.run, "config.json"), encoding="utf-8"))
    last = steps[-1]
    md = ["## A real run: bible en→es translation, under an hour on 2 cores", "",
          "```sh", "scripts/bench translation            # trains runs/bible-en-es if it has no model, then:",
          "lmtrain fit corpora/bible/bible.en-es.train.tsv --output runs/bible-en-es --steps " + a.steps + " \\",
          "    " + " ".join(FIT),
          "lmtrain translate runs/bible-en-es --beam 1 --batch-size 32 < test.en > test.beam1.es",
          "lmtrain translate runs/bible-en-es --beam 4 --batch-size 32 < test.en > test.beam4.es",
          "lmtrain score --ref test.es test.beam4.es", "```", "",
          f"Machine: {machine_line()}. Model: encoder–decoder, preset small (d {cfg['model']['dModel']},"
          f" {cfg['model']['encoderLayers']}+{cfg['model']['decoderLayers']} layers, {cfg['model']['heads']} heads, dropout"
          f" {cfg['model']['dropout']}), joint 8,000-piece BPE trained on both sides of the training split, ε = 0.1 (uniform),"
          f" AdamW (β2 0.98, weight decay 0.1), warm-up 300 steps then cosine. {last['step']:,} steps in"
          f" {last['elapsed_s'] / 60:.1f} min of training ({last['tokens']:,} source + target tokens), test = Ruth, Ecclesiastes,"
          f" Jonah, John, Philemon, 1 John ({len(rows):,} verses; no test book is in training).", "",
          "| decoding | BLEU | chrF2 | hyp/ref length | speed (batch 32, 2 threads) |", "|---|---|---|---|---|"]
    for beam in (1, 4):
        s, speed, line = results[beam]
        md.append(f"| {'greedy' if beam == 1 else 'beam 4'} | {s['bleu']:.2f} | {s['chrf2']:.2f} |"
                  f" {s['hyp_len'] / s['ref_len']:.3f} | {speed.split(': ', 1)[1] if ': ' in speed else speed} |")
    md += ["", f"BLEU signature `{results[4][0]['bleu_signature']}`; chrF2 signature `{results[4][0]['chrf_signature']}`."
           f" Length penalty α = 1 (score / length, EOS counted), maximum length 1.5·source + 10.", "",
           "Validation along the run (teacher-forced NLL; BLEU of greedy translations of the first 200 validation verses): "
           + ", ".join(f"step {v['step']}: NLL {v['nll']:.3f}, BLEU {v.get('bleu', float('nan')):.1f}" for v in valids) + ".", "",
           f"Training curves: [docs/bible-en-es-curves.svg](docs/bible-en-es-curves.svg)."]
    write_section("translation-run", "\n".join(md))
    print("bench translation: wrote the translation-run section of BENCHMARKS.md", file=sys.stderr)


if __name__ == "__main__":
    main()
