"""The real translation run of BENCHMARKS.md: trains bible en→es (unless RUN already holds a model), translates
the test split greedily and with beam 4 (batch 32), scores both with `lmtrain score`, and rewrites the
translation-run section. Checkpoint averaging (how many of the kept checkpoints) and the length penalty are
chosen on the validation split, then applied once to the test split.
Usage: scripts/bench translation [RUN] [--steps N]."""
import argparse
import json
import os
import subprocess
import sys
import time

from bench_common import LMTRAIN, ROOT, bible_split, machine_line, write_section

FIT = ["--valid", "corpora/bible/bible.en-es.valid.tsv", "--task", "translate", "--preset", "small", "--smoothing", "0.1",
       "--batch-tokens", "3072", "--lr", "1e-3", "--warmup", "300", "--eval-every", "500", "--checkpoint-every", "150",
       "--keep-checkpoints", "8", "--log-every", "20"]
AVERAGE = (2, 4, 8)   # numbers of the newest kept checkpoints tried for averaging


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run", nargs="?", default="runs/bible-en-es")
    ap.add_argument("--steps", default="3300")
    a = ap.parse_args()
    os.chdir(ROOT)
    if not os.path.exists(os.path.join(a.run, "model.safetensors")):
        cmd = [LMTRAIN, "fit", "corpora/bible/bible.en-es.train.tsv", "--output", a.run, "--steps", a.steps] + FIT
        print("bench translation: " + " ".join(cmd), file=sys.stderr)
        subprocess.run(cmd, check=True)

    src, ref, test_pairs = bible_split("test", a.run)
    vsrc, vref, _ = bible_split("valid", a.run)

    def decode(source, reference, out, beam, lenpen, weights=None, ngram=0):
        extra = (["--checkpoint", weights] if weights else []) + (["--no-repeat-ngram", str(ngram)] if ngram else [])
        with open(source, encoding="utf-8") as fin, open(out, "w", encoding="utf-8") as fout:
            p = subprocess.run([LMTRAIN, "translate", a.run, "--beam", str(beam), "--batch-size", "32", "--lenpen", str(lenpen)] + extra,
                               stdin=fin, stdout=fout, stderr=subprocess.PIPE, text=True, check=True)
        speed = p.stderr.strip().splitlines()[-1]
        score = subprocess.run([LMTRAIN, "score", "--ref", reference, out], capture_output=True, text=True, check=True).stdout
        return json.loads(score.strip().splitlines()[-1]), speed, score.strip().splitlines()[0]

    # Checkpoint averaging, chosen on validation (beam 4, α 1): the last checkpoint or the mean of the newest N kept.
    kept = sorted(os.listdir(os.path.join(a.run, "checkpoints"))) if os.path.isdir(os.path.join(a.run, "checkpoints")) else []
    candidates = {"last": None}
    for n in AVERAGE:
        if n <= len(kept):
            path = os.path.join(a.run, f"model.avg{n}.safetensors")
            subprocess.run([LMTRAIN, "average", a.run, "--last", str(n), "--output", path], check=True, stdout=subprocess.DEVNULL)
            candidates[f"avg{n}"] = path
    vavg = {}
    for name, path in candidates.items():
        vavg[name] = decode(vsrc, vref, os.path.join(a.run, f"valid.beam4.{name}.es"), 4, 1.0, path)[0]["bleu"]
        print(f"valid beam 4 {name}: BLEU {vavg[name]:.2f}", file=sys.stderr)
    chosen = max(vavg, key=lambda k: vavg[k])
    weights = candidates[chosen]

    last_beam4 = decode(src, ref, os.path.join(a.run, "test.beam4.last.es"), 4, 1.0)
    print(f"last checkpoint, beam 4: {last_beam4[2]}", file=sys.stderr)
    results = {}
    for beam in (1, 4):
        results[beam] = decode(src, ref, os.path.join(a.run, f"test.beam{beam}.es"), beam, 1.0, weights)
        print(f"{chosen}, beam {beam}: {results[beam][2]}\n  {results[beam][1]}", file=sys.stderr)
    # The length penalty chosen on the validation split (beam 4, chosen weights), then applied once to the test split.
    sweep = {}
    for alpha in (0.0, 0.3, 0.6, 1.0, 1.3):
        sweep[alpha] = decode(vsrc, vref, os.path.join(a.run, f"valid.beam4.lp{alpha}.es"), 4, alpha, weights)[0]["bleu"]
        print(f"valid beam 4 α {alpha}: BLEU {sweep[alpha]:.2f}", file=sys.stderr)
    best = max(sweep, key=lambda k: sweep[k])
    tuned = decode(src, ref, os.path.join(a.run, "test.beam4.tuned.es"), 4, best, weights)
    print(f"beam 4 α {best}: {tuned[2]}", file=sys.stderr)
    # no-repeat-ngram (the model repeats phrases), chosen on validation with that α.
    nsweep = {0: sweep[best]}
    for n in (3, 4):
        nsweep[n] = decode(vsrc, vref, os.path.join(a.run, f"valid.beam4.nr{n}.es"), 4, best, weights, n)[0]["bleu"]
        print(f"valid beam 4 α {best} no-repeat-ngram {n}: BLEU {nsweep[n]:.2f}", file=sys.stderr)
    bestn = max(nsweep, key=lambda k: nsweep[k])
    tunedn = decode(src, ref, os.path.join(a.run, "test.beam4.tuned.nr.es"), 4, best, weights, bestn) if bestn else None
    metrics = [json.loads(l) for l in open(os.path.join(a.run, "metrics.jsonl"), encoding="utf-8") if l.strip()]
    steps = [m for m in metrics if "split" not in m]
    valids = [m for m in metrics if m.get("split") == "valid"]
    cfg = json.load(open(os.path.join(a.run, "config.json"), encoding="utf-8"))
    last = steps[-1]
    wflag = f" --checkpoint runs/bible-en-es/model.{chosen}.safetensors" if weights else ""
    md = ["## A real run: bible en→es translation, under an hour on 2 cores", "",
          "```sh", "scripts/bench translation            # trains runs/bible-en-es if it has no model, then:",
          "lmtrain fit corpora/bible/bible.en-es.train.tsv --output runs/bible-en-es --steps " + a.steps + " \\",
          "    " + " ".join(FIT)]
    if weights:
        md.append(f"lmtrain average runs/bible-en-es --last {chosen[3:]} --output runs/bible-en-es/model.{chosen}.safetensors")
    md += [f"lmtrain translate runs/bible-en-es{wflag} --beam 1 --batch-size 32 < test.en > test.beam1.es",
           f"lmtrain translate runs/bible-en-es{wflag} --beam 4 --batch-size 32 < test.en > test.beam4.es",
           "lmtrain score --ref test.es test.beam4.es", "```", "",
           f"Machine: {machine_line()}. Model: encoder–decoder, preset small (d {cfg['model']['dModel']},"
           f" {cfg['model']['encoderLayers']}+{cfg['model']['decoderLayers']} layers, {cfg['model']['heads']} heads, dropout"
           f" {cfg['model']['dropout']}), joint 8,000-piece BPE trained on both sides of the training split, ε = 0.1 (uniform),"
           f" AdamW (β2 0.98, weight decay 0.1), warm-up 300 steps then cosine. {last['step']:,} steps in"
           f" {last['elapsed_s'] / 60:.1f} min of training ({last['tokens']:,} source + target tokens), test = Ruth, Ecclesiastes,"
           f" Jonah, John, Philemon, 1 John ({test_pairs:,} verses; no test book is in training).", "",
           "Weights: " + ("the last checkpoint" if not weights else f"the average of the last {chosen[3:]} kept checkpoints (every"
           f" {FIT[FIT.index('--checkpoint-every') + 1]} steps)") + ", chosen on the validation split (beam 4, α 1, BLEU): "
           + ", ".join(f"{k}: {v:.2f}" for k, v in vavg.items()) + ".", "",
           "| decoding | BLEU | chrF2 | hyp/ref length | speed (batch 32, 2 threads) |", "|---|---|---|---|---|"]
    def row(label, r):
        sc, speed = r[0], r[1]
        md.append(f"| {label} | {sc['bleu']:.2f} | {sc['chrf2']:.2f} | {sc['hyp_len'] / sc['ref_len']:.3f} |"
                  f" {speed.split(': ', 1)[1] if ': ' in speed else speed} |")
    row("greedy", results[1])
    row("beam 4", results[4])
    if weights:
        row("beam 4, last checkpoint (no averaging)", last_beam4)
    row(f"beam 4, α = {best} (chosen on validation)", tuned)
    if tunedn:
        row(f"beam 4, α = {best}, no-repeat-ngram {bestn} (chosen on validation)", tunedn)
    md += ["", "Length penalty α on the validation split (beam 4, BLEU): "
           + ", ".join(f"α {k}: {v:.2f}" for k, v in sweep.items()) + ". Then no-repeat-ngram at that α: "
           + ", ".join(f"{'off' if k == 0 else k}: {v:.2f}" for k, v in nsweep.items()) + "."]
    md += ["", f"BLEU signature `{results[4][0]['bleu_signature']}`; chrF2 signature `{results[4][0]['chrf_signature']}`."
           f" Length penalty score / length^α (EOS counted; α = 1 unless stated), maximum length 1.5·source + 10.", "",
           "Validation along the run (teacher-forced NLL; BLEU of greedy translations of the first 200 validation verses): "
           + ", ".join(f"step {v['step']}: NLL {v['nll']:.3f}, BLEU {v.get('bleu', float('nan')):.1f}" for v in valids) + ".", "",
           f"Training curves: [docs/bible-en-es-curves.svg](docs/bible-en-es-curves.svg)."]
    write_section("translation-run", "\n".join(md))
    print("bench translation: wrote the translation-run section of BENCHMARKS.md", file=sys.stderr)


if __name__ == "__main__":
    main()
