"""Crash-consistency soak: trains with `lmtrain fit`, SIGKILLs it at random moments (some inside checkpoint
writes), resumes after each kill, and checks that nothing trained is lost or changed:

- every third kill waits for a checkpoint write to begin and lands inside it;
- after every kill, the checkpoint on disk loads (the resume says so by training on), it is no more than one
  checkpoint interval behind the last step logged, every line of metrics.jsonl is whole JSON, and no file of
  the run is half-written (only hidden temporaries of the interrupted write, which the resume removes);
- at the end, the weights equal those of the same run never interrupted, bit for bit, and metrics.jsonl logs
  each training step exactly once.

Usage: scripts/soak [--task lm|translate|both] [--kills 20] [--seed 1] [--keep DIR]
The test command runs a short version (`scripts/soak --kills 3 --task both`).
Standard library only, so it runs before any venv exists."""
import argparse
import json
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LMTRAIN = os.environ.get("LMTRAIN_BIN") or os.path.join(ROOT, ".build", "release", "lmtrain")

STEPS, EVERY = 400, 20


def fit_args(task, work):
    common = ["--steps", str(STEPS), "--checkpoint-every", str(EVERY), "--log-every", "1", "--eval-every", "100",
              "--threads", "1", "--vocab-size", "400", "--keep-checkpoints", "3"]
    if task == "lm":
        return [os.path.join(ROOT, "corpora", "tiny", "tiny.txt"), "--preset", "tiny", "--context", "32", "--batch-size", "8"] + common
    # A few hundred real verse pairs of the bible, so the translation path (joint tokenizer, id cache, BLEU) runs.
    pairs = os.path.join(work, "pairs.tsv")
    with open(os.path.join(ROOT, "corpora", "bible", "bible.en-es.train.tsv"), encoding="utf-8") as f:
        lines = [next(f) for _ in range(400)]
    with open(pairs, "w", encoding="utf-8") as f:
        f.writelines(lines)
    return [pairs, "--preset", "tiny", "--batch-tokens", "512", "--bleu-sentences", "8"] + common


