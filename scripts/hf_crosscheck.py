"""Compares lmtrain's BPE ids with HF tokenizers' BPE model on the same pre-tokens (see hf-crosscheck)."""
import json
import sys

from tokenizers import Tokenizer

hf_path, enc_path, dec_path = sys.argv[1:4]
hf = Tokenizer.from_file(hf_path)
model = hf.model
lines = words = mismatched_words = mismatched_decodes = 0
examples = []
decoded = open(dec_path, encoding="utf-8").read().split("\n")
for i, row in enumerate(open(enc_path, encoding="utf-8")):
    rec = json.loads(row)
    lines += 1
    all_ids = []
    for pre, ids in zip(rec["pretokens"], rec["ids"]):
        words += 1
        got = [t.id for t in model.tokenize(pre)]
        all_ids += ids
        if got != ids:
            mismatched_words += 1
            if len(examples) < 5:
                examples.append(f"line {i + 1}: {pre!r}: lmtrain {ids} hf {got}")
    # HF's decoder (▁ -> space, byte fallback, fuse) must give lmtrain's own decoding.
    if hf.decode(all_ids, skip_special_tokens=True) != decoded[i]:
        mismatched_decodes += 1
        if len(examples) < 5:
            examples.append(f"line {i + 1}: decode differs: {hf.decode(all_ids)!r} vs {decoded[i]!r}")
for e in examples:
    print(e)
print(f"hf-crosscheck: {lines} lines, {words} pre-tokens, {mismatched_words} id mismatches, "
      f"{mismatched_decodes} decode mismatches")
sys.exit(1 if (mismatched_words or mismatched_decodes or lines == 0) else 0)
