"""Driver of scripts/smoothing-study (standard library only).

A study is a named set of runs: every combination of the --smoothing, --style and --bpe-dropout lists, each with
--seeds seeds, on one data setting (the training file, or a --subset of it, with --label-noise). Its files live in
RUNS/NAME: the data actually trained on, the shared tokenizer, one run directory per setting and seed, and
each run's measures (RUN/study/*.json). Everything is resumable: a finished run is skipped, an interrupted one is
resumed with `fit --resume`, and each measure is saved as it is made. The report goes to OUTPUT/NAME.
"""
import argparse
import fcntl
import hashlib
import json
import math
import os
import random
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import study_report  # noqa: E402

BIN = os.environ.get("LMTRAIN_BIN", ".build/release/lmtrain")


def log(msg):
    print(f"study: {msg}", file=sys.stderr, flush=True)


def run(cmd, stdout=None, stdin=None, ok=(0,)):
    """Runs a command with its progress on our stderr; returns (status, captured stdout)."""
    p = subprocess.run(cmd, stdout=subprocess.PIPE if stdout is None else stdout, stdin=stdin, text=True)
    if p.returncode not in ok:
        sys.exit(f"study: {' '.join(cmd)} failed with status {p.returncode}")
    return p.returncode, p.stdout


def last_json(text):
    return json.loads(text.strip().split("\n")[-1])


def save_json(obj, path):
    """Atomically: a kill leaves the old file or the new one."""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def load_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def floats(s):
    return [float(x) for x in s.split(",") if x != ""]


def parse():
    ap = argparse.ArgumentParser(prog="scripts/smoothing-study", description="the label-smoothing study")
    ap.add_argument("name", help="study name: its runs go to RUNS/NAME, its report to OUTPUT/NAME")
    ap.add_argument("--task", choices=["translate", "lm"], default="translate")
    ap.add_argument("--train", help="training file (default: the bible's, of the task)")
    ap.add_argument("--valid", help="validation file (default: the bible's)")
    ap.add_argument("--test", help="test file (default: the bible's)")
    ap.add_argument("--subset", type=int, default=0, help="train on N training pairs (or lines) drawn with --data-seed")
    ap.add_argument("--label-noise", type=float, default=0.0,
                    help="translation: this share of training pairs get another pair's target (a seeded derangement)")
    ap.add_argument("--data-seed", type=int, default=1, help="seed of the subset and of the noise (the same for every run)")
    ap.add_argument("--smoothing", default="0,0.1,0.2", help="list of ε")
    ap.add_argument("--style", default="uniform", help="list of smoothing styles (uniform, fairseq, unigram)")
    ap.add_argument("--bpe-dropout", default="0", help="list of BPE-dropout probabilities (translation)")
    ap.add_argument("--seeds", type=int, default=3, help="seeds per setting (1, 2, …)")
    ap.add_argument("--vocab-size", type=int, default=8000, help="of the study's one tokenizer, trained on its training data")
    ap.add_argument("--steps", type=int, default=8000, help="step budget of each run (the schedule's length)")
    ap.add_argument("--patience", type=int, default=8, help="early stopping: validations without a better NLL")
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--fit-args", default="", help="more `lmtrain fit` options, e.g. \"--preset tiny --dropout 0.3\"")
    ap.add_argument("--beams", default="1,4,12,50", help="beam sizes decoded (translation)")
    ap.add_argument("--lenpens", default="1,0", help="length penalties α decoded at each beam > 1")
    ap.add_argument("--test-sentences", type=int, default=500, help="test pairs decoded (a prefix; 0: all)")
    ap.add_argument("--samples", type=int, default=1000, help="bootstrap resamples")
    ap.add_argument("--prompts", type=int, default=100, help="lm: test lines whose first words are continued greedily")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--runs", default="runs/study", help="where studies keep their runs")
    ap.add_argument("--output", default="docs/smoothing-study", help="where studies write their reports")
    ap.add_argument("--no-train", action="store_true", help="measure and report the finished runs only")
    ap.add_argument("--reverse", action="store_true",
                    help="train the runs last first: a second process on the same study (the other core) takes runs from the other end")
    ap.add_argument("--no-measure", action="store_true", help="train only (measure later, e.g. with --no-train)")
    ap.add_argument("--report-only", action="store_true", help="rewrite the report from the saved measures")
    a = ap.parse_args()
    a.smoothing_list, a.bpe_list = floats(a.smoothing), floats(a.bpe_dropout)
    a.style_list = [s for s in a.style.split(",") if s]
    a.beam_list, a.lenpen_list = [int(b) for b in a.beams.split(",")], floats(a.lenpens)
    bible = "corpora/bible"
    if a.task == "translate":
        d = (f"{bible}/bible.en-es.train.tsv", f"{bible}/bible.en-es.valid.tsv", f"{bible}/bible.en-es.test.tsv")
    else:
        d = (f"{bible}/web.en.train.txt", f"{bible}/web.en.valid.txt", f"{bible}/web.en.test.txt")
    a.train, a.valid, a.test = a.train or d[0], a.valid or d[1], a.test or d[2]
    problems = []
    if not a.smoothing_list or any(not 0 <= e < 1 for e in a.smoothing_list):
        problems.append("--smoothing must list values in [0, 1)")
    if not 0 <= a.label_noise < 1:
        problems.append("--label-noise must be in [0, 1)")
    if a.label_noise > 0 and a.task != "translate":
        problems.append("--label-noise is for translation studies")
    if a.seeds < 1:
        problems.append("--seeds must be at least 1")
    if any(b < 1 for b in a.beam_list):
        problems.append("--beams must be at least 1")
    if any(p > 0 for p in a.bpe_list) and a.task != "translate":
        problems.append("--bpe-dropout is for translation studies")
    for f in (a.train, a.valid, a.test):
        if not os.path.isfile(f):
            problems.append(f"{f}: file not found")
    if not os.access(BIN, os.X_OK):
        problems.append(f"{BIN} not found: build it with `swift build -c release` (or set LMTRAIN_BIN)")
    if problems:
        sys.exit("study: " + problems[0])
    a.dir = os.path.join(a.runs, a.name)
    a.out = os.path.join(a.output, a.name)
    return a


