"""lmtrain on a busy machine: training and decoding speed alone, beside a plain busy loop, and beside a second
lmtrain doing the same, each competitor started in its own session (as from another terminal, so the kernel's
per-session CPU grouping gives each about half of the machine). The fair share of a 2-thread lmtrain beside
one other CPU-bound session on 2 cores is one core: about its own 1-thread speed. `--baseline BIN` measures
another build (an older commit's) in the same run, side by side. Rewrites the busy-machine section of
BENCHMARKS.md.
Usage: scripts/bench busy [--run TRANSLATION_RUN] [--baseline BIN] [--repeats N] [--sentences N]"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from bench_common import LMTRAIN, bible_split, cpu_slug, lmtrain_json, machine_line, median, write_section

TRAIN = ["bench", "train", "--vocab-size", "8192", "--d-model", "256", "--layers", "4", "--context", "128",
         "--batch-size", "16", "--repeats", "8", "--warmup", "2"]


def start_busy_loop():
    return subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)


def train_speed(binary, threads, competitor):
    """One measurement: tokens/s of one `bench train` (a list of two beside a second lmtrain, both measured)."""
    cmd = [binary] + TRAIN + ["--threads", str(threads)]
    if competitor == "lmtrain":
        procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, start_new_session=True) for _ in range(2)]
        outs = [p.communicate()[0] for p in procs]
        return [json.loads(o.strip().splitlines()[-1])["train_tokens_per_s"] for o in outs]
    busy = start_busy_loop() if competitor == "busy loop" else None
    try:
        time.sleep(0.2 if busy else 0)
        return [lmtrain_json(cmd[1:], binary=binary)["train_tokens_per_s"]]
    finally:
        if busy:
            busy.kill()
            busy.wait()


def decode_speed(binary, run, src, threads, competitor):
    """Sentences/s of `translate --beam 4` (the decoding time lmtrain reports, model loading excluded)."""
    def one():
        with open(src, encoding="utf-8") as fin:
            p = subprocess.Popen([binary, "translate", run, "--beam", "4", "--batch-size", "32", "--threads", str(threads)],
                                 stdin=fin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
            out, err = p.communicate()
        if p.returncode != 0:
            sys.exit(f"bench busy: translate failed: {err.strip().splitlines()[-1] if err.strip() else p.returncode}")
        seconds = float(err.strip().splitlines()[-1].split(" in ")[1].split(" s")[0])
        return len(out.split("\n")) - 1, seconds
    if competitor == "lmtrain":
        # Two decoders at once: run them as threads of this script so both start together.
        import concurrent.futures
        with concurrent.futures.ThreadPoolExecutor(2) as ex:
            results = list(ex.map(lambda _: one(), range(2)))
        return [n / s for n, s in results]
    busy = start_busy_loop() if competitor == "busy loop" else None
    try:
        n, s = one()
        return [n / s]
    finally:
        if busy:
            busy.kill()
            busy.wait()


def main():
    ap = argparse.ArgumentParser(prog="scripts/bench busy")
    ap.add_argument("--run", help="a translation run to decode with (default: no decoding rows)")
    ap.add_argument("--baseline", help="another lmtrain binary measured the same way, side by side")
    ap.add_argument("--repeats", type=int, default=3, help="measurements per cell; the median is reported")
    ap.add_argument("--sentences", type=int, default=300, help="test-book sentences decoded")
    a = ap.parse_args()
    if a.run and not os.path.exists(os.path.join(a.run, "config.json")):
        sys.exit(f"bench busy: {a.run} is not a run directory (no config.json)")
    if a.baseline and not os.access(a.baseline, os.X_OK):
        sys.exit(f"bench busy: {a.baseline} is not an executable")
    builds = [("this build", LMTRAIN)] + ([("baseline", a.baseline)] if a.baseline else [])
    tmp = tempfile.mkdtemp()
    src = None
    if a.run:
        en, _, _ = bible_split("test", tmp)
        src = os.path.join(tmp, "src.en")
        with open(en, encoding="utf-8") as f, open(src, "w", encoding="utf-8") as g:
            g.writelines(f.readlines()[:a.sentences])
    rows = []
    for label, binary in builds:
        alone1 = median([train_speed(binary, 1, None)[0] for _ in range(a.repeats)])
        for competitor in (None, "busy loop", "lmtrain"):
            speeds = [train_speed(binary, 2, competitor) for _ in range(a.repeats)]
            rows.append(("training, config A", label, competitor, median([median(s) for s in speeds]), alone1))
            print(f"bench busy: {label}, training beside {competitor or 'nothing'}: {rows[-1][3]:,.0f} tok/s", file=sys.stderr)
        if src:
            dec1 = median([decode_speed(binary, a.run, src, 1, None)[0] for _ in range(a.repeats)])
            for competitor in (None, "busy loop", "lmtrain"):
                speeds = [decode_speed(binary, a.run, src, 2, competitor) for _ in range(a.repeats)]
                rows.append(("decoding, beam 4", label, competitor, median([median(s) for s in speeds]), dec1))
                print(f"bench busy: {label}, decoding beside {competitor or 'nothing'}: {rows[-1][3]:.1f} sentences/s",
                      file=sys.stderr)
    alone = {(w, l): v for w, l, c, v, _ in rows if c is None}
    md = [f"## On a busy machine ({cpu_slug()})", "",
          f"Measured on {machine_line()}. Command: `scripts/bench busy{' --run RUN' if a.run else ''}"
          f"{' --baseline BIN' if a.baseline else ''}`; medians of {a.repeats} measurements per cell, 2 threads.",
          "Training: `lmtrain bench train` config A (d 256, 4 layers, vocabulary 8192, context 128, batch 16), tokens/s."
          + (f" Decoding: `translate {os.path.basename(a.run.rstrip('/'))} --beam 4 --batch-size 32` on the first "
             f"{a.sentences} test-book sentences, sentences/s." if a.run else ""),
          "Each competitor runs in its own session; beside a second lmtrain the cell is the mean of the two. The fair "
          "share is one of the two cores, i.e. the build's own 1-thread speed alone (last column = share of it).", "",
          "| what | build | beside | speed | of alone (2 threads) | of fair share (1 thread alone) |",
          "|---|---|---|---:|---:|---:|"]
    for what, label, competitor, v, one in rows:
        md.append(f"| {what} | {label} | {competitor or 'nothing'} | {v:,.1f} | {v / alone[(what, label)]:.2f} | {v / one:.2f} |")
    block = "\n".join(md)
    print(block)
    write_section(f"busy-{cpu_slug()}", block, beside="busy-")


if __name__ == "__main__":
    main()
