"""Decoding side by side on identical weights: the bible en→es model of `scripts/bench translation` (RUN),
exported with `lmtrain export`, decoded on the test split by lmtrain, CTranslate2 (float32) and Hugging Face
transformers `generate`, at beam 4 and greedy, on 1 and 2 threads, in batches of 32 sentences in input order
(the same batches for all three; a batch decodes to its longest sentence's limit, and greedy outputs are then
cut to each sentence's own limit, which gives what a per-sentence limit would). Reports sentences/s, target tokens/s (output tokens + EOS, counted with
the run's tokenizer for every system) and sacreBLEU, as medians of --repeats runs (HF: one run, it is slow),
and rewrites the decoding section of BENCHMARKS.md.
With --compute-type int8 it measures int8 instead: lmtrain int8 against lmtrain fp32 and CTranslate2 int8 (HF has
no int8 CPU path here), into its own section.
Usage: scripts/bench decoding [RUN] [--repeats N] [--hf-sentences N] [--compute-type fp32|int8]"""
import argparse
import json
import os
import subprocess
import sys
import time

import sacrebleu

from bench_common import LMTRAIN, ROOT, machine_line, median, write_section


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run", nargs="?", default="runs/bible-en-es")
    ap.add_argument("--checkpoint", help="weights file to use instead of RUN/model.safetensors")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--hf-sentences", type=int, default=1361, help="HF generate on the first N test sentences")
    ap.add_argument("--early-stopping", action="store_true",
                    help="lmtrain stops a sentence once `beam` hypotheses finished, as CTranslate2 and HF (early_stopping=True) do")
    ap.add_argument("--beams", default="4,1", help="beam sizes to measure")
    ap.add_argument("--sentences", type=int, help="only the first N test sentences (a quick check of the script)")
    ap.add_argument("--print-only", action="store_true", help="print the section, leave BENCHMARKS.md as it is")
    ap.add_argument("--compute-type", choices=["fp32", "int8"], default="fp32",
                    help="int8: lmtrain int8 against lmtrain fp32 and CTranslate2 int8")
    a = ap.parse_args()
    os.chdir(ROOT)
    if not os.path.exists(os.path.join(a.run, "model.safetensors")):
        sys.exit(f"bench decoding: {a.run} has no model; train it with `scripts/bench translation {a.run}` first")
    ck = ["--checkpoint", a.checkpoint] if a.checkpoint else []
    ct2_dir, hf_dir = os.path.join(a.run, "export-ctranslate2"), os.path.join(a.run, "export-hf")
    for fmt, out in [("ctranslate2", ct2_dir), ("hf", hf_dir)]:
        subprocess.run([LMTRAIN, "export", a.run, "--format", fmt, "--output", out, "--force"] + ck, check=True, capture_output=True)

    import ctranslate2
    import torch
    from transformers import AutoTokenizer, M2M100ForConditionalGeneration
    from transformers.utils import logging as hf_logging
    hf_logging.set_verbosity_error()
    torch.set_grad_enabled(False)

    rows = [l.rstrip("\n").split("\t") for l in open("corpora/bible/bible.en-es.test.tsv", encoding="utf-8") if l.strip()]
    rows = rows[:a.sentences] if a.sentences else rows
    sources, refs = [r[1] for r in rows], [r[2] for r in rows]
    src_path = os.path.join(a.run, "test.en")
    with open(src_path, "w", encoding="utf-8") as f:
        f.write("".join(s + "\n" for s in sources))
    tok = AutoTokenizer.from_pretrained(hf_dir)
    max_len = json.load(open(os.path.join(hf_dir, "config.json")))["max_position_embeddings"]
    src_ids = [tok(s, add_special_tokens=False)["input_ids"][:max_len - 1] for s in sources]
    # lmtrain's limit per sentence (EOS included): min(max length, 1.5 n + 10); a batch decodes to its longest.
    limits = [max(1, min(max_len, int(1.5 * len(s) + 10))) for s in src_ids]
    chunks = [list(range(i, min(i + 32, len(sources)))) for i in range(0, len(sources), 32)]

    def target_tokens(outputs):
        return sum(len(tok(o, add_special_tokens=False)["input_ids"]) + 1 for o in outputs)

    def lmtrain(beam, threads, compute_type="fp32"):
        with open(src_path, encoding="utf-8") as fin:
            t0 = time.perf_counter()
            p = subprocess.run([LMTRAIN, "translate", a.run, "--beam", str(beam), "--batch-size", "32", "--threads", str(threads),
                                "--compute-type", compute_type] + ck
                               + (["--early-stopping"] if a.early_stopping else []),
                               stdin=fin, capture_output=True, text=True, check=True)
        # lmtrain reports the time of decoding alone (after loading the model) on its last stderr line.
        speed = p.stderr.strip().splitlines()[-1]
        seconds = float(speed.split(" in ")[1].split(" s")[0])
        return p.stdout.split("\n")[:-1], seconds

    vocab = json.load(open(os.path.join(ct2_dir, "shared_vocabulary.json"), encoding="utf-8"))
    ct2_tokens = [[vocab[i] for i in s] for s in src_ids]
    banned = [["<pad>"], ["<bos>"], ["<unk>"]]

    def ct2(beam, threads, compute_type="float32"):
        tr = ctranslate2.Translator(ct2_dir, device="cpu", compute_type=compute_type, inter_threads=1, intra_threads=threads)
        out = [None] * len(sources)
        t0 = time.perf_counter()
        for c in chunks:
            res = tr.translate_batch([ct2_tokens[i] for i in c], beam_size=beam, max_batch_size=32, length_penalty=1.0,
                                     max_decoding_length=max(limits[i] for i in c) - 1, suppress_sequences=banned)
            for i, r in zip(c, res):
                # Greedy outputs are prefixes of longer ones: cut to the sentence's own limit, as lmtrain does.
                out[i] = r.hypotheses[0][:limits[i] - 1] if beam == 1 else r.hypotheses[0]
        seconds = time.perf_counter() - t0
        return [tok.decode(tok.convert_tokens_to_ids(h)) for h in out], seconds

    if a.compute_type == "int8":
        return int8_section(a, lmtrain, ct2, refs, target_tokens, len(sources))
    model = M2M100ForConditionalGeneration.from_pretrained(hf_dir).eval()

    def hf(beam, threads):
        torch.set_num_threads(threads)
        n = min(a.hf_sentences, len(sources))
        out = []
        t0 = time.perf_counter()
        for c in chunks:
            c = [i for i in c if i < n]
            if not c:
                break
            enc = tok([sources[i] for i in c], return_tensors="pt", padding=True, truncation=True, max_length=max_len)
            gen = model.generate(**enc, num_beams=beam, do_sample=False, length_penalty=1.0, early_stopping=True,
                                 max_new_tokens=max(limits[i] for i in c) - 1)
            eos = model.generation_config.eos_token_id
            for i, row in zip(c, gen[:, 1:].tolist()):
                row = row[:row.index(eos)] if eos in row else row
                out.append(tok.decode(row[:limits[i] - 1] if beam == 1 else row, skip_special_tokens=True))
        return out, time.perf_counter() - t0

    results = []
    for beam in [int(b) for b in a.beams.split(",")]:
        for threads in (1, 2):
            row = {"beam": beam, "threads": threads}
            for name, fn, repeats in [("lmtrain", lmtrain, a.repeats), ("ctranslate2", ct2, a.repeats), ("hf", hf, 1)]:
                times, outputs = [], None
                for _ in range(repeats):
                    outputs, s = fn(beam, threads)
                    times.append(s)
                n = len(outputs)
                s = median(times)
                row[name] = {"sentences": n, "seconds": s, "sent_per_s": n / s, "tok_per_s": target_tokens(outputs) / s,
                             "bleu": sacrebleu.corpus_bleu(outputs, [refs[:n]]).score, "outputs": outputs}
                print(f"beam {beam} threads {threads} {name}: {n / s:.1f} sent/s, BLEU {row[name]['bleu']:.2f} "
                      f"(runs {', '.join(f'{t:.2f}' for t in times)} s)", file=sys.stderr, flush=True)
            same = sum(x == y for x, y in zip(row["lmtrain"]["outputs"], row["ctranslate2"]["outputs"]))
            row["same_as_ct2"] = same
            results.append(row)

    lines = [f"Machine: {machine_line()}. Model: `{a.run}`{' (' + a.checkpoint + ')' if a.checkpoint else ''}, "
             f"exported by `lmtrain export`; {len(sources)} test sentences (HF: the first {min(a.hf_sentences, len(sources))}), "
             f"batches of 32 in input order, length penalty 1, lmtrain's length limits for all, "
             f"{'every system stopping a sentence once beam hypotheses finished (lmtrain --early-stopping)' if a.early_stopping else 'lmtrain searching on while a live hypothesis could still win (its default; CTranslate2 and HF stop once beam hypotheses finished)'}. "
             f"Medians of {a.repeats} runs for lmtrain and CTranslate2 (float32, inter_threads 1, intra_threads = threads), "
             f"one run for HF. Command: `scripts/bench decoding {a.run}{' --early-stopping' if a.early_stopping else ''}`.", "",
             "| beam | threads | lmtrain sent/s | CTranslate2 sent/s | HF sent/s | lmtrain / CT2 | lmtrain / HF | "
             "target tok/s (lmtrain, CT2, HF) | BLEU (lmtrain, CT2, HF) | same text as CT2 |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        L, C, H = r["lmtrain"], r["ctranslate2"], r["hf"]
        lines.append(f"| {r['beam']} | {r['threads']} | {L['sent_per_s']:.1f} | {C['sent_per_s']:.1f} | {H['sent_per_s']:.1f} | "
                     f"{L['sent_per_s'] / C['sent_per_s']:.2f}x | {L['sent_per_s'] / H['sent_per_s']:.2f}x | "
                     f"{L['tok_per_s']:.0f}, {C['tok_per_s']:.0f}, {H['tok_per_s']:.0f} | "
                     f"{L['bleu']:.2f}, {C['bleu']:.2f}, {H['bleu']:.2f} | {r['same_as_ct2']}/{L['sentences']} |")
    text = "\n".join(lines)
    print(text)
    if not a.print_only:
        name = "decoding-early-stopping" if a.early_stopping else "decoding"
        title = "## Decoding against CTranslate2 and Hugging Face on identical weights" + (", the same stopping rule" if a.early_stopping else "")
        write_section(name, title + "\n\n" + text)


def int8_section(a, lmtrain, ct2, refs, target_tokens, count):
    systems = [("lmtrain int8", lambda b, t: lmtrain(b, t, "int8")), ("lmtrain fp32", lambda b, t: lmtrain(b, t, "fp32")),
               ("ctranslate2 int8", lambda b, t: ct2(b, t, "int8")), ("ctranslate2 float32", lambda b, t: ct2(b, t, "float32"))]
    results = []
    for beam in [int(b) for b in a.beams.split(",")]:
        for threads in (1, 2):
            row = {"beam": beam, "threads": threads}
            # Interleaved repeats (every system once per round), so a machine slowing down mid-bench shifts all alike.
            times = {name: [] for name, _ in systems}
            outs = {}
            for _ in range(a.repeats):
                for name, fn in systems:
                    outs[name], sec = fn(beam, threads)
                    times[name].append(sec)
            for name, _ in systems:
                s, o = median(times[name]), outs[name]
                row[name] = {"sent_per_s": len(o) / s, "tok_per_s": target_tokens(o) / s,
                             "bleu": sacrebleu.corpus_bleu(o, [refs[:len(o)]]).score, "outputs": o}
                print(f"beam {beam} threads {threads} {name}: {len(o) / s:.1f} sent/s, BLEU {row[name]['bleu']:.2f} "
                      f"(runs {', '.join(f'{t:.2f}' for t in times[name])} s)", file=sys.stderr, flush=True)
            row["same"] = sum(x == y for x, y in zip(row["lmtrain int8"]["outputs"], row["lmtrain fp32"]["outputs"]))
            results.append(row)
    lines = [f"Machine: {machine_line()}. Model: `{a.run}`{' (' + a.checkpoint + ')' if a.checkpoint else ''}; {count} test "
             f"sentences, batches of 32 in input order, length penalty 1, lmtrain's length limits for all"
             f"{', lmtrain --early-stopping' if a.early_stopping else ''}. lmtrain int8: weights quantised per output column at "
             f"load, activations per row, `{'vpdpbusd' if 'avx512_vnni' in open('/proc/cpuinfo').read() else 'vpmaddwd'}` products; "
             f"CTranslate2 compute_type int8 / float32 (inter_threads 1, intra_threads = threads). Medians of {a.repeats} "
             f"interleaved runs. Command: `scripts/bench decoding {a.run} --compute-type int8"
             f"{' --early-stopping' if a.early_stopping else ''}`.", "",
             "| beam | threads | lmtrain int8 sent/s | lmtrain fp32 sent/s | CT2 int8 sent/s | CT2 fp32 sent/s | int8 / lmtrain fp32 | "
             "int8 / CT2 int8 | BLEU (lmtrain int8, fp32; CT2 int8, fp32) | int8 lines = fp32 lines |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        L8, L, C8, C = r["lmtrain int8"], r["lmtrain fp32"], r["ctranslate2 int8"], r["ctranslate2 float32"]
        lines.append(f"| {r['beam']} | {r['threads']} | {L8['sent_per_s']:.1f} | {L['sent_per_s']:.1f} | {C8['sent_per_s']:.1f} | "
                     f"{C['sent_per_s']:.1f} | {L8['sent_per_s'] / L['sent_per_s']:.2f}x | {L8['sent_per_s'] / C8['sent_per_s']:.2f}x | "
                     f"{L8['bleu']:.2f}, {L['bleu']:.2f}; {C8['bleu']:.2f}, {C['bleu']:.2f} | {r['same']}/{len(L8['outputs'])} |")
    text = "\n".join(lines)
    print(text)
    if not a.print_only:
        name = "decoding-int8" + ("-early-stopping" if a.early_stopping else "")
        write_section(name, "## int8 decoding against fp32 and CTranslate2 int8 on identical weights\n\n" + text)


if __name__ == "__main__":
    main()