def settings(a):
    """(run name, ε, style, BPE-dropout, seed) of every run, seeds outermost: a study stopped part-way has
    whole seeds of every setting, which can be compared, rather than every seed of a few."""
    out = []
    for seed in range(1, a.seeds + 1):
        for style in a.style_list:
            for bpe in a.bpe_list:
                for eps in a.smoothing_list:
                    name = f"eps{eps:g}" + (f"-{style}" if style != "uniform" else "") + (f"-bpe{bpe:g}" if bpe > 0 else "")
                    out.append({"setting": name, "name": f"{name}-s{seed}", "eps": eps, "style": style, "bpe": bpe, "seed": seed})
    return out


# MARK: - Data


def read_rows(path):
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f if line.strip()]


def prepare_data(a):
    """The study's training file (the subset, with label noise), the test prefix, and the shared tokenizer."""
    data = os.path.join(a.dir, "data")
    os.makedirs(data, exist_ok=True)
    info_path = os.path.join(data, "data.json")
    ext = ".tsv" if a.task == "translate" else ".txt"
    train = os.path.join(data, "train" + ext)
    if not os.path.exists(info_path):
        rows = read_rows(a.train)
        rng = random.Random(a.data_seed)
        if a.subset and a.subset < len(rows):
            rows = [rows[i] for i in sorted(rng.sample(range(len(rows)), a.subset))]
        noisy = 0
        if a.label_noise > 0:
            cols = [r.split("\t") for r in rows]
            picked = sorted(rng.sample(range(len(cols)), int(round(a.label_noise * len(cols)))))
            # A derangement of the picked pairs' targets: each gets another picked pair's target (Sattolo's cycle).
            targets = [cols[i][-1] for i in picked]
            perm = list(range(len(picked)))
            for i in range(len(perm) - 1, 0, -1):
                j = rng.randrange(i)
                perm[i], perm[j] = perm[j], perm[i]
            for k, i in enumerate(picked):
                if cols[i][-1] != targets[perm[k]]:
                    noisy += 1
                cols[i][-1] = targets[perm[k]]
            rows = ["\t".join(c) for c in cols]
        with open(train + ".tmp", "w", encoding="utf-8") as f:
            f.write("".join(r + "\n" for r in rows))
        os.replace(train + ".tmp", train)
        tokens = sum(len(r.split()) for r in rows)
        save_json({"source": a.train, "rows": len(rows), "subset": a.subset, "label_noise": a.label_noise,
                   "noisy_pairs": noisy, "data_seed": a.data_seed, "words": tokens,
                   "sha256": hashlib.sha256(open(train, "rb").read()).hexdigest()}, info_path)
    tok = os.path.join(a.dir, "tokenizer.json")
    if not os.path.exists(tok):
        log(f"training the study's tokenizer ({a.vocab_size} tokens) on {train}")
        run([BIN, "tokenizer", "train", train, "--vocab-size", str(a.vocab_size), "--output", tok, "--threads", str(a.threads)],
            stdout=sys.stderr)
    if a.task == "translate":
        rows = [r.split("\t") for r in read_rows(a.test)]
        if a.test_sentences > 0:
            rows = rows[: a.test_sentences]
        for name, col in (("test.src", -2), ("test.ref", -1)):
            path = os.path.join(data, name)
            if not os.path.exists(path):
                with open(path + ".tmp", "w", encoding="utf-8") as f:
                    f.write("".join(r[col] + "\n" for r in rows))
                os.replace(path + ".tmp", path)
        pairs = os.path.join(data, "test.tsv")
        if not os.path.exists(pairs):
            with open(pairs + ".tmp", "w", encoding="utf-8") as f:
                f.write("".join(f"{r[-2]}\t{r[-1]}\n" for r in rows))
            os.replace(pairs + ".tmp", pairs)
    return train, tok


