"""Measures and report of scripts/smoothing-study (standard library only).

Calibration here is token-level over 15 equal-width bins of confidence, (lo, hi] as lmtrain's ReliabilityBins
(a confidence of 0 goes to the first bin), so the ECE of a token dump equals `lmtrain eval`'s. Confidence
intervals resample sentences (tokens of one sentence are not independent): 95% percentile intervals over
`samples` bootstrap resamples with a fixed seed.
"""
import json
import math
import os
import random
import re
import statistics
from collections import Counter

BINS = 15


# MARK: - Token dumps and calibration


def read_dump(path):
    """`lmtrain eval --tokens` lines by pair (translation) or window (language model) index."""
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                o = json.loads(line)
                out[o["pair"] if "pair" in o else o["window"]] = o
    return out


def bin_of(c):
    return min(BINS - 1, max(0, math.ceil(c * BINS) - 1))


def sentence_bins(conf, correct):
    """One sentence's {bin: [n, Σ confidence, Σ correct]}."""
    d = {}
    for c, k in zip(conf, correct):
        e = d.setdefault(bin_of(c), [0, 0.0, 0.0])
        e[0] += 1
        e[1] += c
        e[2] += k
    return d


def ece_of(sentences, weights=None):
    """ECE, mean confidence and accuracy of sentences' bin statistics, each sentence counted `weights[i]` times."""
    n = [0.0] * BINS
    sc = [0.0] * BINS
    sk = [0.0] * BINS
    items = weights.items() if weights is not None else ((i, 1) for i in range(len(sentences)))
    for i, w in items:
        for b, (cnt, c, k) in sentences[i].items():
            n[b] += w * cnt
            sc[b] += w * c
            sk[b] += w * k
    total = sum(n)
    if total == 0:
        return 0.0, 0.0, 0.0
    ece = sum(abs(sk[b] - sc[b]) for b in range(BINS)) / total
    return ece, sum(sc) / total, sum(sk) / total


def percentile(xs, q):
    xs = sorted(xs)
    i = (len(xs) - 1) * q
    lo, hi = math.floor(i), math.ceil(i)
    return xs[lo] + (xs[hi] - xs[lo]) * (i - lo)


def bootstrap_ci(values):
    return [percentile(values, 0.025), percentile(values, 0.975)]


def resamples(n, samples, seed=12345):
    """`samples` bootstrap draws of n sentence indices, as {index: times drawn}."""
    rng = random.Random(seed)
    for _ in range(samples):
        yield Counter(rng.choices(range(n), k=n))


def calibration_summary(sentences, samples):
    ece, conf, acc = ece_of(sentences)
    draws = [ece_of(sentences, w)[0] for w in resamples(len(sentences), samples)]
    return {"ece": ece, "ece_ci": bootstrap_ci(draws), "confidence": conf, "accuracy": acc,
            "tokens": sum(sum(v[0] for v in s.values()) for s in sentences), "sentences": len(sentences)}


def teacher_forced_calibration(dump_path, samples):
    """ECE (with its CI) of top-1 predictions under teacher forcing, from the test split's token dump; also
    each sentence's NLL, for paired comparisons of perplexity."""
    dump = read_dump(dump_path)
    keys = sorted(dump)
    sentences = [sentence_bins(dump[k]["confidence"], dump[k]["correct"]) for k in keys]
    out = calibration_summary(sentences, samples)
    out["sentence_nll"] = [sum(-math.log(max(p, 1e-30)) for p in dump[k]["p"]) for k in keys]
    out["sentence_tokens"] = [len(dump[k]["p"]) for k in keys]
    return out


def lcs_marks(hyp, ref):
    """For each hypothesis token, whether it lies on a longest common subsequence with the reference."""
    n, m = len(hyp), len(ref)
    L = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            L[i][j] = L[i + 1][j + 1] + 1 if hyp[i] == ref[j] else max(L[i + 1][j], L[i][j + 1])
    marks, i, j = [0] * n, 0, 0
    while i < n and j < m:
        if hyp[i] == ref[j]:
            marks[i] = 1
            i += 1
            j += 1
        elif L[i + 1][j] >= L[i][j + 1]:
            i += 1
        else:
            j += 1
    return marks


def inference_calibration(hyp_dump, ref_dump, samples, lines=None):
    """Inference calibration (Wang et al. 2020): the probability the model gave each token of its own beam
    output, against whether that token is right — here, on a longest common subsequence with the reference
    (Wang et al. label by TER alignment; the LCS is that alignment without shifts). EOS is left out: it has no
    counterpart to match. `lines` maps the hypothesis dump's pair index to the test line (empty outputs are
    not in the dump)."""
    hyps, refs = read_dump(hyp_dump), read_dump(ref_dump)
    sentences = []
    for k in sorted(hyps):
        line = lines[k] if lines else k
        h, r = hyps[k], refs[line]
        ids, probs = h["ids"][:-1], h["p"][:-1]
        marks = lcs_marks(ids, r["ids"][:-1])
        sentences.append(sentence_bins(probs, marks))
    return calibration_summary(sentences, samples)


