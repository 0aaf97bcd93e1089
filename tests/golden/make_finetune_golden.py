#!/usr/bin/env python3
"""Golden files for webfm's fine-tuning (LoRA adapters, classification heads, AdamW),
made by PyTorch + PEFT on the tiny random models in tests/models.

Writes, from the repository root:

- tests/golden/finetune_tiny.json: two short training runs, every number of them.
  encoder: a 3-label head (nn.Linear(32, 3) over mean-pooled last hidden states)
  plus LoRA on query/value of tests/models/tiny-bert-cls (BertModel, pooler
  unused). decoder: LoRA on q_proj/v_proj of tests/models/tiny-llama3 with the
  standard causal-LM loss over a prompt/completion example and a plain-text one.
  Per run: the token ids, the initial adapter (LoRA B is NOT zero, on purpose, so
  every gradient is non-zero), the logits before training, then per step the loss,
  the global gradient norm before clipping, every trainable gradient before
  clipping and every trainable parameter after the AdamW step, and the logits
  after the last step.
- tests/golden/peft/tiny-bert-head-lora{,-init}/ and
  tests/golden/peft/tiny-llama3-lora{,-init}/: the adapters after the last step
  and before the first, as PEFT's save_pretrained writes them (adapter_config.json
  and adapter_model.safetensors; the model card README.md it adds is removed).
  Each is loaded back with PeftModel.from_pretrained onto a fresh base model and
  must give the recorded logits (< 1e-6).

Tests compare webfm against these numbers; they never call Python. Run:

    .cache/venv/bin/pip install torch==2.15.0 transformers==5.24.0 tokenizers==0.23.3 \\
        safetensors peft==0.21.2
    OMP_NUM_THREADS=1 .cache/venv/bin/python tests/golden/make_finetune_golden.py

Float32, CPU, one thread, eval mode (no dropout; gradients are still computed),
eager attention. AdamW is torch.optim.AdamW (lr 1e-2, betas (0.9, 0.999), eps 1e-8,
weight decay 0.01 on every trainable tensor, constant lr, 2 steps on one batch),
after torch.nn.utils.clip_grad_norm_ with a max_norm under the step-1 norm, so
clipping is active in step 1. Everything is seeded; a rerun writes the same bytes.
"""

import hashlib
import json
import math
import platform
import shutil
import time
from importlib.metadata import version
from pathlib import Path

import torch
import torch.nn.functional as F
from peft import LoraConfig, PeftModel, get_peft_model, get_peft_model_state_dict
from safetensors import safe_open
from tokenizers import Tokenizer
from torch import nn
from transformers import AutoTokenizer, BertModel, LlamaForCausalLM

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests/golden"
MODELS = ROOT / "tests/models"
PEFT_DIR = GOLDEN / "peft"
OUT = GOLDEN / "finetune_tiny.json"
COMMAND = "OMP_NUM_THREADS=1 .cache/venv/bin/python tests/golden/make_finetune_golden.py"

# AdamW and clipping, the same for both runs.
LR = 1e-2
BETAS = (0.9, 0.999)
EPS = 1e-8
WEIGHT_DECAY = 0.01
STEPS = 2
CLIP_EPS = 1e-6  # clip_grad_norm_: coef = max_norm / (norm + 1e-6), clamped to 1
# LoRA
RANK = 4
ALPHA = 8
INIT_STD = 0.1  # every lora_A / lora_B and the head's weight: N(0, 1) * 0.1
HEAD_BIAS_STD = 0.01
# max_norm: about half the step-1 gradient norm, 2 significant digits (step-1 norms
# encoder 0.813, decoder 9.34, printed by the run), so clipping is active in step 1
# (and in step 2, with another coefficient, so the clipped step-1 moments matter).
ENC_MAX_NORM = 0.41
DEC_MAX_NORM = 4.7
ENC_SEED = 1
DEC_SEED = 2
TOL = 1e-6

