#!/usr/bin/env bash
# All GEMM benchmarks: native (wgpu + CPU) and in Chromium (WebGPU + wasm CPU),
# then the table for bench/README.md. Needs scripts/setup.sh and scripts/build.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
bench/run-native.sh
node bench/run-browser.mjs > /dev/null
node bench/table.mjs