# MARK: - Outputs


def words(s):
    return s.split()


def output_shape(hyp_path, ref_path):
    """Share of empty outputs and of outputs cut short (fewer than half the reference's words)."""
    with open(hyp_path, encoding="utf-8") as f:
        hyps = [l.rstrip("\n") for l in f]
    with open(ref_path, encoding="utf-8") as f:
        refs = [l.rstrip("\n") for l in f]
    n = max(1, len(hyps))
    empty = sum(1 for h in hyps if not h.strip())
    short = sum(1 for h, r in zip(hyps, refs) if len(words(h)) < 0.5 * len(words(r)))
    return {"empty": empty / n, "short": short / n,
            "sentence_ratio": [len(words(h)) / max(1, len(words(r))) for h, r in zip(hyps, refs)],
            "hyp_words": [len(words(h)) for h in hyps], "ref_words": [len(words(r)) for r in refs]}


def repetition(outputs):
    """Of greedy continuations: seq-rep-4 (Welleck et al. 2020: the share of a continuation's 4-grams that
    repeat an earlier one, averaged), the share of continuations with any repeated 4-gram, distinct-2."""
    reps, each, looped, bigrams = [], [], 0, Counter()
    total_bigrams = 0
    for o in outputs:
        w = o.split()
        grams = [tuple(w[i:i + 4]) for i in range(len(w) - 3)]
        # Per continuation, for paired tests over prompts (a continuation under four words repeats nothing).
        each.append(1 - len(set(grams)) / len(grams) if grams else 0.0)
        if grams:
            reps.append(each[-1])
            looped += len(set(grams)) < len(grams)
        bg = [tuple(w[i:i + 2]) for i in range(len(w) - 1)]
        bigrams.update(bg)
        total_bigrams += len(bg)
    return {"seq_rep_4": statistics.mean(reps) if reps else 0.0, "looping": looped / max(1, len(outputs)),
            "distinct_2": len(bigrams) / max(1, total_bigrams), "continuations": len(outputs), "examples": outputs[:3],
            "seq_rep_4_each": each}


# MARK: - Paired comparisons over sentences


def paired_bootstrap(stat, n, samples):
    """Bootstrap of a paired statistic over n sentences: the point value, its 95% interval, and the two-sided
    share of resamples on the other side of 0 (a bootstrap p-value)."""
    point = stat(None)
    draws = [stat(w) for w in resamples(n, samples)]
    other = sum(1 for d in draws if (d <= 0 if point > 0 else d >= 0))
    return {"diff": point, "ci": bootstrap_ci(draws), "p": min(1.0, 2 * (other + 1) / (samples + 1))}


def pooled(items):
    """Concatenates per-seed lists of sentences (a resample then draws sentences of every seed)."""
    out = []
    for x in items:
        out.extend(x)
    return out


def ece_difference(base_sents, sys_sents, samples):
    def stat(w):
        return ece_of(sys_sents, w)[0] - ece_of(base_sents, w)[0]
    return paired_bootstrap(stat, len(base_sents), samples)


def mean_difference(base, system, samples, weights_of=None):
    """Paired bootstrap of Σ system / Σ weights − Σ base / Σ weights over sentences (e.g. NLL per token)."""
    wts = weights_of or [1] * len(base)

    def stat(w):
        items = w.items() if w is not None else ((i, 1) for i in range(len(base)))
        sb = ss = sw = 0.0
        for i, c in items:
            sb += c * base[i]
            ss += c * system[i]
            sw += c * wts[i]
        return (ss - sb) / sw
    return paired_bootstrap(stat, len(base), samples)


def ratio_difference(base_hyp, sys_hyp, ref, samples):
    """Paired bootstrap of the corpus length ratio (Σ output words / Σ reference words), system − base."""
    def stat(w):
        items = w.items() if w is not None else ((i, 1) for i in range(len(ref)))
        hb = hs = r = 0.0
        for i, c in items:
            hb += c * base_hyp[i]
            hs += c * sys_hyp[i]
            r += c * ref[i]
        return (hs - hb) / r
    return paired_bootstrap(stat, len(ref), samples)


# MARK: - SVG


COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"]


def esc(s):
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def nice_ticks(lo, hi, count=5):
    """Round tick values (1, 2 or 5 × 10^k apart) covering [lo, hi]."""
    span = hi - lo or abs(hi) or 1
    raw = span / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    t = math.ceil(lo / step) * step
    out = []
    while t <= hi + step * 1e-9:
        out.append(round(t, 10))
        t += step
    return out


