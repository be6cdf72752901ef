"""Translation quality per CPU-hour: trains bible en→es with `lmtrain fit … --time B` and nothing else (the
default recipe) for each budget B, translates the test books with beam 4 (batch 32) and scores them with
sacreBLEU, and rewrites the budget-curve section of BENCHMARKS.md and docs/budget-curve.svg.
Resumable: a budget whose results are in RUN/budget.json is skipped, an interrupted run is resumed (its clock
keeps the time already spent). Run it on an otherwise idle machine: a --time budget buys what the machine gives.
Runs go to PREFIX-PRECISION-B, PRECISION being the matrix-product precision the default recipe uses on this CPU
(bf16 where it has a bf16 kernel); the report shows every precision's series found under PREFIX.
Usage: scripts/bench budget [--budgets 10m,20m,40m,60m] [--prefix runs/budget] [--no-write] [--report-only]."""
import argparse
import json
import os
import subprocess
import sys
import time

from bench_common import LMTRAIN, ROOT, bible_split, machine_line, write_section

TRAIN = "corpora/bible/bible.en-es.train.tsv"
VALID = "corpora/bible/bible.en-es.valid.tsv"


def minutes(budget):
    """'1h30m' → 90.0, '10m' → 10.0, '90s' → 1.5."""
    total, number = 0.0, ""
    for ch in budget:
        if ch.isdigit() or ch == ".":
            number += ch
        else:
            total += float(number) * {"h": 60, "m": 1, "s": 1 / 60}[ch]
            number = ""
    return total + (float(number) if number else 0)


def sacrebleu(hyp, ref):
    """sacreBLEU's own BLEU and chrF2 (with signatures) of a hypothesis file."""
    import sacrebleu as sb
    hyps = open(hyp, encoding="utf-8").read().splitlines()
    refs = [open(ref, encoding="utf-8").read().splitlines()]
    bleu, chrf = sb.metrics.BLEU(), sb.metrics.CHRF()
    b, c = bleu.corpus_score(hyps, refs), chrf.corpus_score(hyps, refs)
    return {"bleu": round(b.score, 2), "chrf2": round(c.score, 2), "length_ratio": round(b.sys_len / b.ref_len, 3),
            "bleu_signature": str(bleu.get_signature()), "chrf_signature": str(chrf.get_signature())}


def translate(run, source, out, beam=4):
    with open(source, encoding="utf-8") as fin, open(out, "w", encoding="utf-8") as fout:
        subprocess.run([LMTRAIN, "translate", run, "--beam", str(beam), "--batch-size", "32"], stdin=fin, stdout=fout,
                       stderr=subprocess.DEVNULL, check=True)


def one_budget(budget, run):
    """Trains (or resumes) RUN for BUDGET and evaluates it; returns the results (also kept in RUN/budget.json)."""
    done = os.path.join(run, "budget.json")
    if os.path.exists(done):
        print(f"bench budget: {budget} done earlier ({done})", file=sys.stderr)
        return json.load(open(done, encoding="utf-8"))
    resumed = os.path.exists(os.path.join(run, "optimizer.safetensors"))
    cmd = [LMTRAIN, "fit"] + (["--resume", run] if resumed else [TRAIN, "--valid", VALID, "--time", budget, "--output", run])
    print("bench budget: " + " ".join(cmd), file=sys.stderr)
    t0 = time.time()
    subprocess.run(cmd, check=True)
    wall = time.time() - t0
    metrics = [json.loads(l) for l in open(os.path.join(run, "metrics.jsonl"), encoding="utf-8") if l.strip()]
    steps = [m for m in metrics if "split" not in m]
    valids = [m for m in metrics if m.get("split") == "valid"]
    cfg = json.load(open(os.path.join(run, "config.json"), encoding="utf-8"))
    src, ref, _ = bible_split("test", run)
    vsrc, vref, _ = bible_split("valid", run)
    translate(run, vsrc, os.path.join(run, "valid.beam4.es"))
    translate(run, src, os.path.join(run, "test.beam4.es"))
    r = {"budget": budget, "minutes": minutes(budget), "fit_wall_s": None if resumed else round(wall, 1),
         "run_elapsed_s": round(steps[-1]["elapsed_s"], 1), "steps": valids[-1]["step"], "tokens": steps[-1]["tokens"],
         "valid_nll": round(valids[-1]["nll"], 4), "valid": sacrebleu(os.path.join(run, "valid.beam4.es"), vref),
         "test": sacrebleu(os.path.join(run, "test.beam4.es"), ref), "machine": machine_line(),
         "model": cfg["model"], "train": cfg["train"], "batch_tokens": cfg["data"]["batchTokens"]}
    json.dump(r, open(done + ".tmp", "w", encoding="utf-8"), indent=1)
    os.replace(done + ".tmp", done)
    print(f"bench budget: {budget}: test BLEU {r['test']['bleu']} (valid {r['valid']['bleu']}) after {r['steps']} steps",
          file=sys.stderr)
    return r


