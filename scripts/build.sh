#!/usr/bin/env bash
# Build the release wasm package into pkg/: cargo (wasm32, simd128 from
# .cargo/config.toml) -> wasm-bindgen (--target web) -> wasm-opt -O3 (npm
# binaryen, never Debian's). Skips everything when pkg/webfm_bg.wasm is newer
# than every input; WEBFM_BUILD_FORCE=1 rebuilds anyway.
#
# The outputs are assembled in target/ and copied into pkg/ only once every
# step has succeeded, so a failed run never leaves a half-built package that a
# later run would mistake for up to date.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -d "${CARGO_HOME:-$HOME/.cargo}/bin" ]; then
  export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
fi

out=pkg/webfm_bg.wasm
inputs=(Cargo.toml Cargo.lock src shaders .cargo/config.toml scripts/build.sh)

report() {
  local raw gz
  raw=$(wc -c <"$out")
  gz=$(gzip -9c "$out" | wc -c)
  echo "webfm_bg.wasm: raw $raw bytes, gzip $gz bytes"
}

if [ "${WEBFM_BUILD_FORCE:-0}" != "1" ] && [ -f "$out" ] && [ -f pkg/webfm.js ]; then
  existing=()
  for p in "${inputs[@]}"; do [ -e "$p" ] && existing+=("$p"); done
  if [ -z "$(find "${existing[@]}" -newer "$out" -print -quit 2>/dev/null)" ]; then
    echo "build: pkg/ is up to date (WEBFM_BUILD_FORCE=1 to rebuild)"
    report
    exit 0
  fi
fi

wasm_opt=node_modules/.bin/wasm-opt
[ -x "$wasm_opt" ] || { echo "build: $wasm_opt missing; run scripts/setup.sh" >&2; exit 1; }
command -v wasm-bindgen >/dev/null || { echo "build: wasm-bindgen missing; run scripts/setup.sh" >&2; exit 1; }

# The package is stamped with this start time, not the end: a source edited
# while the build runs is then newer than the output, and the next run rebuilds.
started=$(date +%s)
echo "build: cargo build --release --lib --target wasm32-unknown-unknown"
cargo build --release --lib --target wasm32-unknown-unknown

target_dir=${CARGO_TARGET_DIR:-target}
stage=$target_dir/webfm-pkg
rm -rf "$stage"
mkdir -p "$stage"

echo "build: wasm-bindgen --target web"
wasm-bindgen --target web --out-dir "$stage" --out-name webfm \
  "$target_dir/wasm32-unknown-unknown/release/webfm.wasm"

# The features rustc's wasm32 target emits by default (bulk memory, sign-ext,
# non-trapping float-to-int, mutable globals, reference types, multivalue) plus
# simd128 from .cargo/config.toml. wasm-opt refuses a module that uses a
# feature it was not told about, so a missing flag fails loudly here.
echo "build: wasm-opt -O3 ($("$wasm_opt" --version))"
"$wasm_opt" -O3 \
  --enable-simd --enable-bulk-memory --enable-nontrapping-float-to-int \
  --enable-sign-ext --enable-mutable-globals --enable-reference-types \
  --enable-multivalue \
  "$stage/webfm_bg.wasm" -o "$stage/webfm_bg.opt.wasm"
mv "$stage/webfm_bg.opt.wasm" "$stage/webfm_bg.wasm"

# Install into pkg/ (which also holds hand-written, committed files: leave them).
mkdir -p pkg
rm -rf pkg/snippets
[ -d "$stage/snippets" ] && cp -r "$stage/snippets" pkg/
for f in "$stage"/webfm*.js "$stage"/webfm*.d.ts; do
  [ -e "$f" ] && cp "$f" pkg/
done
cp "$stage/webfm_bg.wasm" "$out.tmp" && mv "$out.tmp" "$out"   # last: marks pkg/ complete
touch -d "@$started" "$out"
report
