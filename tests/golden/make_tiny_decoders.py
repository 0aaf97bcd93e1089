#!/usr/bin/env python3
"""Three tiny random decoders (GPT-2, Qwen2, Llama 3) and their golden logits.

Writes, from the repository root:

- tests/models/tiny-gpt2/, tests/models/tiny-qwen2/, tests/models/tiny-llama3/:
  config.json, model.safetensors (f32, transformers' save_pretrained, checkpoint
  tensor names), tokenizer.json and tokenizer_config.json. The three share one
  byte-level BPE tokenizer (384 tokens: <|endoftext|> = 0, the 256 bytes, 127
  merges) trained here on a few paragraphs of English.
- tests/golden/tiny_decoders.json: per model, three prompts with their ids, the
  last position's logits, the logits at every position of the first prompt,
  and 16 greedy tokens with the top-1 minus top-2 logit margin of every step.

Tests compare webfm against these numbers; they never call Python. Run:

    .cache/venv/bin/pip install torch==2.15.0 transformers==5.24.0 tokenizers==0.23.3 safetensors
    OMP_NUM_THREADS=1 .cache/venv/bin/python tests/golden/make_tiny_decoders.py

Every parameter is redrawn from a fixed seed: embeddings and lm_head std 0.5
(logits of std ~4, so greedy choices are clear: every margin is checked to be
over 1e-3), other matrices std 1.5 / sqrt(fan_in) (std 0.5 everywhere would
saturate attention: a mean top attention weight of ~0.9 instead of ~0.4),
biases std 0.1 (Qwen2's q/k/v biases, all of GPT-2's), norm scales
1 + 0.1 N(0,1) and LayerNorm shifts std 0.1. So nothing is zero or one, and a
dropped bias, norm or scaling changes the logits.

tiny-llama3 uses llama3 rope scaling with original_max_position_embeddings 64:
its head_dim 16 gives 8 frequencies with wavelengths 6.3, 32.4, 167, ... tokens,
so one is kept (< 64/4), one is interpolated (between 16 and 64) and six are
divided by the factor 8. (With 32 no wavelength falls in the middle band.)

transformers 5 writes the rope settings into config.json as
`rope_parameters` (rope_theta inside it; llama3 keys alongside), not as
top-level `rope_theta` / `rope_scaling` as older checkpoints on the hub do.

torch runs on one CPU thread; a rerun writes the same bytes.
"""

import hashlib
import json
import platform
import shutil
from importlib.metadata import version
from pathlib import Path

import torch
from safetensors import safe_open
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
)

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests/golden"
MODELS = ROOT / "tests/models"
OUT = GOLDEN / "tiny_decoders.json"
COMMAND = "OMP_NUM_THREADS=1 .cache/venv/bin/python tests/golden/make_tiny_decoders.py"
VOCAB = 384
NEW_TOKENS = 16
EMBED_STD = 0.5  # embeddings and lm_head: logits of std ~4, clear greedy choices
MATRIX_GAIN = 1.5  # other matrices: std MATRIX_GAIN / sqrt(fan_in), so attention does not saturate
MIN_MARGIN = 1e-3
SEEDS = {"tiny-gpt2": 1, "tiny-qwen2": 2, "tiny-llama3": 3}  # raised until every greedy margin > MIN_MARGIN

CORPUS = """\
The little town sat at the edge of a wide green valley, where a slow river turned between old stone
bridges. Every morning the baker opened his shop before sunrise, and the smell of fresh bread drifted
along the narrow streets. Children walked to school in small groups, talking about games, books and
the animals they had seen in the fields.

In the afternoon the market filled with farmers who sold apples, cheese, honey and bright flowers.
Travellers stopped to rest in the shade of the tall trees near the square. They asked for directions,
bought a cup of coffee, and wrote short letters to their families at home. Nobody was ever in a hurry.

Scientists who study language models train them on large collections of text. A model reads a sequence
of tokens and predicts the next one. During generation it picks a token, appends it to the sequence,
and repeats the process until it reaches a stop token or a length limit. Greedy decoding always picks
the most likely token, while sampling draws one at random from the predicted distribution.

Small models can run inside a web browser on the graphics card of an ordinary laptop or phone. The
weights are downloaded once, stored in a cache, and then every request is answered on the device
itself, without sending the text to a server. This keeps the data private and works without a network.
"""

PROMPTS = [
    "The model reads the text.",
    "The",
    "Every morning the children walked along the river to the market, where farmers sold apples, honey "
    "and bread. A model reads a sequence of tokens and predicts the next one: café, naïve, 🙂 and 42!",
]

# --------------------------------------------------------------------- helpers


