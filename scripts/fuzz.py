"""Fuzzes one of lmtrain's loaders (Sources/FuzzHarness) with libFuzzer under address sanitizer.

    scripts/fuzz TARGET [--time 10m] [--runs 1M] [--minimize]      TARGET: safetensors, tokenizer-file, run-config,
    scripts/fuzz --list                                         parallel-data, encode

Builds the instrumented binary once (.build/fuzz, the package with LMTRAIN_FUZZ=1), starts the target's working
corpus (.build/fuzz/corpus/TARGET) from lmtrain's own valid files and the inputs committed under
Tests/FuzzHarnessTests/Inputs/TARGET, runs libFuzzer for --time and at least --runs executions, and prints executions, coverage, corpus size
and findings as one JSON line (also kept in .build/fuzz/report-TARGET.json). A crash, a hang (an input taking
over 10 s) or a sanitizer report leaves its input under .build/fuzz/artifacts/TARGET/ and exits 1: fix the bug,
then copy the input into Tests/FuzzHarnessTests/Inputs/TARGET/ so the test command replays it for good.
--minimize replaces the committed inputs with a small corpus covering what the working corpus covers
(libFuzzer -merge=1: the fewest inputs that keep every feature the corpus reached) plus the crashers already there.
"""
import argparse, json, os, re, shutil, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGETS = ["safetensors", "tokenizer-file", "run-config", "parallel-data", "encode"]
BUILD = os.path.join(ROOT, ".build", "fuzz")
COMMITTED = os.path.join(ROOT, "Tests", "FuzzHarnessTests", "Inputs")


def duration(text):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([smh]?)", text)
    if not m:
        raise argparse.ArgumentTypeError(f"--time {text}: give seconds or a number with s, m or h (e.g. 10m)")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]


def count(text):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([kKM]?)", text)
    if not m:
        raise argparse.ArgumentTypeError(f"--runs {text}: give a number, or one with k or M (e.g. 1M)")
    return int(float(m.group(1)) * {"": 1, "k": 1e3, "K": 1e3, "M": 1e6}[m.group(2)])


def build():
    env = dict(os.environ, LMTRAIN_FUZZ="1")
    cmd = ["swift", "build", "-c", "release", "--scratch-path", BUILD, "--product", "lmtrain-fuzz",
           "-Xswiftc", "-sanitize=fuzzer,address", "-Xswiftc", "-use-ld=lld",
           # The C shims (ICU, packing, the AMX kernel) get coverage and address checks too.
           "-Xcc", "-fsanitize=fuzzer-no-link,address"]
    print("building the instrumented loaders (first time: a few minutes) …", file=sys.stderr)
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        sys.stderr.write(r.stdout[-4000:] + r.stderr[-4000:])
        sys.exit("the fuzzing build failed (it needs the swift.org toolchain's libFuzzer): see the lines above")
    return os.path.join(BUILD, "release", "lmtrain-fuzz")


def fuzz_env(target, **extra):
    # Leaks are reported at exit by ASan; lmtrain's process-lifetime caches are not leaks worth failing on.
    return dict(os.environ, LMTRAIN_FUZZ_TARGET=target, ASAN_OPTIONS="detect_leaks=0:abort_on_error=0", **extra)