# MARK: - Training


def train_run(a, r, train, tok):
    """Trains (or resumes) one run; RUN/study/trained marks it finished."""
    rd = os.path.join(a.dir, r["name"])
    done = os.path.join(rd, "study", "trained")
    if os.path.exists(done):
        return False
    if os.path.exists(os.path.join(rd, "config.json")):
        log(f"resuming {rd}")
        status, _ = run([BIN, "fit", "--resume", rd, "--threads", str(a.threads)], stdout=sys.stderr, ok=(0, 1))
        if status != 0:
            # A run killed after its last step but before the mark: resume refuses a spent budget or a run
            # whose patience ran out; both are finished. Anything else is a failure.
            if last_step(rd) < a.steps and not finished_early(rd, a):
                sys.exit(f"study: resuming {rd} failed")
    else:
        if os.path.exists(rd):
            shutil.rmtree(rd)   # a run killed before it wrote its config has nothing to keep
        cmd = [BIN, "fit", train, "--valid", a.valid, "--output", rd, "--tokenizer", tok, "--smoothing", str(r["eps"]),
               "--smoothing-style", r["style"], "--seed", str(r["seed"]), "--steps", str(a.steps),
               "--patience", str(a.patience), "--eval-every", str(a.eval_every), "--threads", str(a.threads),
               "--log-every", "50"]
        if a.task == "translate":
            cmd += ["--bleu-sentences", "0"]
        if r["bpe"] > 0:
            cmd += ["--bpe-dropout", str(r["bpe"])]
        cmd += a.fit_args.split()
        run(cmd, stdout=sys.stderr)
    # fit also ends with status 0 when interrupted (Ctrl-C saves a checkpoint and exits): only a spent budget or
    # a run out of patience is finished; anything else stays unmarked, to be resumed by the next sitting.
    if last_step(rd) < a.steps and not finished_early(rd, a):
        sys.exit(f"study: {rd} stopped at step {last_step(rd)} of {a.steps} (interrupted?): run the study again to resume it")
    os.makedirs(os.path.dirname(done), exist_ok=True)
    open(done, "w").close()
    return True