def provenance():
    return {
        "command": COMMAND,
        "python": platform.python_version(),
        **{p: version(p) for p in ["torch", "transformers", "tokenizers", "safetensors"]},
    }


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def floats(t):
    """Exact float32 values as Python floats (their repr reads back to the same f32)."""
    assert t.dtype == torch.float32
    return t.flatten().tolist()


def dumps(obj, indent=0):
    """JSON with dicts indented and lists of numbers or strings kept on one line."""
    pad, inner = " " * indent, " " * (indent + 1)
    if isinstance(obj, dict):
        items = [f"{inner}{json.dumps(k)}: {dumps(v, indent + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, list) and any(isinstance(v, (dict, list)) for v in obj):
        return "[\n" + ",\n".join(inner + dumps(v, indent + 1) for v in obj) + "\n" + pad + "]"
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


# ------------------------------------------------------------------- tokenizer


def train_tokenizer():
    """Byte-level BPE as GPT-2 has it (GPT-2's split regex, no prefix space, no BOS/EOS added).
    tokenizers' BpeTrainer breaks ties deterministically, so the vocabulary is the same every run."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        min_frequency=2,
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS.split("\n\n"), trainer=trainer)
    assert tok.get_vocab_size() == VOCAB and tok.token_to_id("<|endoftext|>") == 0
    return tok


TOKENIZER_CONFIG = {
    "tokenizer_class": "PreTrainedTokenizerFast",
    "add_bos_token": False,
    "add_eos_token": False,
    "add_prefix_space": False,
    "bos_token": "<|endoftext|>",
    "eos_token": "<|endoftext|>",
    "unk_token": "<|endoftext|>",
    "clean_up_tokenization_spaces": False,
    "model_max_length": 128,
}

# ---------------------------------------------------------------------- models


def build(key, vocab):
    if key == "tiny-gpt2":
        cfg = GPT2Config(vocab_size=vocab, n_positions=128, n_embd=64, n_layer=2, n_head=4, bos_token_id=0, eos_token_id=0)
        return GPT2LMHeadModel(cfg)
    if key == "tiny-qwen2":
        cfg = Qwen2Config(
            vocab_size=vocab,
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=128,
            rope_theta=10000.0,
            tie_word_embeddings=False,
            rms_norm_eps=1e-6,
            bos_token_id=0,
            eos_token_id=0,
        )
        return Qwen2ForCausalLM(cfg)
    if key == "tiny-llama3":
        cfg = LlamaConfig(
            vocab_size=vocab,
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=1,
            max_position_embeddings=256,
            rope_theta=500000.0,
            # head_dim 16 gives 8 frequencies with wavelengths 6.3, 32.4, 167, ... tokens: with
            # original_max_position_embeddings 64 they fall in all three llama3 bands (kept,
            # smoothly interpolated between 16 and 64, divided by 8).
            rope_scaling={
                "rope_type": "llama3",
                "factor": 8.0,
                "low_freq_factor": 1.0,
                "high_freq_factor": 4.0,
                "original_max_position_embeddings": 64,
            },
            tie_word_embeddings=True,
            bos_token_id=0,
            eos_token_id=0,
        )
        return LlamaForCausalLM(cfg)
    raise KeyError(key)


def redraw(model, seed):
    """Every parameter from a fixed seed; see the module docstring."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            noise = torch.randn(p.shape, generator=gen)
            is_norm = "norm" in name or ".ln_" in name
            if is_norm and name.endswith("weight"):
                p.copy_(1.0 + 0.1 * noise)
            elif name.endswith("bias"):
                p.copy_(0.1 * noise)
            elif any(k in name for k in ["wte", "wpe", "embed_tokens", "lm_head"]):
                p.copy_(EMBED_STD * noise)
            else:
                # GPT-2's Conv1D stores [in, out]; nn.Linear stores [out, in].
                fan_in = p.shape[0] if "transformer.h." in name else p.shape[1]
                p.copy_(MATRIX_GAIN / fan_in**0.5 * noise)
    return model.eval()


def save(model, tok, folder):
    if folder.exists():
        shutil.rmtree(folder)
    model.save_pretrained(folder, safe_serialization=True)
    tok.save(str(folder / "tokenizer.json"))
    cfg = dict(TOKENIZER_CONFIG, model_max_length=model.config.max_position_embeddings)
    (folder / "tokenizer_config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"], names
    size = sum(p.stat().st_size for p in folder.iterdir())
    assert size <= 600_000, size  # f32 at hidden 64 with vocab 384: 0.4-0.55 MB
    with safe_open(folder / "model.safetensors", "pt") as f:
        tensors = {k: list(f.get_slice(k).get_shape()) for k in f.keys()}
        assert all(f.get_slice(k).get_dtype() == "F32" for k in f.keys())
    print(f"wrote {folder.relative_to(ROOT)}/ ({size} bytes, {len(tensors)} tensors)")
    return tensors


# --------------------------------------------------------------------- goldens


def greedy(model, ids):
    """NEW_TOKENS greedy tokens by model.generate, with the stop at eos switched off."""
    x = torch.tensor([ids])
    with torch.no_grad():
        g = model.generate(
            input_ids=x,
            attention_mask=torch.ones_like(x),
            do_sample=False,
            max_new_tokens=NEW_TOKENS,
            output_logits=True,
            return_dict_in_generate=True,
        )
    new = g.sequences[0, len(ids) :].tolist()
    assert len(new) == NEW_TOKENS, new
    logits = torch.stack([s[0] for s in g.logits])
    two = torch.topk(logits, 2, dim=-1)
    assert two.indices[:, 0].tolist() == new
    # Cross-check the cached decoding with one uncached forward over prompt + continuation.
    with torch.no_grad():
        full = model(input_ids=torch.tensor([ids + new[:-1]])).logits[0, len(ids) - 1 :]
    assert full.argmax(-1).tolist() == new
    assert (full - logits).abs().max() < 1e-4, (full - logits).abs().max()
    return new, two.values[:, 0] - two.values[:, 1]


def golden(key, folder, model, tok, tensors):
    cases = []
    for k, text in enumerate(PROMPTS):
        ids = tok.encode(text).ids
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids])).logits[0]
        new, margins = greedy(model, ids)
        case = {"prompt": text, "prompt_ids": ids, "logits": floats(logits[-1])}
        if k == 0:
            case["all_logits"] = [floats(row) for row in logits]
        case["greedy_ids"] = new
        case["greedy_text"] = tok.decode(new, skip_special_tokens=False)
        case["greedy_margins"] = floats(margins)
        cases.append(case)
        print(f"  {key} prompt {k}: {len(ids)} tokens, min margin {margins.min().item():.4g}, -> {case['greedy_text']!r}")
        assert margins.min() > MIN_MARGIN, f"{key}: a greedy margin under {MIN_MARGIN} with seed {SEEDS[key]}: change it"
    cfg = model.config
    return {
        "folder": str(folder.relative_to(ROOT)),
        "architecture": type(model).__name__,
        "seed": SEEDS[key],
        "model_sha256": sha256(folder / "model.safetensors"),
        "tie_word_embeddings": cfg.tie_word_embeddings,
        "tensors": tensors,
        "cases": cases,
    }


