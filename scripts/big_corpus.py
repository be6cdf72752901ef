"""A large corpus made from the bundled bible text, for tests of lmtrain at scale (RSS, start-up, id caches).

    scripts/big-corpus --size 1G --output corpora/big/en.1G.txt              English lines (language model)
    scripts/big-corpus --size 3G --kind pairs --output corpora/big/pairs.tsv  en-es pairs as the bible TSV

The bundled training split is written again and again, each pass in another seeded order, until the file
reaches --size (the last pass cut at a line). Its vocabulary is the bible's, so it says how lmtrain scales
with the amount of text, not with the variety of it. Written to a temporary file and renamed, so an
interrupted run leaves no half corpus; the same --size and --seed give the same bytes.
"""
import argparse
import os
import random
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCES = {"lm": "corpora/bible/web.en.train.txt", "pairs": "corpora/bible/bible.en-es.train.tsv"}


def size(text):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([kKMG]?)", text)
    if not m:
        raise argparse.ArgumentTypeError(f"--size {text}: give bytes, or a number with k, M or G (e.g. 1G)")
    return int(float(m.group(1)) * {"": 1, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9}[m.group(2)])


def main():
    ap = argparse.ArgumentParser(prog="scripts/big-corpus", description="a large corpus from the bundled bible")
    ap.add_argument("--size", type=size, required=True, help="bytes to write (e.g. 100M, 1G)")
    ap.add_argument("--output", required=True)
    ap.add_argument("--kind", choices=sorted(SOURCES), default="lm")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    with open(os.path.join(ROOT, SOURCES[a.kind]), encoding="utf-8") as f:
        lines = [l if l.endswith("\n") else l + "\n" for l in f if l.strip()]
    encoded = [l.encode("utf-8") for l in lines]
    out_dir = os.path.dirname(os.path.abspath(a.output))
    os.makedirs(out_dir, exist_ok=True)
    tmp = os.path.join(out_dir, f".{os.path.basename(a.output)}.tmp-{os.getpid()}")
    rng = random.Random(a.seed)
    written, passes = 0, 0
    try:
        with open(tmp, "wb") as f:
            tty = sys.stderr.isatty()
            while written < a.size:
                order = list(range(len(encoded)))
                rng.shuffle(order)
                passes += 1
                chunk = []
                for i in order:
                    if written >= a.size:
                        break
                    chunk.append(encoded[i])
                    written += len(encoded[i])
                f.write(b"".join(chunk))
                if tty:   # a log gets only the last line, not one per pass
                    print(f"\rbig-corpus: {written / 1e6:,.0f} of {a.size / 1e6:,.0f} MB", end="", file=sys.stderr)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, a.output)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    print(f"{chr(10) if tty else ''}big-corpus: wrote {a.output}: {written:,} bytes, {passes} passes over {SOURCES[a.kind]}", file=sys.stderr)


if __name__ == "__main__":
    main()
