#!/usr/bin/env bash
# One-time setup of the decoder benchmark; idempotent (a finished step is skipped).
#   1. transformers.js 4.3.1 into bench/decoder/node_modules (its own lock, the same
#      packages as bench/encoder's, not the root package.json), without
#      onnxruntime-node's binary download;
#   2. SmolLM2-135M-Instruct's GGUF (scripts/fetch-models.sh) and a Python venv with
#      torch + transformers (GGUF reader) + onnx + onnxruntime;
#   3. the ONNX export into .cache/onnx-smollm2 (export_onnx.py).
# Needs the root setup first (scripts/setup.sh: Chromium, root node_modules with
# playwright-core). The tokenizer comes from .cache/models/smollm2 (what webfm loads;
# scripts/prepare-models.sh) when it is there, else from the GGUF. DECODER_VENV
# overrides the venv (default .cache/venv, shared with bench/encoder).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$HERE"

TJS_VERSION=4.3.1
have=$(node -p "try{require('./node_modules/@huggingface/transformers/package.json').version}catch{''}" 2>/dev/null || true)
if [ "$have" != "$TJS_VERSION" ]; then
  echo "decoder: npm ci (@huggingface/transformers $TJS_VERSION)"
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund --prefer-offline
else
  echo "decoder: @huggingface/transformers $have present"
fi
# The page loads ORT's wasm from node_modules/onnxruntime-web: it must be the build
# that transformers.js bundles.
ort=$(node -p "require('./node_modules/onnxruntime-web/package.json').version")
grep -qF "ONNX Runtime Web v$ort" node_modules/@huggingface/transformers/dist/transformers.js || {
  echo "decoder: onnxruntime-web $ort is not the one bundled in transformers.js" >&2
  exit 1
}
[ -d "$ROOT/node_modules/playwright-core" ] || echo "decoder: warning: no playwright-core in $ROOT/node_modules: run scripts/setup.sh" >&2

"$ROOT/scripts/fetch-models.sh"
[ -f "$ROOT/.cache/models/smollm2/tokenizer.json" ] ||
  echo "decoder: note: no .cache/models/smollm2 (scripts/prepare-models.sh): the tokenizer comes from the GGUF" >&2

VENV=${DECODER_VENV:-$ROOT/.cache/venv}
if ! "$VENV/bin/python" -c "import torch, transformers, tokenizers, gguf, onnx, onnxruntime" 2>/dev/null; then
  echo "decoder: pip install -r bench/decoder/requirements.txt into $VENV (torch: a few minutes, ~5 GB)"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q -r "$HERE/requirements.txt" </dev/null
fi

OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} "$VENV/bin/python" "$HERE/export_onnx.py"
echo "decoder: ready: node bench/decoder/run.mjs"