def figure(results, path):
    """Test and validation BLEU (beam 4) against the budget, one pair of lines per matrix-product precision, as an
    SVG line chart."""
    W, H, L, B, T, R = 660, 360, 56, 44, 40, 190
    xs = sorted({r["minutes"] for r in results})
    ys = [r["test"]["bleu"] for r in results] + [r["valid"]["bleu"] for r in results]
    xmax, ymax = max(xs) * 1.05, max(30, max(ys) * 1.1)
    px = lambda x: L + (W - L - R) * x / xmax
    py = lambda y: H - B - (H - B - T) * y / ymax
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{L}" y="16" font-size="13">bible en→es, lmtrain fit --time with the default recipe</text>',
           f'<text x="{L}" y="31" font-size="11" fill="#555">{results[-1]["machine"].split(", Linux")[0]}</text>']
    for y in range(0, int(ymax) + 1, 5):
        out.append(f'<line x1="{L}" y1="{py(y):.1f}" x2="{W - R}" y2="{py(y):.1f}" stroke="#e5e5e5"/>')
        out.append(f'<text x="{L - 6}" y="{py(y) + 4:.1f}" text-anchor="end">{y}</text>')
    for x in xs:
        out.append(f'<text x="{px(x):.1f}" y="{H - B + 16}" text-anchor="middle">{x:g}</text>')
    out.append(f'<line x1="{L}" y1="{H - B}" x2="{W - R}" y2="{H - B}" stroke="black"/>')
    out.append(f'<line x1="{L}" y1="{T}" x2="{L}" y2="{H - B}" stroke="black"/>')
    out.append(f'<text x="{(L + W - R) / 2}" y="{H - 8}" text-anchor="middle">budget: lmtrain fit --time (minutes, 2 cores)</text>')
    out.append(f'<text x="14" y="{(T + H - B) / 2}" text-anchor="middle" transform="rotate(-90 14 {(T + H - B) / 2})">BLEU, beam 4</text>')
    out.append(f'<line x1="{L}" y1="{py(26):.1f}" x2="{W - R}" y2="{py(26):.1f}" stroke="#999" stroke-dasharray="4 3"/>')
    out.append(f'<text x="{L + 6}" y="{py(26) - 4:.1f}" fill="#666" font-size="11">goal 26</text>')
    # Earlier recipes pale, the latest (the default) strong; test solid, valid dashed.
    palettes = [("#9ecae1", "#fdd0a2"), ("#1f77b4", "#ff7f0e")]
    names = list(dict.fromkeys(r["series"] for r in results))
    labels = []
    for index, name in enumerate(names):
        series = [r for r in results if r["series"] == name]
        test_colour, valid_colour = palettes[1] if index == len(names) - 1 else palettes[0]
        for key, colour in (("test", test_colour), ("valid", valid_colour)):
            pts = [(px(r["minutes"]), py(r[key]["bleu"])) for r in series]
            dash = ' stroke-dasharray="5 3"' if key == "valid" else ""
            out.append('<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"/>' % (colour, dash, " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)))
            for x, y in pts:
                out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{colour}"/>')
            labels.append([pts[-1][0] + 8, pts[-1][1] + 4, colour, f"{key}, {name}"])
    # Labels at the lines' ends, pushed apart where they would overlap.
    labels.sort(key=lambda l: l[1])
    for prev, cur in zip(labels, labels[1:]):
        if abs(cur[0] - prev[0]) < 150 and cur[1] - prev[1] < 13:
            cur[1] = prev[1] + 13
    for x, y, colour, text in labels:
        out.append(f'<text x="{x:.1f}" y="{y:.1f}" fill="{colour}" font-size="11">{text}</text>')
    out.append("</svg>")
    tmp = path + ".tmp"
    open(tmp, "w", encoding="utf-8").write("\n".join(out) + "\n")
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--budgets", default="10m,20m,40m,60m")
    ap.add_argument("--prefix", default="runs/budget")
    ap.add_argument("--no-write", action="store_true", help="print the results; leave BENCHMARKS.md alone")
    ap.add_argument("--report-only", action="store_true", help="rewrite the section from the budgets already done; train nothing")
    a = ap.parse_args()
    os.chdir(ROOT)
    precision = default_precision()
    results = []
    for b in a.budgets.split(","):
        run = f"{a.prefix}-{precision}-{b}"
        if not (a.report_only and not os.path.exists(os.path.join(run, "budget.json"))):
            results.append(one_budget(b, run))
        if not a.no_write:
            report(finished(a.prefix), a.budgets)   # after each budget: a long sweep shows what it has
    if a.no_write:
        print(json.dumps(results, indent=1))


def default_precision():
    """The precision `fit` picks for translation here: bf16 where `--matmul-precision bf16` runs, else fp32."""
    probe = subprocess.run([LMTRAIN, "bench", "gemm", "--m", "8", "--k", "8", "--n", "8", "--repeats", "1", "--warmup", "0",
                            "--matmul-precision", "bf16"], capture_output=True)
    return "bf16" if probe.returncode == 0 else "fp32"


def finished(prefix):
    """Every finished budget under PREFIX (PREFIX-PRECISION-B/budget.json), oldest recipe first, then by budget.
    Each gets `series`: the recipe it ran (precision and batch), for the table and the figure."""
    out = []
    parent, stem = os.path.split(prefix)
    for name in os.listdir(parent or "."):
        done = os.path.join(parent, name, "budget.json")
        if name.startswith(stem + "-") and os.path.exists(done):
            r = json.load(open(done, encoding="utf-8"))
            r["precision"] = r["train"].get("matmulPrecision") or "fp32"
            r["series"] = f"{r['precision']}, batch {r['batch_tokens']:,}"
            r["finished_at"] = os.path.getmtime(done)
            out.append(r)
    first = {}
    for r in sorted(out, key=lambda r: r["finished_at"]):
        first.setdefault(r["series"], len(first))
    return sorted(out, key=lambda r: (first[r["series"]], r["minutes"]))


def report(results, budgets):
    if not results:
        return
    figure(results, os.path.join(ROOT, "docs", "budget-curve.svg"))
    r0 = results[-1]
    m, t = r0["model"], r0["train"]
    md = ["## Translation quality per CPU-hour: BLEU against the `--time` budget", "",
          "```sh", "scripts/bench budget --budgets " + budgets + "   # on an idle machine; each budget is:",
          f"lmtrain fit {TRAIN} --valid {VALID} --time B --output runs/budget-PRECISION-B",
          "lmtrain translate runs/budget-PRECISION-B --beam 4 --batch-size 32 < test.en > test.beam4.es", "```", "",
          f"Machine: {r0['machine']}. The default recipe: encoder–decoder d {m['dModel']}, {m['encoderLayers']}+{m['decoderLayers']}"
          f" layers, {m['heads']} heads, dropout {m['dropout']}, joint {m['vocabSize']:,}-piece BPE, ≤ {r0['batch_tokens']:,} padded"
          f" tokens per batch, peak lr {t['lr']:g}, warm-up {t['warmup']} steps then cosine decay over the budget's time,"
          f" ε = {t['smoothing']} ({t['smoothingStyle']}). Test = Ruth, Ecclesiastes, Jonah, John, Philemon, 1 John (1,361"
          " verses, no test book in training); valid = the validation books (613 verses). `fit` wall-clock is the whole"
          " command: tokenizer training, data, validations and checkpoints included. The recipe column: matrix-product"
          " precision and padded tokens per batch. The earlier default (fp32, ≤ 3,072 tokens, warm-up 300, validation"
          " every 500) is kept for comparison; the default now (the last rows) uses bf16 products where the CPU has a bf16"
          " kernel and ≤ 1,024 tokens, warm-up 450, validation every 1,000 (section \"Translation recipe: ablations\").", "",
          "| recipe | budget | `fit` wall-clock | steps | tokens | valid NLL | valid BLEU | test BLEU | test chrF2 | test hyp/ref length |",
          "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        wall = f"{r['fit_wall_s'] / 60:.2f} min" if r["fit_wall_s"] else f"{r['run_elapsed_s'] / 60:.2f} min (resumed)"
        md.append(f"| {r['series']} | {r['budget']} | {wall} | {r['steps']:,} | {r['tokens']:,} | {r['valid_nll']:.3f} | {r['valid']['bleu']:.2f} |"
                  f" {r['test']['bleu']:.2f} | {r['test']['chrf2']:.2f} | {r['test']['length_ratio']:.3f} |")
    md += ["", f"sacreBLEU: `{r0['test']['bleu_signature']}`, `{r0['test']['chrf_signature']}`.", "",
           "![BLEU against the budget](docs/budget-curve.svg)"]
    write_section("budget-curve", "\n".join(md))


if __name__ == "__main__":
    main()