def safetensors_step(path):
    """The `step` in a safetensors file's metadata (the file must be whole: header length, then JSON)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        size = os.fstat(f.fileno()).st_size
    end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    if 8 + n + end != size:
        raise AssertionError(f"{path} is {size} bytes, its header says {8 + n + end}")
    meta = header.get("__metadata__", {})
    return int(meta["step"]) if "step" in meta else json.loads(meta["state"])["step"]


def logged_steps(run):
    """Training steps in metrics.jsonl; every line must be whole JSON."""
    path = os.path.join(run, "metrics.jsonl")
    if not os.path.exists(path):
        return []
    data = open(path, encoding="utf-8").read()
    if data and not data.endswith("\n"):
        raise AssertionError(f"{path} ends in a half line: {data[-80:]!r}")
    out = []
    for line in data.splitlines():
        o = json.loads(line)   # raises on a half-written line
        if "split" not in o:
            out.append(o["step"])
    return out


def writes_under_way(run):
    """The files whose atomic write is under way in RUN, from their traces on disk: a hidden temporary
    `.NAME.tmp-PID`, or the previous optimizer's link, which lives from a checkpoint's first rename to its last."""
    try:
        names = os.listdir(run)
    except OSError:
        return set()
    out = {n[1:n.rindex(".tmp-")] for n in names if n.startswith(".") and ".tmp-" in n}
    return out | ({"optimizer.safetensors"} if "optimizer.previous.safetensors" in names else set())


CHECKPOINT_FILES = {"model.safetensors", "optimizer.safetensors"}


def writing(run):
    """Whether a checkpoint write is under way in RUN."""
    return bool(writes_under_way(run) & CHECKPOINT_FILES)


def check_after_kill(run):
    """What a kill may leave: whole files (or none yet), hidden temporaries. Returns (checkpoint step, the files
    whose write it interrupted)."""
    names = os.listdir(run)
    in_write = sorted(writes_under_way(run))
    for name in names:
        path = os.path.join(run, name)
        if name.endswith(".json") and not name.startswith("."):
            json.load(open(path, encoding="utf-8"))
        if name.endswith(".safetensors"):
            safetensors_step(path)
    snaps = os.path.join(run, "checkpoints")
    if os.path.isdir(snaps):
        for name in os.listdir(snaps):
            if not name.startswith("."):
                safetensors_step(os.path.join(snaps, name))
    weights = os.path.join(run, "model.safetensors")
    return (safetensors_step(weights) if os.path.exists(weights) else 0), in_write


def soak(task, kills, rng, work):
    args = fit_args(task, work)
    ref, run = os.path.join(work, f"{task}-reference"), os.path.join(work, f"{task}-soaked")
    t0 = time.time()
    subprocess.run([LMTRAIN, "fit"] + args + ["--output", ref], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    span = time.time() - t0
    print(f"soak {task}: reference run {STEPS} steps in {span:.1f}s; {kills} kills", flush=True)
    done, attempts, in_writes, log = 0, 0, 0, open(os.path.join(work, f"{task}-soak.log"), "w")
    while True:
        resume = os.path.exists(os.path.join(run, "config.json"))
        cmd = [LMTRAIN, "fit"] + (["--resume", run, "--threads", "1"] if resume else args + ["--output", run])
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log)
        attempts += 1
        if done < kills:
            if done % 3 == 2:
                # Every third kill aims at a checkpoint write: it waits for the write's traces (a hidden temporary
                # or the previous optimizer's link) and kills at once; traces an earlier kill left behind count
                # only once the resumed process has cleared them.
                deadline = time.time() + 3 * span
                while p.poll() is None and time.time() < deadline and writing(run):
                    time.sleep(0.0002)
                while p.poll() is None and time.time() < deadline and not writing(run):
                    time.sleep(0.0002)
            else:
                # Spread the other kills over the run: on average half a share of the run's length apart, so every
                # kill lands before the run can end.
                time.sleep(rng.uniform(0.05, span / kills))
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                p.wait()
                done += 1
                step, in_write = check_after_kill(run)
                in_writes += bool(set(in_write) & CHECKPOINT_FILES)
                last = (logged_steps(run) or [0])[-1]
                if step < last - EVERY:
                    raise AssertionError(f"kill {done}: checkpoint at step {step}, but step {last} was logged: more than one interval ({EVERY}) lost")
                print(f"  kill {done}: logged step {last}, checkpoint step {step}{' (unfinished write of ' + ', '.join(in_write) + ' on disk)' if in_write else ''}", flush=True)
                continue
        if p.wait() != 0:
            raise AssertionError(f"{' '.join(cmd)} failed; see {log.name}")
        break
    if done < kills:
        raise AssertionError(f"only {done} of {kills} kills landed before the run ended")
    steps = logged_steps(run)
    if steps != list(range(1, STEPS + 1)):
        raise AssertionError(f"metrics.jsonl logs {len(steps)} training steps, not each of 1…{STEPS} once")
    a, b = (open(os.path.join(d, "model.safetensors"), "rb").read() for d in (ref, run))
    if a != b:
        raise AssertionError(f"{task}: after {done} kills the weights differ from the uninterrupted run's")
    leftovers = [n for n in os.listdir(run) if ".tmp-" in n or n == "optimizer.previous.safetensors"]
    if leftovers:
        raise AssertionError(f"{task}: files left behind: {leftovers}")
    print(f"soak {task}: {done} kills ({in_writes} with a checkpoint write unfinished on disk), {attempts} processes: final weights "
          f"equal the uninterrupted run's bit for bit; metrics log steps 1…{STEPS} once each", flush=True)
    return done, in_writes


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", choices=["lm", "translate", "both"], default="both")
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--keep", help="keep the runs in this directory (default: a temporary one, removed)")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    print(f"soak: seed {a.seed}", flush=True)
    work = a.keep or tempfile.mkdtemp(prefix="lmtrain-soak-")
    os.makedirs(work, exist_ok=True)
    try:
        for task in (["lm", "translate"] if a.task == "both" else [a.task]):
            soak(task, a.kills, rng, work)
    except AssertionError as e:
        print(f"soak: FAILED (seed {a.seed}; runs kept in {work}): {e}", file=sys.stderr)
        sys.exit(1)
    if not a.keep:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
