#!/usr/bin/env bash
# One-time setup of the encoder benchmark; idempotent (a finished step is skipped).
#   1. transformers.js 4.3.1 into bench/encoder/node_modules (its own lock, not the
#      root package.json), without onnxruntime-node's binary download;
#   2. all-MiniLM-L6-v2 (scripts/fetch-models.sh) and a Python venv with torch + onnx;
#   3. the ONNX export into .cache/onnx-minilm (export_onnx.py).
# Needs the root setup first (scripts/setup.sh: Chromium, root node_modules with
# playwright-core). ENCODER_VENV overrides the venv (default .cache/venv).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$HERE"

TJS_VERSION=4.3.1
have=$(node -p "try{require('./node_modules/@huggingface/transformers/package.json').version}catch{''}" 2>/dev/null || true)
if [ "$have" != "$TJS_VERSION" ]; then
  echo "encoder: npm ci (@huggingface/transformers $TJS_VERSION)"
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
else
  echo "encoder: @huggingface/transformers $have present"
fi
# The page loads ORT's wasm from node_modules/onnxruntime-web: it must be the build
# that transformers.js bundles.
ort=$(node -p "require('./node_modules/onnxruntime-web/package.json').version")
grep -qF "ONNX Runtime Web v$ort" node_modules/@huggingface/transformers/dist/transformers.js || {
  echo "encoder: onnxruntime-web $ort is not the one bundled in transformers.js" >&2
  exit 1
}
[ -d "$ROOT/node_modules/playwright-core" ] || echo "encoder: warning: no playwright-core in $ROOT/node_modules: run scripts/setup.sh" >&2

"$ROOT/scripts/fetch-models.sh"

VENV=${ENCODER_VENV:-$ROOT/.cache/venv}
if ! "$VENV/bin/python" -c "import torch, transformers, tokenizers, onnx, onnxruntime, onnxscript" 2>/dev/null; then
  echo "encoder: pip install -r bench/encoder/requirements.txt into $VENV (torch: a few minutes, ~5 GB)"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q -r "$HERE/requirements.txt" </dev/null
fi

OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} "$VENV/bin/python" "$HERE/export_onnx.py"
echo "encoder: ready: node bench/encoder/run.mjs"