def in_use(rd):
    """Whether a live fit holds the run's lock (fit's flock on RUN/lock; the kernel drops it when fit ends)."""
    path = os.path.join(rd, "lock")
    if not os.path.exists(path):
        return False
    with open(path, "rb") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
    return False


def last_step(rd):
    with open(os.path.join(rd, "metrics.jsonl"), encoding="utf-8") as f:
        return max([json.loads(l).get("step", 0) for l in f if l.strip()] or [0])


def finished_early(rd, a):
    """Whether the run's validations show its patience ran out."""
    vals = validations(rd)
    if not vals:
        return False
    best = min(range(len(vals)), key=lambda i: vals[i]["nll"])
    return len(vals) - 1 - best >= a.patience


def validations(rd):
    out = []
    with open(os.path.join(rd, "metrics.jsonl"), encoding="utf-8") as f:
        for line in f:
            if line.strip():
                o = json.loads(line)
                if o.get("split") == "valid":
                    out.append(o)
    return out


# MARK: - Measures


def measure(a, r, train):
    """Every measure of one finished run, each saved under RUN/study as it is made; returns them all."""
    rd = os.path.join(a.dir, r["name"])
    sd = os.path.join(rd, "study")
    path = os.path.join(sd, "measures.json")
    m = load_json(path) if os.path.exists(path) else {}
    if m.get("complete"):
        return m
    data = os.path.join(a.dir, "data")
    th = ["--threads", str(a.threads)]
    vals = validations(rd)
    best = min(vals, key=lambda v: v["nll"])
    m["validations"] = [{k: v.get(k) for k in ("step", "epoch", "nll", "accuracy", "confidence")} for v in vals]
    m["best_step"], m["best_epoch"], m["last_step"] = best["step"], best.get("epoch"), vals[-1]["step"]
    for split, f in (("train", train), ("valid", a.valid), ("test", a.test)):
        if split not in m:
            extra = ["--tokens", os.path.join(sd, "test.tokens.jsonl")] if split == "test" else []
            m[split] = last_json(run([BIN, "eval", rd, f, "--checkpoint", "best", *th, *extra])[1])
            save_json(m, path)
    if a.task == "translate":
        src, ref = os.path.join(data, "test.src"), os.path.join(data, "test.ref")
        m.setdefault("decodes", {})
        for beam in a.beam_list:
            for alpha in ([1.0] if beam == 1 else a.lenpen_list):
                key = f"beam{beam}-a{alpha:g}"
                if key in m["decodes"]:
                    continue
                hyp = os.path.join(sd, f"test.{key}.txt")
                t0 = time.time()
                with open(src, encoding="utf-8") as fin, open(hyp + ".tmp", "w", encoding="utf-8") as fout:
                    run([BIN, "translate", rd, "--checkpoint", "best", "--beam", str(beam), "--lenpen", f"{alpha:g}",
                         "--batch-size", "32" if beam <= 12 else "8", *th], stdout=fout, stdin=fin)
                os.replace(hyp + ".tmp", hyp)
                s = last_json(run([BIN, "score", "--ref", ref, hyp])[1])
                d = {"bleu": s["bleu"], "chrf2": s["chrf2"], "ratio": s["hyp_len"] / max(1, s["ref_len"]),
                     "seconds": time.time() - t0, "signature": s["bleu_signature"]}
                d.update(study_report.output_shape(hyp, ref))
                m["decodes"][key] = d
                save_json(m, path)
        # Inference calibration: the model's own beam-4 outputs scored as targets, each token labelled by
        # whether it lies on a longest common subsequence with the reference (in the tokenizer's pieces).
        if "inference" not in m:
            hyp = os.path.join(sd, "test.beam4-a1.txt")
            if os.path.exists(hyp):
                # Empty outputs have no tokens to score (and a TSV pair with an empty side is skipped): leave them
                # out, remembering which test line each scored pair is.
                pairs, lines = os.path.join(sd, "test.beam4.tsv"), []
                with open(src, encoding="utf-8") as fs, open(hyp, encoding="utf-8") as fh, open(pairs, "w", encoding="utf-8") as fo:
                    for i, (s_line, h_line) in enumerate(zip(fs, fh)):
                        if h_line.strip():
                            fo.write(f"{s_line.rstrip(chr(10))}\t{h_line.rstrip(chr(10))}\n")
                            lines.append(i)
                dump = os.path.join(sd, "test.beam4.tokens.jsonl")
                run([BIN, "eval", rd, pairs, "--checkpoint", "best", "--no-calibration", "--tokens", dump, *th])
                m["inference"] = study_report.inference_calibration(dump, os.path.join(sd, "test.tokens.jsonl"),
                                                                    a.samples, lines)
                save_json(m, path)
    else:
        if "samples" not in m:
            m["samples"] = lm_samples(a, rd)
            save_json(m, path)
    # Teacher-forced calibration with CIs, and each sentence's (or LM window's) NLL, from the test split's dump.
    m["_dump"] = os.path.join(sd, "test.tokens.jsonl")
    if "teacher_forced" not in m:
        m["teacher_forced"] = study_report.teacher_forced_calibration(os.path.join(sd, "test.tokens.jsonl"), a.samples)
        # The dump must agree with eval's own ECE (the same tokens, the same bins).
        if abs(m["teacher_forced"]["ece"] - m["test"]["ece"]) > 1e-4:
            sys.exit(f"study: {rd}: ECE from the token dump {m['teacher_forced']['ece']} differs from eval's {m['test']['ece']}")
        save_json(m, path)
    m["complete"] = True
    save_json(m, path)
    return m


