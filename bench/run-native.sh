#!/usr/bin/env bash
# Native GEMM benchmark: the release `webfm` CLI on wgpu (Vulkan; lavapipe
# where there is no GPU) and on candle's CPU path. Writes bench/out/native-gemm.json.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin webfm
bin=${CARGO_TARGET_DIR:-target}/release/webfm
mkdir -p bench/out
sizes=("256 256 256" "512 512 512" "1024 1024 1024" "1 4096 4096" "1 4096 4096 --bt")
{
  echo "["
  first=1
  for dev in gpu cpu; do
    for kernel in tiled naive; do
      [ "$dev" = cpu ] && [ "$kernel" = naive ] && continue
      for s in "${sizes[@]}"; do
        # One multiplication for the slow naive cases, a few for the rest.
        iters=5; [ "$kernel" = naive ] && iters=1
        r=$("$bin" bench-gemm $s --device "$dev" --kernel "$kernel" --iters "$iters" 2>/dev/null)
        echo "bench native: $r" >&2
        [ $first = 1 ] || echo ","
        first=0
        echo "$r"
      done
    done
  done
  echo "]"
} > bench/out/native-gemm.json
echo "wrote bench/out/native-gemm.json" >&2

# One token through a linear layer: f32 vs 8- and 4-bit affine weights (group 32).
{
  echo "["
  first=1
  for dev in gpu cpu; do
    for nk in "4096 4096" "1536 576" "576 1536"; do
      for bits in 32 8 4; do
        r=$("$bin" bench-qgemv $nk --bits "$bits" --device "$dev" --iters 10 2>/dev/null)
        echo "bench native: $r" >&2
        [ $first = 1 ] || echo ","
        first=0
        echo "$r"
      done
    done
  done
  echo "]"
} > bench/out/native-qgemv.json
echo "wrote bench/out/native-qgemv.json" >&2