def reload(folder, model, tok):
    """Goldens come from the folder as transformers' Auto classes load it: same logits
    as the model in memory, and AutoTokenizer gives the tokenizers library's ids."""
    back = AutoModelForCausalLM.from_pretrained(folder, attn_implementation="eager").eval()
    auto = AutoTokenizer.from_pretrained(folder)
    worst = 0.0
    for text in PROMPTS:
        ids = tok.encode(text).ids
        assert auto(text)["input_ids"] == ids, text
        assert tok.decode(ids) == text, text
        with torch.no_grad():
            a = model(input_ids=torch.tensor([ids])).logits
            b = back(input_ids=torch.tensor([ids])).logits
        worst = max(worst, (a - b).abs().max().item())
    print(f"  {folder.relative_to(ROOT)} reloaded: largest logit difference {worst}")
    # Not always 0: on a one-token prompt torch's f32 matmul rounds differently for the
    # loaded tensors (about 2e-6 here), while each model alone is deterministic.
    assert worst < 1e-5, worst
    return back


def main():
    torch.set_num_threads(1)
    tok = train_tokenizer()
    MODELS.mkdir(exist_ok=True)
    out = {}
    for key in SEEDS:
        folder = MODELS / key
        model = redraw(build(key, VOCAB), SEEDS[key])
        model.set_attn_implementation("eager")
        tensors = save(model, tok, folder)
        model = reload(folder, model, tok)
        model.generation_config.eos_token_id = None  # generate fills a None from here: never stop early
        out[key] = golden(key, folder, model, tok, tensors)
    golden_json = {
        "reference": "transformers *ForCausalLM (eager attention, float32, CPU) loaded back from the folders under "
        "tests/models. Per prompt: prompt_ids (the shared tokenizer.json adds no BOS/EOS), logits: the last "
        "position's logits over the whole vocabulary; for the first prompt all_logits: [position][vocab]; "
        "greedy_ids: 16 tokens of model.generate(do_sample=False) with the eos stop switched off; "
        "greedy_margins: top-1 minus top-2 logit at each generated step. Logits are exact float32 values. "
        "tensors: name -> shape of every tensor in model.safetensors (GPT-2's Conv1D weights are [in, out]).",
        "made_by": provenance(),
        "tokenizer_sha256": sha256(MODELS / "tiny-gpt2/tokenizer.json"),
        "vocab_size": VOCAB,
        "new_tokens": NEW_TOKENS,
        "models": out,
    }
    OUT.write_text(dumps(golden_json) + "\n", encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
