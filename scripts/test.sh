#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run): setup, release wasm build,
# lint gates (rustfmt, clippy native and wasm32 with warnings as errors, tsc
# over the package's types), native Rust tests (CPU + wgpu on lavapipe, the
# layering check in tests/layers.rs among them), browser tests (headless
# Chromium, WebGPU on SwiftShader and the CPU path). Stops at the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -d "${CARGO_HOME:-$HOME/.cargo}/bin" ]; then
  export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
fi

# Mesa's Vulkan driver warns on every device when XDG_RUNTIME_DIR is unset.
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
  export XDG_RUNTIME_DIR="${TMPDIR:-/tmp}/webfm-xdg-$(id -u)"
  mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
fi

stage() { printf '\n==== %s ====\n' "$*"; }
start=$SECONDS

stage "1/6 setup (scripts/setup.sh)"
scripts/setup.sh

stage "2/6 lint gates (rustfmt, clippy native + wasm32, tsc)"
cargo fmt --check
cargo clippy --all-targets --quiet -- -D warnings
cargo clippy --target wasm32-unknown-unknown --lib --quiet -- -D warnings
scripts/typecheck.sh

stage "3/6 wasm build (scripts/build.sh)"
scripts/build.sh

stage "4/6 native tests (cargo test)"
# The set-up fetched the real models: tests that use them must not skip.
WEBFM_REQUIRE_MODELS=1 cargo test

stage "5/6 default models (scripts/prepare-models.sh)"
scripts/prepare-models.sh

stage "6/6 browser and Node tests (node --test tests/browser/ tests/node/)"
node --test --test-concurrency=1 tests/browser/ tests/node/

stage "all passed in $((SECONDS - start)) s"