def lm_samples(a, rd):
    """Greedy continuations of the first five words of test lines: repetition within each continuation."""
    lines = [l for l in read_rows(a.test) if len(l.split()) >= 8][: a.prompts]
    outs = []
    for l in lines:
        prompt = " ".join(l.split()[:5])
        _, text = run([BIN, "generate", rd, "--checkpoint", "best", "--prompt", prompt, "--greedy", "--max-tokens", "64",
                       "--threads", str(a.threads)])
        outs.append(text.strip())
    return study_report.repetition(outs)


# MARK: - Main


def main():
    a = parse()
    os.makedirs(a.dir, exist_ok=True)
    runs = settings(a)
    if a.report_only:
        # The committed results.json holds no per-sentence lists; the paired tests read each run's own measures.
        saved = load_json(os.path.join(a.out, "results.json"))
        for name in saved["runs"]:
            path = os.path.join(a.dir, name, "study", "measures.json")
            if os.path.exists(path):
                saved["runs"][name] = load_json(path)
        study_report.write(a, runs, saved)
        return
    train, tok = prepare_data(a)
    clock_path = os.path.join(a.dir, "compute.json")
    compute = load_json(clock_path) if os.path.exists(clock_path) else {"train_seconds": {}, "measure_seconds": {}}
    if not a.no_train:
        started, trained = time.time(), 0
        order = list(enumerate(runs))[::-1] if a.reverse else list(enumerate(runs))
        for k, (i, r) in enumerate(order):
            left = len(runs) - k
            eta = f", about {(time.time() - started) / trained * left / 60:.0f} min of training left" if trained else ""
            if in_use(os.path.join(a.dir, r["name"])):
                log(f"run {i + 1}/{len(runs)}: {r['name']} is being trained by another process: left to it")
                continue
            if not os.path.exists(os.path.join(a.dir, r["name"], "study", "trained")):
                log(f"run {i + 1}/{len(runs)}: {r['name']} (ε = {r['eps']:g}, {r['style']}, BPE-dropout {r['bpe']:g}, seed {r['seed']}){eta}")
            t0 = time.time()
            if train_run(a, r, train, tok):
                trained += 1
                compute["train_seconds"][r["name"]] = compute["train_seconds"].get(r["name"], 0) + time.time() - t0
                save_json(compute, clock_path)
    if a.no_measure:
        return
    results = {}
    for i, r in enumerate(runs):
        if not os.path.exists(os.path.join(a.dir, r["name"], "study", "trained")):
            continue
        t0 = time.time()
        was = os.path.exists(os.path.join(a.dir, r["name"], "study", "measures.json"))
        m = measure(a, r, train)
        if not was or time.time() - t0 > 5:
            log(f"measured {r['name']} ({i + 1}/{len(runs)})")
            compute["measure_seconds"][r["name"]] = compute["measure_seconds"].get(r["name"], 0) + time.time() - t0
            save_json(compute, clock_path)
        results[r["name"]] = m
    os.makedirs(a.out, exist_ok=True)
    saved = {"runs": results, "compute": compute, "data": load_json(os.path.join(a.dir, "data", "data.json")),
             "cpu": cpu_name(), "options": {k: v for k, v in vars(a).items() if isinstance(v, (int, float, str, list))}}
    if a.task == "translate":
        saved["significance"] = significance(a, runs, results)
    save_json(study_report.summary(saved), os.path.join(a.out, "results.json"))
    study_report.write(a, runs, saved)


