#!/usr/bin/env bash
# Fuzzes the file readers: builds the cargo-fuzz targets of fuzz/ and runs
# each, one after the other on one core, for SECONDS (default 600), starting
# from the seeds the tests write into fuzz/corpus/<target>/ and from the kept
# inputs of tests/fuzz-regressions/. An input that crashes a target, runs it
# out of memory or times out is copied to
# tests/fuzz-regressions/<target>-<kind>-<hash>, where `cargo test`
# (tests/fuzz_regressions.rs) replays it; commit it with the fix.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     (nice -n 19 scripts/fuzz.sh 60 gguf)
#
# Needs the nightly toolchain and cargo-fuzz (installed from crates.io when
# missing). An input that runs over 30 s counts as a timeout. Extra
# libFuzzer flags: FUZZ_ARGS="-max_len=65536"; the fuzz
# build's own target folder (default fuzz/target): FUZZ_TARGET_DIR. Prints one
# line per target, as fuzz/README.md's table records it; exits 1 if any
# target found an input.
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-600}
shift || true
mapfile -t all < <(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^webfm-fuzz$')
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
for t in "${targets[@]}"; do
    printf '%s\n' "${all[@]}" | grep -qx "$t" || { echo "fuzz.sh: no target $t (targets: ${all[*]})" >&2; exit 2; }
done

rustup toolchain list | grep -q '^nightly' || { echo "fuzz.sh: needs a nightly toolchain (rustup toolchain install nightly)" >&2; exit 2; }
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
# The main crate's versions of every dependency (fuzz/ is its own workspace).
[ -f fuzz/Cargo.lock ] || cp Cargo.lock fuzz/Cargo.lock

echo "== seeds (fuzz/corpus/)" >&2
# Only the tests that write seeds: a kept input that still panics is for
# `cargo test` to report, not a reason to stop fuzzing.
WEBFM_FUZZ_SEEDS=1 cargo test -q --test weights_mutations --test fuzz_regressions -- seeds mutations >&2
dir_args=()
[ -z "${FUZZ_TARGET_DIR:-}" ] || dir_args=(--target-dir "$FUZZ_TARGET_DIR")
echo "== build" >&2
(cd fuzz && cargo +nightly fuzz build "${dir_args[@]}" >&2)

# A size a file claims is asked for with a fallible allocation, which is an
# error there, not an abort: ASan returns null for it as the system allocator
# does, and the stream target (which reserves a tensor's bytes as its header
# says) may ask past libFuzzer's per-malloc limit; memory in use stays capped
# by libFuzzer's -rss_limit_mb (2 GB).
export ASAN_OPTIONS=${ASAN_OPTIONS:-allocator_may_return_null=1}
mkdir -p fuzz/logs tests/fuzz-regressions
found=0
for t in "${targets[@]}"; do
    corpus=fuzz/corpus/$t
    mkdir -p "$corpus" "fuzz/artifacts/$t"
    # Kept inputs of this target seed it too (the fuzzer dedups by coverage).
    for f in tests/fuzz-regressions/"$t"-*; do [ -e "$f" ] && cp "$f" "$corpus/"; done
    before=$(ls "fuzz/artifacts/$t" | sort)
    log=fuzz/logs/$t.log
    echo "== $t: ${secs} s (log: $log)" >&2
    start=$(date +%s)
    rc=0 new=0 extra=
    case $t in
        gguf | gguf_model) ;;
        *) extra="-dict=$PWD/fuzz/json.dict" ;; # JSON files, or a JSON header
    esac
    [ "$t" = safetensors_stream ] && extra="$extra -malloc_limit_mb=1048576"
    # shellcheck disable=SC2086
    (cd fuzz && cargo +nightly fuzz run "${dir_args[@]}" "$t" "corpus/$t" -- -max_total_time="$secs" -timeout=30 -print_final_stats=1 $extra ${FUZZ_ARGS:-}) >"$log" 2>&1 || rc=$?
    took=$(($(date +%s) - start))
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    [ -n "$runs" ] || runs=$(grep -o '^#[0-9]*' "$log" | tail -n 1 | tr -d '#')
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
    corp=$(ls "$corpus" | wc -l)
    result="no crash (corpus $corp inputs, cov ${cov:-?})"
    for a in $(comm -13 <(echo "$before") <(ls "fuzz/artifacts/$t" | sort)); do
        kind=${a%%-*}
        case $kind in crash | oom | timeout | leak) ;; *) continue ;; esac # not slow-unit-*
        hash=$(sha1sum "fuzz/artifacts/$t/$a" | cut -c1-8)
        cp "fuzz/artifacts/$t/$a" "tests/fuzz-regressions/$t-$kind-$hash"
        result="$kind: kept as tests/fuzz-regressions/$t-$kind-$hash (see $log)"
        new=1 found=1
    done
    if [ "$rc" -ne 0 ] && [ "$new" -eq 0 ]; then
        result="exited $rc without an artifact (see $log)"
        found=1
    fi
    echo "| $(date +%F) | \`$t\` | $took s | $(echo "${runs:-0}" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta') | $result |"
done
exit "$found"
