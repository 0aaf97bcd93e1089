#!/usr/bin/env bash
# Native GEMM benchmark: the release `webfm` CLI on wgpu (Vulkan; lavapipe
# where there is no GPU) and on candle's CPU path. Writes
# bench/out/native-gemm.json and bench/out/native-qgemv.json.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin webfm
bin=${CARGO_TARGET_DIR:-target}/release/webfm
mkdir -p bench/out

# json_array OUT CMD...: runs each line of CMD's output as webfm arguments and
# writes the JSON results as one array to OUT.
json_array() {
  local out=$1 first=1 args r
  shift
  {
    echo "["
    while read -r args; do
      r=$("$bin" $args 2>/dev/null)
      echo "bench native: $r" >&2
      [ $first = 1 ] || echo ","
      first=0
      echo "$r"
    done < <("$@")
    echo "]"
  } > "$out"
  echo "wrote $out" >&2
}

gemm_runs() {
  local sizes=("256 256 256" "512 512 512" "1024 1024 1024" "1 4096 4096" "1 4096 4096 --bt")
  for dev in gpu cpu; do
    for kernel in tiled naive; do
      [ "$dev" = cpu ] && [ "$kernel" = naive ] && continue
      # One multiplication for the slow naive cases, a few for the rest.
      local iters=5; [ "$kernel" = naive ] && iters=1
      for s in "${sizes[@]}"; do echo "bench-gemm $s --device $dev --kernel $kernel --iters $iters"; done
    done
  done
}

# One token through a linear layer: f32 vs 8- and 4-bit affine weights (group 32).
qgemv_runs() {
  for dev in gpu cpu; do
    for nk in "4096 4096" "1536 576" "576 1536"; do
      for bits in 32 8 4; do echo "bench-qgemv $nk --bits $bits --device $dev --iters 10"; done
    done
  done
}

json_array bench/out/native-gemm.json gemm_runs
json_array bench/out/native-qgemv.json qgemv_runs