def significance(a, runs, results):
    """Paired bootstrap of beam-4 BLEU, each ε > 0 against ε = 0 of the same style and BPE-dropout: per seed
    pair, and pooled (the seeds' test outputs concatenated, so each resample draws sentences of every seed)."""
    out = {}
    ref = os.path.join(a.dir, "data", "test.ref")
    refs = read_rows_keep(ref)
    by = {r["name"]: r for r in runs}
    for r in runs:
        if r["eps"] == 0 or r["name"] not in results:
            continue
        base = dict(r, eps=0.0)
        base_name = next((b["name"] for b in runs if b["eps"] == 0 and b["style"] == r["style"] and b["bpe"] == r["bpe"]
                          and b["seed"] == r["seed"]), None)
        if base_name is None or base_name not in results:
            continue
        key = f"{r['setting']}:s{r['seed']}"
        hyp_a = os.path.join(a.dir, base_name, "study", "test.beam4-a1.txt")
        hyp_b = os.path.join(a.dir, r["name"], "study", "test.beam4-a1.txt")
        out[key] = paired_bs(ref, hyp_a, hyp_b, a.samples)
    for r in runs:
        if r["eps"] == 0 or r["seed"] != 1:
            continue
        seeds = [s for s in runs if s["setting"] == r["setting"] and s["name"] in results]
        pairs = []
        for s in seeds:
            b = next((x for x in runs if x["eps"] == 0 and x["style"] == s["style"] and x["bpe"] == s["bpe"]
                      and x["seed"] == s["seed"] and x["name"] in results), None)
            if b:
                pairs.append((b["name"], s["name"]))
        if len(pairs) < 2:
            continue
        pooled = os.path.join(a.dir, "pooled")
        os.makedirs(pooled, exist_ok=True)
        pa, pb, pr = (os.path.join(pooled, f"{r['setting']}.{x}.txt") for x in ("base", "system", "ref"))
        for path, names in ((pa, [p[0] for p in pairs]), (pb, [p[1] for p in pairs])):
            with open(path, "w", encoding="utf-8") as f:
                for n in names:
                    f.write("".join(l + "\n" for l in read_rows_keep(os.path.join(a.dir, n, "study", "test.beam4-a1.txt"))))
        with open(pr, "w", encoding="utf-8") as f:
            f.write("".join(l + "\n" for l in refs) * len(pairs))
        out[f"{r['setting']}:pooled"] = paired_bs(pr, pa, pb, a.samples)
        out[f"{r['setting']}:pooled"]["seeds"] = len(pairs)
    return out


def read_rows_keep(path):
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f]


def paired_bs(ref, base, system, samples):
    return last_json(run([BIN, "score", "--ref", ref, "--paired-bs", base, system, "--samples", str(samples)])[1])


def cpu_name():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            info = f.read()
        name = next(l.split(":", 1)[1].strip() for l in info.splitlines() if l.startswith("model name"))
        fam = next(l.split(":", 1)[1].strip() for l in info.splitlines() if l.startswith("cpu family"))
        model = next(l.split(":", 1)[1].strip() for l in info.splitlines() if l.startswith("model\t"))
        return f"{name} (family {fam}, model {model}), {os.cpu_count()} cores"
    except (OSError, StopIteration):
        return "unknown CPU"


if __name__ == "__main__":
    main()
