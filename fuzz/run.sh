#!/usr/bin/env bash
# Runs every cargo-fuzz target for SECONDS each and prints a table (target, executions,
# corpus size, result). Fails (exit 1) on any crash, differential mismatch, leak or timeout.
#
#   fuzz/run.sh SECONDS [--asan] [TARGET...]
#
# Without --asan the targets are built without a sanitizer (the CI smoke: fast to build and
# run); with --asan, with AddressSanitizer (cargo-fuzz's default). One `cargo fuzz build`
# builds every target, then the binaries run one after the other. The corpus grows in
# fuzz/corpus/<target> (git-ignored); the hand-made seeds in fuzz/seeds/<target> are read
# too but never written. Crash inputs land in fuzz/artifacts/<target>/.
# Environment: FUZZ_TARGET_DIR (default fuzz/target) to keep a long run's binaries apart
# from a rebuild; FUZZ_RSS_MB (default 2048) per-process memory cap.
set -euo pipefail
cd "$(dirname "$0")"

CARGO_FUZZ_VERSION=0.13.2

usage() { echo "usage: $0 SECONDS [--asan] [TARGET...]" >&2; exit 2; }
[[ $# -ge 1 && $1 =~ ^[0-9]+$ ]] || usage
seconds=$1
shift
sanitizer=none
targets=()
for a in "$@"; do
    case $a in
        --asan) sanitizer=address ;;
        -*) usage ;;
        *) targets+=("$a") ;;
    esac
done

if [[ $(cargo fuzz --version 2>/dev/null || true) != "cargo-fuzz $CARGO_FUZZ_VERSION" ]]; then
    echo "== installing cargo-fuzz $CARGO_FUZZ_VERSION"
    cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi

if [[ ${#targets[@]} -eq 0 ]]; then
    mapfile -t targets < <(cargo +nightly fuzz list)
fi

target_dir=${FUZZ_TARGET_DIR:-target}
echo "== building ${#targets[@]} targets (sanitizer: $sanitizer)"
# -O: release with debug assertions (cargo-fuzz's default), so overflow checks still fire.
cargo +nightly fuzz build -O --sanitizer "$sanitizer" --target-dir "$target_dir"
triple=$(rustc +nightly -vV | sed -n 's/^host: //p')
bindir="$target_dir/$triple/release"

logdir=$(mktemp -d "${TMPDIR:-/tmp}/mcp-auth-fuzz.XXXXXX")
rows=()
failed=0
for t in "${targets[@]}"; do
    corpus="corpus/$t"
    mkdir -p "$corpus" "artifacts/$t"
    dirs=("$corpus")
    [[ -d seeds/$t ]] && dirs+=("seeds/$t")
    log="$logdir/$t.log"
    echo "== $t (${seconds}s)"
    set +e
    "$bindir/$t" -max_total_time="$seconds" -print_final_stats=1 \
        -rss_limit_mb="${FUZZ_RSS_MB:-2048}" -timeout=10 -max_len=8192 \
        -artifact_prefix="artifacts/$t/" "${dirs[@]}" >"$log" 2>&1
    rc=$?
    set -e
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    size=$(find "$corpus" -type f | wc -l)
    if [[ $rc -eq 0 ]]; then
        result=ok
    else
        failed=1
        artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
        kind=$(grep -m1 -oE 'FINDING: [^.(]*|panicked at [^ ]*|ERROR: [A-Za-z]+: [a-z-]+|deadly signal|out-of-memory|timeout' "$log" || echo "exit $rc")
        result="FAIL ($kind) ${artifact:-}"
        echo "---- $t: last lines of $log"
        grep -v '^#' "$log" | tail -25
    fi
    rows+=("$(printf '%-16s %14s %8s  %s' "$t" "${execs:-?}" "$size" "$result")")
done

echo
printf '%-16s %14s %8s  %s\n' target executions corpus result
for r in "${rows[@]}"; do echo "$r"; done
echo "(logs: $logdir)"
exit $failed
