"""Shared helpers of the benchmark scripts: medians, machine description, BENCHMARKS.md sections."""
import os
import platform
import re
import statistics
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# LMTRAIN_BIN measures another build (e.g. an older commit's) with the same script.
LMTRAIN = os.environ.get("LMTRAIN_BIN") or os.path.join(ROOT, ".build", "release", "lmtrain")


def median(xs):
    return statistics.median(xs)


def cpuinfo():
    """The first CPU's fields of /proc/cpuinfo (None where there is no such file)."""
    fields = {}
    try:
        for line in open("/proc/cpuinfo"):
            if ":" in line:
                k, v = (x.strip() for x in line.split(":", 1))
                fields.setdefault(k, v)
    except OSError:
        return None
    return fields


def cpu_name():
    """The model name, with family/model and the SIMD that matters here (a VM may say only "AMD EPYC")."""
    fields = cpuinfo()
    if fields is None:
        return platform.processor() or "unknown CPU"
    flags = set(fields.get("flags", "").split())
    simd = [name for flag, name in (("avx512f", "AVX-512"), ("avx512_bf16", "AVX512-BF16"), ("avx512_vnni", "VNNI"),
                                    ("amx_bf16", "AMX")) if flag in flags] or (["AVX2"] if "avx2" in flags else [])
    return (f"{fields.get('model name', 'unknown CPU')} (family {fields.get('cpu family', '?')} model {fields.get('model', '?')};"
            f" {', '.join(simd) or 'no AVX2'})")


def cpu_slug():
    """A short name for the CPU family, for sections kept per machine ("amd-zen4", "intel-amx", ...)."""
    fields = cpuinfo()
    if fields is None:
        return platform.machine() or "unknown"
    vendor, flags = fields.get("vendor_id", ""), set(fields.get("flags", "").split())
    family, model = int(fields.get("cpu family", "0")), int(fields.get("model", "0"))
    if vendor == "AuthenticAMD":
        # Family 25 (19h) is Zen 3 (models 00h–0Fh, 20h–5Fh) or Zen 4 (10h–1Fh, 60h–AFh); 26 (1Ah) is Zen 5.
        if family == 25:
            return "amd-zen4" if 0x10 <= model <= 0x1F or 0x60 <= model <= 0xAF else "amd-zen3"
        return "amd-zen5" if family == 26 else f"amd-family{family}"
    if vendor == "GenuineIntel":
        return "intel-amx" if "amx_bf16" in flags else ("intel-avx512" if "avx512f" in flags else "intel")
    return platform.machine() or "unknown"


def machine_line():
    return f"{cpu_name()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def lmtrain_json(args, env=None, binary=None):
    """Runs `lmtrain bench ...` (or another build's) and returns the JSON object of its last line."""
    import json
    out = subprocess.run([binary or LMTRAIN] + args, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def write_section(name, markdown, beside=None):
    """Replaces the section between <!-- name:begin --> and <!-- name:end --> in BENCHMARKS.md. A new section goes
    after the last one whose name starts with `beside` (the same benchmark on another machine), else at the end."""
    path = os.path.join(ROOT, "BENCHMARKS.md")
    text = open(path, encoding="utf-8").read() if os.path.exists(path) else "# Benchmarks\n"
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    block = f"{begin}\n{markdown.rstrip()}\n{end}"
    siblings = list(re.finditer(r"<!-- " + re.escape(beside) + r"[\w.-]*:end -->", text)) if beside else []
    if begin in text:
        text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    elif siblings:
        at = siblings[-1].end()
        text = text[:at] + "\n\n" + block + text[at:]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    open(path, "w", encoding="utf-8").write(text)


def bible_split(name, out_dir):
    """Writes OUT_DIR/NAME.en and OUT_DIR/NAME.es from corpora/bible/bible.en-es.NAME.tsv (ref, en, es); returns
    the two paths and the number of pairs."""
    with open(os.path.join(ROOT, "corpora", "bible", f"bible.en-es.{name}.tsv"), encoding="utf-8") as f:
        rows = [l.rstrip("\n").split("\t") for l in f if l.strip()]
    paths = os.path.join(out_dir, f"{name}.en"), os.path.join(out_dir, f"{name}.es")
    for path, column in zip(paths, (1, 2)):
        with open(path, "w", encoding="utf-8") as f:
            f.write("".join(r[column] + "\n" for r in rows))
    return paths[0], paths[1], len(rows)