def chart(x0, y0, w, h, title, xlabel, ylabel, series, xlog=False, xticks=None, hline=None):
    """One line chart as an SVG group, its legend on the right. series: [{name, color, points [(x, y)], dashed}];
    `hline`: a y value drawn as a reference line (e.g. 0)."""
    pts = [p for s in series for p in s["points"]]
    if not pts:
        return ""
    fx = (lambda v: math.log(v)) if xlog else (lambda v: v)
    xs, ys = [fx(p[0]) for p in pts], [p[1] for p in pts] + ([hline] if hline is not None else [])
    xmin, xmax = min(xs), max(xs)
    ymin, ymax = min(ys), max(ys)
    if xmax == xmin:
        xmax += 1
    pad = (ymax - ymin) * 0.08 or abs(ymax) * 0.1 or 1
    ymin, ymax = ymin - pad, ymax + pad
    named = [s for s in series if s.get("name")]
    L, R, T, B = 64, 20 + (170 if named else 0), 34, 46
    pw, ph = w - L - R, h - T - B

    def px(v):
        return L + (fx(v) - xmin) / (xmax - xmin) * pw

    def py(v):
        return T + (1 - (v - ymin) / (ymax - ymin)) * ph
    o = [f'<g transform="translate({x0},{y0})">',
         f'<text x="{L + pw / 2}" y="18" text-anchor="middle" font-size="14" font-weight="bold">{esc(title)}</text>',
         f'<rect x="{L}" y="{T}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>']
    for v in nice_ticks(ymin, ymax):
        o.append(f'<line x1="{L}" x2="{L + pw}" y1="{py(v):.1f}" y2="{py(v):.1f}" stroke="#eee"/>')
        o.append(f'<text x="{L - 6}" y="{py(v) + 4:.1f}" text-anchor="end" font-size="11">{v:g}</text>')
    if hline is not None:
        o.append(f'<line x1="{L}" x2="{L + pw}" y1="{py(hline):.1f}" y2="{py(hline):.1f}" stroke="#444" stroke-dasharray="3,3"/>')
    for v in (xticks or nice_ticks(min(p[0] for p in pts), max(p[0] for p in pts))):
        if xmin - 1e-9 <= fx(v) <= xmax + 1e-9:
            o.append(f'<text x="{px(v):.1f}" y="{T + ph + 16}" text-anchor="middle" font-size="11">{v:g}</text>')
    o.append(f'<text x="{L + pw / 2}" y="{h - 8}" text-anchor="middle" font-size="12">{esc(xlabel)}</text>')
    o.append(f'<text x="14" y="{T + ph / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 14 {T + ph / 2})">{esc(ylabel)}</text>')
    for s in series:
        if s["points"]:
            path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in s["points"])
            dash = ' stroke-dasharray="6,4"' if s.get("dashed") else ""
            o.append(f'<polyline points="{path}" fill="none" stroke="{s["color"]}" stroke-width="2"{dash}/>')
            for x, y in s["points"]:
                o.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="2.5" fill="{s["color"]}"/>')
    for i, s in enumerate(named):
        yy = T + 10 + 16 * i
        dash = ' stroke-dasharray="6,4"' if s.get("dashed") else ""
        o.append(f'<line x1="{L + pw + 12}" x2="{L + pw + 34}" y1="{yy - 4}" y2="{yy - 4}" stroke="{s["color"]}" stroke-width="2"{dash}/>')
        o.append(f'<text x="{L + pw + 40}" y="{yy}" font-size="11">{esc(s["name"])}</text>')
    o.append("</g>")
    return "\n".join(o)


def svg_document(groups, width, height):
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n' + "\n".join(groups) + "\n</svg>\n")


def side_by_side(paths, titles, out):
    """The first diagram (T = 1) of each run's RUN/reliability.svg, side by side, each titled."""
    parts, x = [], 0
    for p, t in zip(paths, titles):
        if not os.path.exists(p):
            continue
        text = open(p, encoding="utf-8").read()
        groups = re.findall(r'<g transform="translate\(0(?:\.0)?,0(?:\.0)?\)">.*?\n</g>', text, flags=re.S)
        if not groups:
            groups = re.findall(r'<g transform="translate\(0(?:\.0)?,0(?:\.0)?\)">.*?</g>\n', text, flags=re.S)
        if not groups:
            continue
        g = re.sub(r'(font-weight="bold">)[^<]*(</text>)', lambda m: m.group(1) + esc(t) + m.group(2), groups[0], count=1)
        parts.append(f'<g transform="translate({x},0)">{g}</g>')
        x += 380
    with open(out, "w", encoding="utf-8") as f:
        f.write(svg_document(parts, max(x, 380), 440))


