#!/usr/bin/env bash
# Set up, build, and serve the demo at http://127.0.0.1:${PORT:-8080}/
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
exec node scripts/serve.mjs --port "${PORT:-8080}" --host "${HOST:-127.0.0.1}"
