#!/usr/bin/env bash
# Type-checks the package's hand-written declarations (pkg/index.d.ts,
# pkg/worker.d.ts) against tests/types/example.ts, which uses every export.
# Needs `npm ci` (typescript is a dev dependency); no wasm build.
set -euo pipefail
cd "$(dirname "$0")/.."
tsc=node_modules/.bin/tsc
[ -x "$tsc" ] || { echo "typecheck: $tsc missing; run npm ci (or scripts/setup.sh)" >&2; exit 1; }
"$tsc" --noEmit -p tests/types
echo "typecheck: pkg/index.d.ts and pkg/worker.d.ts OK ($("$tsc" --version))"