def main():
    ap = argparse.ArgumentParser(prog="scripts/fuzz", description="fuzz one of lmtrain's loaders")
    ap.add_argument("target", nargs="?", choices=TARGETS)
    ap.add_argument("--time", type=duration, default=duration("10m"), help="how long to fuzz (e.g. 90s, 10m)")
    ap.add_argument("--runs", type=count, default=count("1M"), help="at least this many executions (e.g. 1M), however long it takes")
    ap.add_argument("--minimize", action="store_true", help="rewrite the committed inputs from the working corpus")
    ap.add_argument("--list", action="store_true", help="print the targets")
    a = ap.parse_args()
    if a.list:
        print("\n".join(TARGETS))
        return
    if not a.target:
        ap.error("name a target (scripts/fuzz --list)")
    binary = build()
    corpus = os.path.join(BUILD, "corpus", a.target)
    artifacts = os.path.join(BUILD, "artifacts", a.target) + "/"
    committed = os.path.join(COMMITTED, a.target)
    os.makedirs(corpus, exist_ok=True)
    os.makedirs(artifacts, exist_ok=True)
    subprocess.run([binary], env=fuzz_env(a.target, LMTRAIN_FUZZ_SEEDS=corpus), check=True)
    if os.path.isdir(committed):
        for name in os.listdir(committed):
            shutil.copy(os.path.join(committed, name), os.path.join(corpus, "committed-" + name))
    before = set(os.listdir(artifacts))
    start = time.time()
    log_path = os.path.join(BUILD, f"fuzz-{a.target}.log")
    open(log_path, "w").close()
    # libFuzzer stops at -max_total_time or -runs, whichever comes first; a target must get both the time and
    # the executions, so a slow one continues (on the corpus it grew) with -runs for what is missing.
    executions, sessions, text, rc = 0, 0, "", 0
    while rc == 0 and (sessions == 0 or executions < a.runs):
        limit = ["-max_total_time=%d" % int(a.time)] if sessions == 0 else ["-runs=%d" % (a.runs - executions)]
        with open(log_path, "a") as log:
            r = subprocess.run([binary, corpus, *limit, "-timeout=10", "-rss_limit_mb=4096", "-max_len=65536",
                                "-print_final_stats=1", "-artifact_prefix=" + artifacts],
                               env=fuzz_env(a.target), stdout=log, stderr=subprocess.STDOUT)
        rc, sessions = r.returncode, sessions + 1
        text = open(log_path, errors="replace").read()
        executions = sum(int(n) for n in re.findall(r"stat::number_of_executed_units:\s+(\d+)", text))
        if set(os.listdir(artifacts)) - before:
            break
    wall = time.time() - start
    peak = [int(n) for n in re.findall(r"stat::peak_rss_mb:\s+(\d+)", text)]
    cov = re.findall(r"cov: (\d+) ft: (\d+)", text)
    found = sorted(set(os.listdir(artifacts)) - before)
    report = {"target": a.target, "seconds": round(wall), "executions": executions, "sessions": sessions,
              "exec_per_s": round(executions / max(wall, 1e-9)), "edges": int(cov[-1][0]) if cov else None,
              "features": int(cov[-1][1]) if cov else None, "corpus": len(os.listdir(corpus)),
              "peak_rss_mb": max(peak) if peak else None, "findings": found, "exit": rc}
    line = json.dumps(report)
    with open(os.path.join(BUILD, f"report-{a.target}.json"), "w") as f:
        f.write(line + "\n")
    print(line)
    if rc != 0 or found:
        tail = "\n".join(text.splitlines()[-40:])
        print(tail, file=sys.stderr)
        sys.exit(f"{a.target}: libFuzzer found {len(found)} input(s) that fail, kept in {artifacts} (log: {log_path})")
    if a.minimize:
        minimize(binary, a.target, corpus, committed)


def minimize(binary, target, corpus, committed):
    merged = os.path.join(BUILD, "merged", target)
    shutil.rmtree(merged, ignore_errors=True)
    os.makedirs(merged)
    subprocess.run([binary, "-merge=1", merged, corpus], env=fuzz_env(target), check=True, capture_output=True)
    files = sorted(os.listdir(merged), key=lambda n: os.path.getsize(os.path.join(merged, n)))
    crashers = [n for n in os.listdir(committed) if n.startswith("crash-")] if os.path.isdir(committed) else []
    keep = {}
    for n in crashers:
        keep[n] = open(os.path.join(committed, n), "rb").read()
    # All of the merged set, not the smallest part of it: the small inputs are mostly ones the first check refuses,
    # and the larger ones are those that reach the loaders' deeper branches.
    for n in files:
        keep["corpus-" + n[:16]] = open(os.path.join(merged, n), "rb").read()
    shutil.rmtree(committed, ignore_errors=True)
    os.makedirs(committed)
    for n, data in keep.items():
        with open(os.path.join(committed, n), "wb") as f:
            f.write(data)
    print(f"{committed}: {len(keep) - len(crashers)} corpus inputs (of {len(files)} after merging) and {len(crashers)} crashers",
          file=sys.stderr)


if __name__ == "__main__":
    main()