ENC_FOLDER = MODELS / "tiny-bert-cls"
DEC_FOLDER = MODELS / "tiny-llama3"
LABELS = ["negative", "neutral", "positive"]
ENC_TEXTS = [
    ("great", 2),
    ("the food was cold and late", 0),
    ("it was fine i guess", 1),
    ("absolutely wonderful service, would come back", 2),
]
DEC_EXAMPLES = [
    {"prompt": "Q: what is two plus two? A:", "completion": " four"},
    {"text": "the cat sat on the mat"},
]

# --------------------------------------------------------------------- helpers


def provenance():
    return {
        "command": COMMAND,
        "python": platform.python_version(),
        **{p: version(p) for p in ["torch", "transformers", "peft", "tokenizers", "safetensors"]},
    }


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def rel(path):
    return str(Path(path).relative_to(ROOT))


def sig9(values):
    """Floats rounded to 9 significant digits (reads back to the same f32), as a flat list."""
    return [float(f"{v:.9g}") for v in torch.as_tensor(values).detach().flatten().tolist()]


def tensor(t):
    return {"shape": list(t.shape), "values": sig9(t)}


def dumps(obj, indent=0):
    """JSON with dicts indented and lists of numbers or strings kept on one line."""
    pad, inner = " " * indent, " " * (indent + 1)
    if isinstance(obj, dict):
        items = [f"{inner}{json.dumps(k)}: {dumps(v, indent + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, list) and any(isinstance(v, (dict, list)) for v in obj):
        return "[\n" + ",\n".join(inner + dumps(v, indent + 1) for v in obj) + "\n" + pad + "]"
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def saved_name(name):
    """PEFT parameter name -> its name in adapter_model.safetensors (adapter name dropped)."""
    return name.replace(".modules_to_save.default.", ".").replace(".default.", ".")


def trainable(model):
    """[(saved name, parameter)] in named_parameters order; the names must be exactly
    the keys PEFT saves."""
    params = [(saved_name(n), p) for n, p in model.named_parameters() if p.requires_grad]
    assert sorted(n for n, _ in params) == sorted(get_peft_model_state_dict(model).keys())
    return params


def overwrite_init(params, seed):
    """Seeded N(0,1) * 0.1 for every LoRA A and B and the head's weight, * 0.01 for its bias,
    drawn in sorted name order. PEFT's B = 0 would give A zero gradients."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in sorted(params, key=lambda x: x[0]):
            std = HEAD_BIAS_STD if p.ndim == 1 else INIT_STD
            p.copy_(torch.randn(p.shape, generator=gen) * std)


def fix_config(model, base_name):
    """Deterministic adapter_config.json: PEFT writes target_modules (a set) as list(set),
    whose order follows the string hash seed; a sorted list saves the same every run.
    base_model_name_or_path: the folder relative to the repository root."""
    cfg = model.peft_config["default"]
    cfg.target_modules = sorted(cfg.target_modules)
    cfg.base_model_name_or_path = base_name


def save_adapter(model, folder):
    if folder.exists():
        shutil.rmtree(folder)
    model.save_pretrained(folder)
    (folder / "README.md").unlink()  # PEFT's model card: boilerplate, not needed
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["adapter_config.json", "adapter_model.safetensors"], names
    print(f"wrote {rel(folder)}/ ({sum(p.stat().st_size for p in folder.iterdir())} bytes)")


def check_saved(folder, params):
    """The saved tensors are exactly the parameters (f32, the recorded names)."""
    with safe_open(folder / "adapter_model.safetensors", "pt") as f:
        assert sorted(f.keys()) == sorted(n for n, _ in params), sorted(f.keys())
        for n, p in params:
            t = f.get_tensor(n)
            assert t.dtype == torch.float32 and torch.equal(t, p.detach()), n


def adapter_files(folder):
    return {
        "folder": rel(folder),
        "adapter_config_sha256": sha256(folder / "adapter_config.json"),
        "adapter_model_sha256": sha256(folder / "adapter_model.safetensors"),
    }


def adamw_by_hand(p0, grads, t, state):
    """torch.optim.AdamW's update written out, float64; checks the documented formula."""
    m, v = state.get("m", torch.zeros_like(p0)), state.get("v", torch.zeros_like(p0))
    b1, b2 = BETAS
    p = p0 * (1 - LR * WEIGHT_DECAY)
    m = b1 * m + (1 - b1) * grads
    v = b2 * v + (1 - b2) * grads * grads
    denom = v.sqrt() / math.sqrt(1 - b2**t) + EPS
    p = p - (LR / (1 - b1**t)) * m / denom
    state["m"], state["v"] = m, v
    return p


def train(params, loss_fn, max_norm):
    """STEPS AdamW steps with clip_grad_norm_ before each; returns the per-step records."""
    tensors = [p for _, p in params]
    opt = torch.optim.AdamW(tensors, lr=LR, betas=BETAS, eps=EPS, weight_decay=WEIGHT_DECAY)
    states = {n: {} for n, _ in params}
    steps = []
    for t in range(1, STEPS + 1):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn()
        loss.backward()
        grads = {n: p.grad.detach().clone() for n, p in params}
        assert all((g != 0).all() for g in grads.values()), "a zero gradient element"
        norm = torch.nn.utils.clip_grad_norm_(tensors, max_norm)
        by_hand = math.sqrt(sum((g.double() ** 2).sum().item() for g in grads.values()))
        assert abs(norm.item() - by_hand) < 1e-5 * by_hand, (norm.item(), by_hand)
        coef = min(1.0, max_norm / (norm.item() + CLIP_EPS))
        for n, p in params:
            assert torch.allclose(p.grad, grads[n] * coef, rtol=1e-6, atol=0), n
        before = {n: p.detach().double().clone() for n, p in params}
        opt.step()
        for n, p in params:
            want = adamw_by_hand(before[n], p.grad.double(), t, states[n])
            assert (p.detach().double() - want).abs().max() < 1e-6, n
        smallest = min(g.abs().min().item() for g in grads.values())
        print(
            f"  step {t}: loss {loss.item():.6f}, grad norm {norm.item():.6f}, max_norm {max_norm}, "
            f"clip coef {coef:.6f}, smallest |grad| {smallest:.3g}"
        )
        steps.append(
            {
                "step": t,
                "loss": sig9(loss)[0],
                "grad_norm": sig9(norm)[0],
                "clipped": coef < 1.0,
                "clip_coef": float(f"{coef:.9g}"),
                "grads": {n: tensor(g) for n, g in grads.items()},
                "params": {n: tensor(p) for n, p in params},
            }
        )
    assert steps[0]["clipped"], "clipping must be active in step 1: lower max_norm"
    return steps


# --------------------------------------------------------------------- encoder


class MeanPoolClassifier(nn.Module):
    """BertModel (its pooler unused) -> mean of last_hidden_state over the attention mask
    -> nn.Linear(32, 3)."""

    def __init__(self):
        super().__init__()
        self.bert = BertModel.from_pretrained(str(ENC_FOLDER), attn_implementation="eager")
        self.classifier = nn.Linear(self.bert.config.hidden_size, len(LABELS))

    def features(self, input_ids, attention_mask, token_type_ids):
        h = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state
        m = attention_mask.unsqueeze(-1).to(h.dtype)
        return (h * m).sum(1) / m.sum(1)

    def forward(self, input_ids, attention_mask, token_type_ids):
        return self.classifier(self.features(input_ids, attention_mask, token_type_ids))


def enc_base():
    model = MeanPoolClassifier()
    # BertModel from the BertForSequenceClassification checkpoint ("bert." prefix): same tensors.
    with safe_open(ENC_FOLDER / "model.safetensors", "pt") as f:
        state = model.bert.state_dict()
        for k in f.keys():
            if k.startswith("bert."):
                assert torch.equal(f.get_tensor(k), state[k[len("bert.") :]]), k
    return model.eval()


def enc_batch():
    tok = Tokenizer.from_file(str(ENC_FOLDER / "tokenizer.json"))
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    texts = [t for t, _ in ENC_TEXTS]
    encs = tok.encode_batch(texts)
    auto = AutoTokenizer.from_pretrained(str(ENC_FOLDER))(texts, padding=True)
    assert auto["input_ids"] == [e.ids for e in encs]
    assert auto["attention_mask"] == [e.attention_mask for e in encs]
    lengths = [sum(e.attention_mask) for e in encs]
    assert len(set(lengths)) == len(texts), lengths
    batch = {
        "input_ids": torch.tensor([e.ids for e in encs]),
        "attention_mask": torch.tensor([e.attention_mask for e in encs]),
        "token_type_ids": torch.tensor([e.type_ids for e in encs]),
    }
    assert (batch["token_type_ids"] == 0).all()
    record = {
        "texts": texts,
        "labels": [y for _, y in ENC_TEXTS],
        "tokens": [[t for t, m in zip(e.tokens, e.attention_mask) if m] for e in encs],
        "input_ids": batch["input_ids"].tolist(),
        "attention_mask": batch["attention_mask"].tolist(),
        "token_type_ids": batch["token_type_ids"].tolist(),
    }
    return batch, torch.tensor(record["labels"]), record


def make_encoder():
    print("encoder: tiny-bert-cls, mean-pooled head + LoRA on query/value")
    config = LoraConfig(
        r=RANK,
        lora_alpha=ALPHA,
        lora_dropout=0.0,
        target_modules=["query", "value"],
        modules_to_save=["classifier"],
        bias="none",
    )
    model = get_peft_model(enc_base(), config).eval()
    fix_config(model, rel(ENC_FOLDER))
    params = trainable(model)
    overwrite_init(params, ENC_SEED)
    init = {n: tensor(p) for n, p in params}
    save_adapter(model, PEFT_DIR / "tiny-bert-head-lora-init")
    check_saved(PEFT_DIR / "tiny-bert-head-lora-init", params)

    batch, labels, batch_record = enc_batch()
    with torch.no_grad():
        features_before = model.base_model.model.features(**batch)
        logits_before = model(**batch)
        for i, n in enumerate(batch["attention_mask"].sum(1).tolist()):  # padding changes nothing
            alone = model(**{k: v[i : i + 1, :n] for k, v in batch.items()})[0]
            assert (alone - logits_before[i]).abs().max() < 1e-5, i

    def loss_fn():
        logits = model(**batch)
        loss = F.cross_entropy(logits, labels)
        hand = -logits.double().log_softmax(-1).gather(-1, labels.unsqueeze(-1)).mean()
        assert abs(loss.item() - hand.item()) <= 1e-6 * hand.item(), (loss.item(), hand.item())
        return loss

    steps = train(params, loss_fn, ENC_MAX_NORM)
    with torch.no_grad():
        logits_after = model(**batch)
    save_adapter(model, PEFT_DIR / "tiny-bert-head-lora")
    check_saved(PEFT_DIR / "tiny-bert-head-lora", params)

    # PEFT reads the saved adapters back onto a fresh base: the recorded logits.
    for name, want in [("tiny-bert-head-lora-init", logits_before), ("tiny-bert-head-lora", logits_after)]:
        back = PeftModel.from_pretrained(enc_base(), str(PEFT_DIR / name)).eval()
        with torch.no_grad():
            got = back(**batch)
        print(f"  {name} reloaded by PEFT: largest logit difference {(got - want).abs().max().item()}")
        assert (got - want).abs().max() < TOL

    return {
        "base_model": rel(ENC_FOLDER),
        "base_model_sha256": sha256(ENC_FOLDER / "model.safetensors"),
        "model": "BertModel (eager attention, pooler unused) -> features = sum(last_hidden_state * mask) / "
        "sum(mask) over the sequence -> logits = classifier(features), classifier = nn.Linear(32, 3)",
        "labels": LABELS,
        "lora": {
            "r": RANK,
            "lora_alpha": ALPHA,
            "scaling": ALPHA / RANK,
            "target_modules": ["query", "value"],
            "modules_to_save": ["classifier"],
            "init_seed": ENC_SEED,
        },
        "loss": "mean cross-entropy over the batch",
        "max_grad_norm": ENC_MAX_NORM,
        "adapter_init": adapter_files(PEFT_DIR / "tiny-bert-head-lora-init"),
        "adapter_final": adapter_files(PEFT_DIR / "tiny-bert-head-lora"),
        "batch": batch_record,
        "init": init,
        "features_before": tensor(features_before),
        "logits_before": tensor(logits_before),
        "steps": steps,
        "logits_after": tensor(logits_after),
    }


# --------------------------------------------------------------------- decoder


def dec_base():
    return LlamaForCausalLM.from_pretrained(str(DEC_FOLDER), attn_implementation="eager").eval()


def dec_batch(eos):
    tok = AutoTokenizer.from_pretrained(str(DEC_FOLDER))
    raw = Tokenizer.from_file(str(DEC_FOLDER / "tokenizer.json"))

    def encode(text, special=True):
        ids = tok(text, add_special_tokens=special)["input_ids"]
        if special:
            assert ids == raw.encode(text).ids, text  # AutoTokenizer and tokenizers agree
        return ids

    rows, bos_added = [], False
    for ex in DEC_EXAMPLES:
        if "prompt" in ex:
            prompt, completion = encode(ex["prompt"]), encode(ex["completion"], special=False)
            ids = prompt + completion + [eos]
            labels = [-100] * len(prompt) + completion + [eos]
        else:
            text = encode(ex["text"])
            ids = text + [eos]
            labels = list(ids)
            if text[:1] == [tok.bos_token_id] and encode(ex["text"], special=False)[:1] != text[:1]:
                labels[0] = -100  # a BOS the tokenizer added is never a target
        key = ex.get("prompt", ex.get("text"))
        bos_added |= encode(key) != encode(key, special=False)
        rows.append((ids, labels))
    # This tokenizer adds no BOS (add_bos_token false, no post-processor): bos_added is false.
    width = max(len(ids) for ids, _ in rows)
    lengths = [len(ids) for ids, _ in rows]
    assert len(set(lengths)) == len(rows), lengths
    input_ids = [ids + [eos] * (width - len(ids)) for ids, _ in rows]
    mask = [[1] * len(ids) + [0] * (width - len(ids)) for ids, _ in rows]
    labels = [lab + [-100] * (width - len(lab)) for _, lab in rows]
    batch = {"input_ids": torch.tensor(input_ids), "attention_mask": torch.tensor(mask)}
    record = {
        "examples": DEC_EXAMPLES,
        "bos_added": bos_added,
        "eos_token_id": eos,
        "pad_token_id": eos,
        "lengths": lengths,
        "input_ids": input_ids,
        "attention_mask": mask,
        "labels": labels,
        "last_positions": [n - 1 for n in lengths],
    }
    return batch, torch.tensor(labels), record


def causal_loss_by_hand(logits, labels):
    """Next-token cross-entropy in float64: logits[:, t] predicts labels[:, t + 1]; the mean
    over every target that is not -100 in the whole batch."""
    logp = logits[:, :-1].double().log_softmax(-1)
    target = labels[:, 1:]
    keep = target != -100
    return -logp[keep].gather(-1, target[keep].unsqueeze(-1)).sum() / keep.sum()


def make_decoder():
    print("decoder: tiny-llama3, LoRA on q_proj/v_proj")
    base = dec_base()
    eos = json.loads((DEC_FOLDER / "config.json").read_text())["eos_token_id"]
    assert eos == base.config.eos_token_id == 0
    config = LoraConfig(r=RANK, lora_alpha=ALPHA, lora_dropout=0.0, target_modules=["q_proj", "v_proj"])
    model = get_peft_model(base, config).eval()
    fix_config(model, rel(DEC_FOLDER))
    params = trainable(model)
    overwrite_init(params, DEC_SEED)
    init = {n: tensor(p) for n, p in params}
    save_adapter(model, PEFT_DIR / "tiny-llama3-lora-init")
    check_saved(PEFT_DIR / "tiny-llama3-lora-init", params)

    batch, labels, batch_record = dec_batch(eos)
    last = torch.tensor(batch_record["last_positions"])
    rows = torch.arange(len(last))
    targets = int((labels[:, 1:] != -100).sum())
    batch_record["loss_targets"] = targets

    def last_logits(m):
        with torch.no_grad():
            return m(**batch, use_cache=False).logits[rows, last]

    logits_before = last_logits(model)
    for i, n in enumerate(batch_record["lengths"]):  # padding changes nothing
        with torch.no_grad():
            alone = model(input_ids=batch["input_ids"][i : i + 1, :n], use_cache=False).logits[0, -1]
        assert (alone - logits_before[i]).abs().max() < 1e-5, i

    def loss_fn():
        out = model(**batch, labels=labels, use_cache=False)
        hand = causal_loss_by_hand(out.logits, labels)
        # Equal up to f32 rounding: torch reduces over all 2 x 26 rows (the ignored ones add 0),
        # which rounds differently from a sum over the 13 targets alone (under one f32 ulp here).
        assert abs(out.loss.item() - hand.item()) <= 1e-6 * hand.item(), (out.loss.item(), hand.item())
        print(f"  loss {out.loss.item()!r} (transformers), {hand.item()!r} (by hand, float64)")
        return out.loss

    steps = train(params, loss_fn, DEC_MAX_NORM)
    logits_after = last_logits(model)
    save_adapter(model, PEFT_DIR / "tiny-llama3-lora")
    check_saved(PEFT_DIR / "tiny-llama3-lora", params)

    for name, want in [("tiny-llama3-lora-init", logits_before), ("tiny-llama3-lora", logits_after)]:
        back = PeftModel.from_pretrained(dec_base(), str(PEFT_DIR / name)).eval()
        got = last_logits(back)
        print(f"  {name} reloaded by PEFT: largest logit difference {(got - want).abs().max().item()}")
        assert (got - want).abs().max() < TOL

    return {
        "base_model": rel(DEC_FOLDER),
        "base_model_sha256": sha256(DEC_FOLDER / "model.safetensors"),
        "model": "LlamaForCausalLM (eager attention); positions 0.. for every row (right padding)",
        "lora": {
            "r": RANK,
            "lora_alpha": ALPHA,
            "scaling": ALPHA / RANK,
            "target_modules": ["q_proj", "v_proj"],
            "init_seed": DEC_SEED,
        },
        "loss": "transformers' causal-LM loss: logits[:, t] predicts labels[:, t + 1]; mean cross-entropy "
        "over every label that is not -100 in the whole batch (loss_targets of them)",
        "max_grad_norm": DEC_MAX_NORM,
        "adapter_init": adapter_files(PEFT_DIR / "tiny-llama3-lora-init"),
        "adapter_final": adapter_files(PEFT_DIR / "tiny-llama3-lora"),
        "batch": batch_record,
        "init": init,
        "logits_last_before": tensor(logits_before),
        "steps": steps,
        "logits_last_after": tensor(logits_after),
    }


def main():
    start = time.time()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    PEFT_DIR.mkdir(exist_ok=True)
    golden = {
        "reference": "PyTorch + PEFT, float32, CPU, eval mode (no dropout), eager attention. LoRA: "
        "y = base(x) + lora_B(lora_A(x)) * scaling, scaling = lora_alpha / r; initial A, B (and the head) "
        "are seeded N(0,1) * 0.1 (head bias * 0.01), B not zero. Per step: loss, grad_norm (global L2 norm "
        "of all trainable gradients before clipping), grads (before clipping), params (after the AdamW step); "
        "clip_coef = min(1, max_grad_norm / (grad_norm + 1e-6)) scales every gradient before the step. "
        "AdamW (torch): p *= 1 - lr * weight_decay; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; "
        "p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps). Names are the keys of "
        "adapter_model.safetensors. Tensors are row-major with their shape; floats have 9 significant digits.",
        "made_by": provenance(),
        "optimizer": {
            "name": "torch.optim.AdamW",
            "lr": LR,
            "betas": list(BETAS),
            "eps": EPS,
            "weight_decay": WEIGHT_DECAY,
            "weight_decay_on": "every trainable tensor (LoRA A and B, head weight and bias)",
            "schedule": "constant",
            "steps": STEPS,
            "clip": "torch.nn.utils.clip_grad_norm_ (L2 over all trainable gradients), eps 1e-6",
        },
        "encoder": make_encoder(),
        "decoder": make_decoder(),
    }
    OUT.write_text(dumps(golden) + "\n", encoding="utf-8")
    print(f"wrote {rel(OUT)} ({OUT.stat().st_size} bytes) in {time.time() - start:.1f} s")


if __name__ == "__main__":
    main()