# MARK: - Report


def summary(saved):
    """`saved` without per-sentence lists and dump paths (results.json is committed; the lists stay in the runs)."""
    def strip(x):
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items() if not k.startswith("_") and not (isinstance(v, list) and len(v) > 64)}
        return x
    return strip(saved)


def mean_std(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return None, None
    return statistics.mean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


def fmt(xs, scale=1.0, digits=2):
    m, s = mean_std([x * scale if x is not None else None for x in xs])
    if m is None:
        return "–"
    return f"{m:.{digits}f} ± {s:.{digits}f}" if len(xs) > 1 else f"{m:.{digits}f}"


def verdict(test, direction_ok):
    """'confirmed' (the claimed direction, significant at 5%), 'refuted' (significant, the other way) or 'not
    significant'."""
    if test["p"] >= 0.05 or test.get("diff", 1) == 0:
        return "**not significant**"
    return "**confirmed**" if direction_ok else "**refuted**"


def write(a, runs, saved):
    """The study's report (OUTPUT/NAME/README.md) and figures."""
    res = saved["runs"]
    out = a.out
    os.makedirs(out, exist_ok=True)
    done = [r for r in runs if r["name"] in res]
    settings = []
    for r in runs:
        if r["setting"] not in [s["setting"] for s in settings]:
            settings.append(r)
    by_setting = {s["setting"]: [r for r in done if r["setting"] == s["setting"]] for s in settings}
    translate = a.task == "translate"
    comp = saved["compute"]
    train_h = sum(comp["train_seconds"].values()) / 3600
    meas_h = sum(comp["measure_seconds"].values()) / 3600
    data = saved["data"]
    L = [f"# Label-smoothing study: {a.name}", ""]
    what = ("bible en→es translation" if translate else "English bible language model")
    sub = f"a {data['rows']:,}-{'pair' if translate else 'line'} subset (data seed {data['data_seed']})" if data["subset"] else f"all {data['rows']:,} training {'pairs' if translate else 'lines'}"
    noise = f", {data['noisy_pairs']:,} of them ({100 * data['label_noise']:.0f}%) with another pair's target (label noise)" if data["label_noise"] else ""
    L += [f"{what}, trained on {sub}{noise}. {len(done)} of {len(runs)} runs finished"
          f" ({', '.join(s['setting'] for s in settings)} × seeds 1–{a.seeds}). CPU: {saved['cpu']}; compute: "
          f"{train_h:.2f} h of training and {meas_h:.2f} h of measuring, {a.threads} thread{'s' if a.threads != 1 else ''} per run.", ""]
    fit_args = f' --fit-args "{a.fit_args}"' if a.fit_args else ""
    L += ["Made by", "", "```sh",
          f"scripts/smoothing-study {a.name} --task {a.task}" + (f" --subset {a.subset}" if a.subset else "")
          + (f" --label-noise {a.label_noise:g}" if a.label_noise else "") + f" --vocab-size {a.vocab_size}"
          + f" --smoothing {a.smoothing} --seeds {a.seeds} --steps {a.steps} --patience {a.patience} --eval-every {a.eval_every}"
          + (f" --bpe-dropout {a.bpe_dropout}" if a.bpe_dropout != "0" else "") + (f" --style {a.style}" if a.style != "uniform" else "")
          + fit_args, "```", ""]
    L += [f"Each run trains `lmtrain fit`'s default recipe for the task with a budget of {a.steps} steps and early stopping"
          f" (validation NLL every {a.eval_every} steps, patience {a.patience}); every measure uses the best validation's"
          " weights (`--checkpoint best`). Seeds change the initialisation, dropout and batch order; the data and the"
          " tokenizer are the same for every run, so ε = 0 and ε > 0 of one seed form a pair.", ""]
    L += ["Measures: NLL and perplexity under teacher forcing on the whole split; ECE over 15 equal-width bins of top-1"
          f" confidence (token level); its 95% interval resamples test {'sentences' if translate else 'windows (the test file is one token stream, evaluated in windows of the context)'}"
          f" ({a.samples:,} resamples)."]
    if not translate:
        L[-1] += (f" Samples: greedy continuations (64 tokens) of the first five words of the first {a.prompts} test lines of eight"
              " or more words; seq-rep-4 = the share of a continuation's 4-grams that repeat an earlier one (Welleck et al."
              " 2020), averaged; looping = continuations with any repeated 4-gram; distinct-2 = distinct bigrams / bigrams."
              " Paired tests pool the windows (perplexity, ECE) or prompts (repetition) of every seed pair.")
    if translate:
        L[-1] += (f" BLEU and chrF2 by lmtrain's sacreBLEU-compatible scorer (`{first_signature(res)}`) on the first"
              f" {a.test_sentences or 'all'} test pairs; length ratio = output/reference words; *inference ECE* scores the"
              " model's own beam-4 outputs: the probability it gave each output token, against whether the token is on"
              " a longest common subsequence with the reference (Wang et al. 2020 label by TER alignment)."
              " Paired bootstrap of BLEU is sacreBLEU's (lmtrain `score --paired-bs`), pooled over seeds: the seeds'"
              " outputs are concatenated, so each resample draws sentences of every seed pair.")
    L += [""]
    if done and all(res[r["name"]]["best_step"] == res[r["name"]]["last_step"] == a.steps for r in done):
        L += [f"No run stopped early: each one's best validation was its last, at the {a.steps}-step budget, so these"
              " models were still improving and are compared at equal steps, not at convergence.", ""]

    # The main table: mean ± std over seeds per setting.
    L += ["## Results (mean ± std over seeds)", ""]
    head = ["setting", "seeds", "best epoch", "stopped at step", "train NLL", "valid NLL", "gap valid − train", "test ppl",
            "test ECE %", "conf − acc (test) %"]
    if translate:
        head += ["inference ECE %"] + [f"BLEU b{b}" for b in a.beam_list] + [f"ratio b{max(a.beam_list)} α=1", f"ratio b{max(a.beam_list)} α=0",
                                                                             f"empty b{max(a.beam_list)} α=0 %", f"short b{max(a.beam_list)} α=0 %"]
    else:
        head += ["seq-rep-4 %", "looping %", "distinct-2 %"]
    L += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    bmax = max(a.beam_list)
    for s in settings:
        rs = [res[r["name"]] for r in by_setting[s["setting"]]]
        if not rs:
            continue
        row = [s["setting"], str(len(rs)), fmt([m["best_epoch"] for m in rs], digits=1), fmt([m["last_step"] for m in rs], digits=0),
               fmt([m["train"]["nll"] for m in rs], digits=3), fmt([m["valid"]["nll"] for m in rs], digits=3),
               fmt([m["valid"]["nll"] - m["train"]["nll"] for m in rs], digits=3), fmt([m["test"]["ppl"] for m in rs]),
               fmt([m["test"]["ece"] for m in rs], 100), fmt([m["test"]["confidence"] - m["test"]["accuracy"] for m in rs], 100)]
        if translate:
            row += [fmt([m.get("inference", {}).get("ece") for m in rs], 100)]
            row += [fmt([m["decodes"].get(f"beam{b}-a1")["bleu"] if f"beam{b}-a1" in m["decodes"] else None for m in rs]) for b in a.beam_list]
            row += [fmt([m["decodes"].get(f"beam{bmax}-a1", {}).get("ratio") for m in rs], digits=3),
                    fmt([m["decodes"].get(f"beam{bmax}-a0", {}).get("ratio") for m in rs], digits=3),
                    fmt([m["decodes"].get(f"beam{bmax}-a0", {}).get("empty") for m in rs], 100, 1),
                    fmt([m["decodes"].get(f"beam{bmax}-a0", {}).get("short") for m in rs], 100, 1)]
        else:
            row += [fmt([m["samples"]["seq_rep_4"] for m in rs], 100, 1), fmt([m["samples"]["looping"] for m in rs], 100, 0),
                    fmt([m["samples"]["distinct_2"] for m in rs], 100, 1)]
        L.append("| " + " | ".join(row) + " |")
    L += [""]

    # Claims.
    L += ["## The claims, on this data", ""]
    claims = claims_of(a, settings, by_setting, res, saved)
    L += claims
    L += [""]

    # Figures.
    figs = figures(a, settings, by_setting, res)
    L += ["## Figures", ""]
    for title, path in figs:
        L += [f"**{title}**", "", f"![{title}]({os.path.basename(path)})", ""]

    # Per-run appendix.
    L += ["## Every run", ""]
    head = ["run", "best step", "last step", "valid NLL", "test NLL", "test acc %", "test conf %", "test ECE % [95% CI]"]
    if translate:
        head += ["inference ECE % [95% CI]"] + [f"BLEU b{b} α={al:g}" for b in a.beam_list for al in ([1.0] if b == 1 else a.lenpen_list)]
    L += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in done:
        m = res[r["name"]]
        tf = m.get("teacher_forced")
        ci = f" [{100 * tf['ece_ci'][0]:.2f}, {100 * tf['ece_ci'][1]:.2f}]" if tf else ""
        row = [r["name"], str(m["best_step"]), str(m["last_step"]), f"{m['valid']['nll']:.4f}", f"{m['test']['nll']:.4f}",
               f"{100 * m['test']['accuracy']:.2f}", f"{100 * m['test']['confidence']:.2f}", f"{100 * m['test']['ece']:.2f}{ci}"]
        if translate:
            inf = m.get("inference")
            row += [f"{100 * inf['ece']:.2f} [{100 * inf['ece_ci'][0]:.2f}, {100 * inf['ece_ci'][1]:.2f}]" if inf else "–"]
            for b in a.beam_list:
                for al in ([1.0] if b == 1 else a.lenpen_list):
                    d = m["decodes"].get(f"beam{b}-a{al:g}")
                    row.append(f"{d['bleu']:.2f}" if d else "–")
        L.append("| " + " | ".join(row) + " |")
    L += [""]
    with open(os.path.join(out, "README.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(L))


def first_signature(res):
    for m in res.values():
        for d in m.get("decodes", {}).values():
            return d["signature"]
    return ""


def pairs_of(by_setting, base_setting, setting):
    """(base run measures, system run measures) per seed both have."""
    base = {r["seed"]: r["name"] for r in by_setting.get(base_setting, [])}
    return [(base[r["seed"]], r["name"]) for r in by_setting.get(setting, []) if r["seed"] in base]


def claims_of(a, settings, by_setting, res, saved):
    L = []
    translate = a.task == "translate"
    bases = {}
    for s in settings:
        if s["eps"] == 0:
            bases[(s["style"], s["bpe"])] = s["setting"]
    for s in settings:
        if s["eps"] == 0 or (s["style"], s["bpe"]) not in bases:
            continue
        base = bases[(s["style"], s["bpe"])]
        pairs = pairs_of(by_setting, base, s["setting"])
        if not pairs:
            continue
        n = len(pairs)
        L += [f"### ε = {s['eps']:g} against ε = 0 ({s['setting']} vs {base}, {n} seed pair{'s' if n > 1 else ''})", ""]
        # Perplexity: paired bootstrap of test NLL per token, sentences pooled over seeds.
        tfb = [res[b].get("teacher_forced") for b, _ in pairs]
        tfs = [res[x].get("teacher_forced") for _, x in pairs]
        if all(tfb) and all(tfs):
            nb = pooled([t["sentence_nll"] for t in tfb])
            ns = pooled([t["sentence_nll"] for t in tfs])
            toks = pooled([t["sentence_tokens"] for t in tfb])
            d = mean_difference(nb, ns, a.samples, toks)
            pb, ps = mean_std([res[b]["test"]["ppl"] for b, _ in pairs])[0], mean_std([res[x]["test"]["ppl"] for _, x in pairs])[0]
            L.append(f"- **Perplexity rises with smoothing** (Vaswani et al. 2017) — {verdict(d, d['diff'] > 0)}: test perplexity"
                     f" {pb:.2f} → {ps:.2f}; NLL per token {d['diff']:+.4f} nats, 95% CI [{d['ci'][0]:+.4f}, {d['ci'][1]:+.4f}], p = {d['p']:.3g}.")
            # ECE, teacher forced: paired bootstrap of the difference, pooled.
            sb = [sentence_bins_from(res[b]) for b, _ in pairs]
            ss = [sentence_bins_from(res[x]) for _, x in pairs]
            if all(sb) and all(ss):
                e = ece_difference(pooled(sb), pooled(ss), a.samples)
                eb, es = ece_of(pooled(sb))[0], ece_of(pooled(ss))[0]
                L.append(f"- **Smoothing lowers calibration error** (Müller et al. 2019), teacher forced — {verdict(e, e['diff'] < 0)}:"
                         f" test ECE {100 * eb:.2f}% → {100 * es:.2f}% (pooled), difference {100 * e['diff']:+.2f} points,"
                         f" 95% CI [{100 * e['ci'][0]:+.2f}, {100 * e['ci'][1]:+.2f}], p = {e['p']:.3g}.")
        over = [(res[b]["test"]["confidence"] - res[b]["test"]["accuracy"], res[x]["test"]["confidence"] - res[x]["test"]["accuracy"]) for b, x in pairs]
        L.append(f"- Over-confidence (mean confidence − accuracy, test, best checkpoint): ε = 0 {fmt([o[0] for o in over], 100)} points,"
                 f" ε = {s['eps']:g} {fmt([o[1] for o in over], 100)} points.")
        if translate:
            ib = [res[b].get("inference") for b, _ in pairs]
            is_ = [res[x].get("inference") for _, x in pairs]
            if all(ib) and all(is_):
                L.append(f"- Inference calibration (beam 4 outputs): ECE {fmt([i['ece'] for i in ib], 100)}% at ε = 0,"
                         f" {fmt([i['ece'] for i in is_], 100)}% at ε = {s['eps']:g}; mean confidence {fmt([i['confidence'] for i in ib], 100)}% vs"
                         f" {fmt([i['confidence'] for i in is_], 100)}%, tokens right {fmt([i['accuracy'] for i in ib], 100)}% vs"
                         f" {fmt([i['accuracy'] for i in is_], 100)}%.")
            sig = saved.get("significance", {})
            p = sig.get(f"{s['setting']}:pooled")
            per = [sig.get(f"{s['setting']}:s{res_seed(x)}") for _, x in pairs]
            if p:
                d = {"p": p["p_value"]}
                diff = p["system_bleu"] - p["baseline_bleu"]
                L.append(f"- **Smoothing improves BLEU** (Vaswani et al.), beam 4 — {verdict(d, diff > 0)}: pooled BLEU"
                         f" {p['baseline_bleu']:.2f} → {p['system_bleu']:.2f} ({diff:+.2f}; 95% intervals ±{p['baseline_half_width']:.2f} / ±{p['system_half_width']:.2f}),"
                         f" p = {p['p_value']:.3g} (paired bootstrap, {p['samples']} resamples, {p['sentences']} sentences)."
                         + (" Per seed: " + ", ".join(f"{q['baseline_bleu']:.2f} → {q['system_bleu']:.2f} (p = {q['p_value']:.3g})" for q in per if q) + "." if any(per) else ""))
            elif per and per[0]:
                q = per[0]
                diff = q["system_bleu"] - q["baseline_bleu"]
                L.append(f"- **Smoothing improves BLEU**, beam 4, one seed pair — {verdict({'p': q['p_value']}, diff > 0)}:"
                         f" {q['baseline_bleu']:.2f} → {q['system_bleu']:.2f}, p = {q['p_value']:.3g}.")
            # Implicit length penalty at a large beam (Liang et al. 2022): outputs shorter with smoothing at beam bmax, α = 0.
            bmax = max(a.beam_list)
            key = f"beam{bmax}-a0"
            if all(key in res[b].get("decodes", {}) and key in res[x].get("decodes", {}) for b, x in pairs):
                hb = pooled([res[b]["decodes"][key]["hyp_words"] for b, _ in pairs])
                hs = pooled([res[x]["decodes"][key]["hyp_words"] for _, x in pairs])
                rw = pooled([res[b]["decodes"][key]["ref_words"] for b, _ in pairs])
                d = ratio_difference(hb, hs, rw, a.samples)
                rb = sum(hb) / sum(rw)
                L.append(f"- **Smoothing shortens outputs at large beams** (an implicit length penalty, Liang et al. 2022), beam {bmax}, α = 0"
                         f" — {verdict(d, d['diff'] < 0)}: length ratio {rb:.3f} → {rb + d['diff']:.3f} ({d['diff']:+.3f},"
                         f" 95% CI [{d['ci'][0]:+.3f}, {d['ci'][1]:+.3f}], p = {d['p']:.3g}); empty outputs"
                         f" {fmt([res[b]['decodes'][key]['empty'] for b, _ in pairs], 100, 1)}% vs {fmt([res[x]['decodes'][key]['empty'] for _, x in pairs], 100, 1)}%,"
                         f" cut short {fmt([res[b]['decodes'][key]['short'] for b, _ in pairs], 100, 1)}% vs {fmt([res[x]['decodes'][key]['short'] for _, x in pairs], 100, 1)}%.")
        if not translate and all("seq_rep_4_each" in res[k]["samples"] for pair in pairs for k in pair):
            rb = pooled([res[b]["samples"]["seq_rep_4_each"] for b, _ in pairs])
            rs = pooled([res[x]["samples"]["seq_rep_4_each"] for _, x in pairs])
            d = mean_difference(rb, rs, a.samples)
            L.append(f"- **Smoothing makes greedy continuations less repetitive** — {verdict(d, d['diff'] < 0)}: seq-rep-4"
                     f" {100 * sum(rb) / len(rb):.1f}% → {100 * sum(rs) / len(rs):.1f}% ({100 * d['diff']:+.1f} points, 95% CI"
                     f" [{100 * d['ci'][0]:+.1f}, {100 * d['ci'][1]:+.1f}], p = {d['p']:.3g}, {len(rb)} continuations); looping"
                     f" {fmt([res[b]['samples']['looping'] for b, _ in pairs], 100, 0)}% vs {fmt([res[x]['samples']['looping'] for _, x in pairs], 100, 0)}%.")
        gap = [(res[b]["valid"]["nll"] - res[b]["train"]["nll"], res[x]["valid"]["nll"] - res[x]["train"]["nll"]) for b, x in pairs]
        L.append(f"- Generalisation gap (valid − train NLL at the best checkpoint; smoothing's loss is not NLL, so compare gaps):"
                 f" ε = 0 {fmt([g[0] for g in gap], digits=3)}, ε = {s['eps']:g} {fmt([g[1] for g in gap], digits=3)};"
                 f" best epoch {fmt([res[b]['best_epoch'] for b, _ in pairs], digits=1)} vs {fmt([res[x]['best_epoch'] for _, x in pairs], digits=1)}.")
        L.append("")
    return L


def res_seed(name):
    return int(name.rsplit("-s", 1)[1])


def sentence_bins_from(m):
    """A run's teacher-forced sentence bins, rebuilt from its saved token dump."""
    path = m.get("_dump")
    if not path or not os.path.exists(path):
        return None
    dump = read_dump(path)
    return [sentence_bins(dump[k]["confidence"], dump[k]["correct"]) for k in sorted(dump)]


def figures(a, settings, by_setting, res):
    out = a.out
    figs = []
    seed1 = [next((r for r in by_setting[s["setting"]] if r["seed"] == 1), None) for s in settings]
    seed1 = [r for r in seed1 if r]
    if seed1:
        path = os.path.join(out, "reliability.svg")
        side_by_side([os.path.join(a.dir, r["name"], "reliability.svg") for r in seed1], [f"{r['setting']} (seed 1)" for r in seed1], path)
        figs.append(("Reliability diagrams, test split, teacher forced, seed 1", path))
    # Confidence and accuracy over training (validation), mean over seeds, one colour per setting.
    series_c, series_g = [], []
    for i, s in enumerate(settings):
        rs = [res[r["name"]] for r in by_setting[s["setting"]]]
        if not rs:
            continue
        steps = sorted(set.intersection(*[{v["step"] for v in m["validations"]} for m in rs]))
        col = COLORS[i % len(COLORS)]

        def mean_at(key, st):
            return statistics.mean(next(v[key] for v in m["validations"] if v["step"] == st) for m in rs)
        ep = [mean_at("epoch", st) for st in steps]
        series_c.append({"name": f"{s['setting']} confidence", "color": col, "points": list(zip(ep, [100 * mean_at("confidence", st) for st in steps]))})
        series_c.append({"name": f"{s['setting']} accuracy", "color": col, "dashed": True,
                         "points": list(zip(ep, [100 * mean_at("accuracy", st) for st in steps]))})
        series_g.append({"name": s["setting"], "color": col,
                         "points": list(zip(ep, [100 * (mean_at("confidence", st) - mean_at("accuracy", st)) for st in steps]))})
    if series_c:
        path = os.path.join(out, "confidence-over-training.svg")
        with open(path, "w", encoding="utf-8") as f:
            f.write(svg_document([chart(0, 0, 620, 360, "Validation: confidence (solid), accuracy (dashed)", "epoch", "%", series_c),
                                  chart(620, 0, 620, 360, "Over-confidence: confidence − accuracy", "epoch", "points", series_g, hline=0)], 1240, 360))
        figs.append(("Mean top-1 confidence and accuracy on validation over training (mean over seeds); above 0 on the right = over-confident", path))
    if a.task == "translate":
        sb, sr = [], []
        for i, s in enumerate(settings):
            rs = [res[r["name"]] for r in by_setting[s["setting"]]]
            if not rs:
                continue
            col = COLORS[i % len(COLORS)]
            for al in a.lenpen_list:
                pts_b, pts_r = [], []
                for b in a.beam_list:
                    key = f"beam{b}-a1" if b == 1 else f"beam{b}-a{al:g}"
                    vals = [m["decodes"][key] for m in rs if key in m.get("decodes", {})]
                    if vals:
                        pts_b.append((b, statistics.mean(v["bleu"] for v in vals)))
                        pts_r.append((b, statistics.mean(v["ratio"] for v in vals)))
                sb.append({"name": f"{s['setting']} α={al:g}", "color": col, "dashed": al == 0, "points": pts_b})
                sr.append({"name": f"{s['setting']} α={al:g}", "color": col, "dashed": al == 0, "points": pts_r})
        if sb:
            path = os.path.join(out, "beam-size.svg")
            with open(path, "w", encoding="utf-8") as f:
                f.write(svg_document([chart(0, 0, 620, 360, "BLEU against beam size (mean over seeds)", "beam size", "BLEU", sb, xlog=True, xticks=a.beam_list),
                                      chart(620, 0, 620, 360, "Output/reference length against beam size", "beam size", "length ratio", sr, xlog=True, xticks=a.beam_list, hline=1)], 1240, 360))
            figs.append(("BLEU and length ratio against beam size, α = 1 solid, α = 0 dashed", path))
    return figs
