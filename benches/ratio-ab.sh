#!/usr/bin/env bash
# The interleaved ratio bench at two commits, run alternately (issue 14): so a change can be
# judged against its parent on this shared machine, where the host's speed moves between
# minutes, by comparing runs that took turns instead of runs taken an hour apart.
#
#   benches/ratio-ab.sh OLD NEW [RUNS]        RUNS per side, default 3: old, new, old, new, ...
#   benches/ratio-ab.sh --report DIR          re-tabulate the saved runs of an earlier call
#
# Builds `cargo bench -p mcp-auth --bench ratio --no-run` for commit OLD and commit NEW, each
# in a temporary detached `git worktree` under /tmp, both with ONE target dir so the
# dependencies are compiled once; each bench binary is copied aside (they have the same name)
# and the worktrees removed. Then runs the two binaries alternately, saves every run's output
# (DIR/old-1.txt, DIR/new-1.txt, ...) and prints a markdown table: each ratio row of
# crates/mcp-auth/benches/ratio.rs per run, the median per side and new/old of the medians.
#
# Environment:
#   AB_TARGET_DIR  the shared target dir (default target/ab under the repository root)
#   AB_OUT         where the runs are saved (default AB_TARGET_DIR/runs/<UTC stamp>)
#   AB_FILTER      a substring passed to the bench: only the rows whose name contains it
#   ROUNDS         read by the bench itself: interleaved rounds per row (its default 31)
#   AB_DRY_RUN=1   build and run nothing: feed canned outputs in the bench's format through the
#                  parser and check the table it prints against the expected medians (a test
#                  of this script; exit 1 when the parse is wrong)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"

usage() {
  echo "usage: $0 OLD NEW [RUNS]  |  $0 --report DIR  (AB_DRY_RUN=1 $0 to test the parser)" >&2
  exit 2
}

# The table of the runs in DIR (old-N.txt, new-N.txt). Exit 1 when a run has no ratio row,
# so a changed output format cannot pass as an empty table.
report() {
  python3 - "$1" <<'PY'
import os, re, statistics, sys

d = sys.argv[1]
# ratio.rs: "{name:<44} {median:>6.3}x  (p10 {:.3}, p90 {:.3})  {:>8.2} us vs {baseline} {:>8.2} us  {verdict}"
ROW = re.compile(
    r"^(?P<name>\S.*?)\s+(?P<ratio>\d+\.\d+)x\s+\(p10 (?P<p10>\d+\.\d+), p90 (?P<p90>\d+\.\d+)\)"
    r"\s+(?P<subject>\d+\.\d+) us vs (?P<baseline>.+?)\s+(?P<base>\d+\.\d+) us"
)
runs = {"old": [], "new": []}
for side in runs:
    n = 1
    while os.path.exists(os.path.join(d, f"{side}-{n}.txt")):
        rows = {}
        with open(os.path.join(d, f"{side}-{n}.txt")) as fh:
            for line in fh:
                m = ROW.match(line.rstrip("\n"))
                if m:
                    rows[m["name"]] = m
        if not rows:
            sys.exit(f"ratio-ab: no ratio row in {side}-{n}.txt (has the bench's output format changed?)")
        runs[side].append(rows)
        n += 1
if not runs["old"] or not runs["new"]:
    sys.exit(f"ratio-ab: no old-N.txt / new-N.txt runs in {d}")

names = []
for side in ("old", "new"):
    for rows in runs[side]:
        for name in rows:
            if name not in names:
                names.append(name)

def cell(rows, name):
    m = rows.get(name)
    return f"{float(m['ratio']):.3f} ({float(m['p10']):.3f}-{float(m['p90']):.3f})" if m else "-"

def median(side, name):
    v = [float(r[name]["ratio"]) for r in runs[side] if name in r]
    return statistics.median(v) if v else None

def show(x):
    return "-" if x is None else f"{x:.3f}x"

print(f"median ratio (p10-p90 of its rounds) per run, runs alternated old/new; saved in {d}")
print()
head = ["row"] + [f"old {i}" for i in range(1, len(runs["old"]) + 1)] \
    + [f"new {i}" for i in range(1, len(runs["new"]) + 1)] + ["old median", "new median", "new/old"]
print("| " + " | ".join(head) + " |")
print("|---" + "|--:" * (len(head) - 1) + "|")
for name in names:
    mo, mn = median("old", name), median("new", name)
    change = f"{mn / mo:.3f}" if mo and mn else "-"
    cells = [cell(r, name) for r in runs["old"]] + [cell(r, name) for r in runs["new"]]
    print("| " + " | ".join([f"`{name}`"] + cells + [show(mo), show(mn), change]) + " |")
PY
}

# Canned outputs in ratio.rs's format (names longer than its 44-column pad included), the
# table they must give, and a check that the parser gives it.
dry_run() {
  d="$(mktemp -d /tmp/ratio-ab-dry.XXXXXX)"
  trap 'rm -rf "$d"' EXIT
  canned() { # side run: ratios of the two rows scale with the run
    local f=$1 t=$2 v=$3
    printf 'median of 31 interleaved rounds (p10/p90 of the per-round ratios)\n' >"$d/$f"
    printf '%-44s %6.3fx  (p10 %.3f, p90 %.3f)  %8.2f us vs %s %8.2f us  %s\n' \
      "validate/RS256: validator, cache off" "$t" 1.070 1.120 15.34 floor 14.04 \
      "target <= 1.15x: met" >>"$d/$f"
    printf '%-44s %6.3fx  (p10 %.3f, p90 %.3f)  %8.2f us vs %s %8.2f us  %s\n' \
      "layer/RS256: JWKS source, forged kid, each new" "$v" 1.970 2.080 1.00 "bare service" 0.49 \
      "" >>"$d/$f"
    printf '%-44s %6.3fx  (p10 %.3f, p90 %.3f)  %8.2f us vs %s %8.2f us  %s\n' \
      "floor/RS256: repeated token (cache hit) over the floor layer" 1.080 1.060 1.100 0.71 \
      "floor layer" 0.62 "" >>"$d/$f"
  }
  canned old-1.txt 1.094 2.030
  canned new-1.txt 1.090 1.950
  canned old-2.txt 1.100 2.010
  canned new-2.txt 1.080 1.990
  canned old-3.txt 1.090 2.050
  canned new-3.txt 1.085 1.900
  local got
  got="$(report "$d")"
  printf '%s\n' "$got"
  local want=(
    '| `validate/RS256: validator, cache off` | 1.094 (1.070-1.120) | 1.100 (1.070-1.120) | 1.090 (1.070-1.120) | 1.090 (1.070-1.120) | 1.080 (1.070-1.120) | 1.085 (1.070-1.120) | 1.094x | 1.085x | 0.992 |'
    '| `layer/RS256: JWKS source, forged kid, each new` | 2.030 (1.970-2.080) | 2.010 (1.970-2.080) | 2.050 (1.970-2.080) | 1.950 (1.970-2.080) | 1.990 (1.970-2.080) | 1.900 (1.970-2.080) | 2.030x | 1.950x | 0.961 |'
    '| `floor/RS256: repeated token (cache hit) over the floor layer` | 1.080 (1.060-1.100) | 1.080 (1.060-1.100) | 1.080 (1.060-1.100) | 1.080 (1.060-1.100) | 1.080 (1.060-1.100) | 1.080 (1.060-1.100) | 1.080x | 1.080x | 1.000 |'
  )
  local w fail=0
  for w in "${want[@]}"; do
    grep -qxF -- "$w" <<<"$got" || { echo "ratio-ab dry run: missing row: $w" >&2; fail=1; }
  done
  [[ "$(grep -c '^| `' <<<"$got")" == "${#want[@]}" ]] || { echo "ratio-ab dry run: wrong row count" >&2; fail=1; }
  # A run in another format must be refused, not tabulated as nothing.
  echo "test result: ok" >"$d/new-3.txt"
  if report "$d" >/dev/null 2>&1; then
    echo "ratio-ab dry run: a run without ratio rows was accepted" >&2
    fail=1
  fi
  ((fail == 0)) && echo "ratio-ab dry run: parser ok"
  return "$fail"
}

if [[ "${AB_DRY_RUN:-}" == 1 ]]; then
  dry_run
  exit
fi
if [[ "${1:-}" == --report ]]; then
  [[ -n "${2:-}" ]] || usage
  report "$2"
  exit
fi
[[ $# -ge 2 && $# -le 3 ]] || usage
RUNS="${3:-3}"
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || usage

cd "$ROOT"
old="$(git rev-parse --verify "$1^{commit}")"
new="$(git rev-parse --verify "$2^{commit}")"
TARGET="${AB_TARGET_DIR:-$ROOT/target/ab}"
mkdir -p "$TARGET"
TARGET="$(cd "$TARGET" && pwd)"
OUT="${AB_OUT:-$TARGET/runs/$(date -u +%Y-%m-%dT%H%M%SZ)}"
mkdir -p "$OUT"
tmp="$(mktemp -d /tmp/ratio-ab.XXXXXX)"
cleanup() {
  for side in old new; do
    [[ -d "$tmp/$side" ]] && git -C "$ROOT" worktree remove --force "$tmp/$side" || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT

step() { printf '== ratio-ab: %s\n' "$*"; }

for side in old new; do
  rev="$old"
  [[ "$side" == new ]] && rev="$new"
  step "$side = ${rev:0:12}: cargo bench -p mcp-auth --bench ratio --no-run (target $TARGET)"
  git -C "$ROOT" worktree add -q --detach "$tmp/$side" "$rev"
  bin="$(cd "$tmp/$side" && CARGO_TARGET_DIR="$TARGET" cargo bench --locked -q -p mcp-auth \
    --bench ratio --no-run --message-format=json \
    | grep -o '"executable":"[^"]*/ratio-[^"]*"' | tail -n1 | cut -d'"' -f4)"
  [[ -x "$bin" ]] || { echo "ratio-ab: no ratio executable built for $side" >&2; exit 1; }
  cp "$bin" "$OUT/ratio-$side"
  git -C "$ROOT" worktree remove --force "$tmp/$side"
done
printf 'old %s\nnew %s\n' "$old" "$new" >"$OUT/commits"

args=(--bench)
[[ -n "${AB_FILTER:-}" ]] && args+=("$AB_FILTER")
for ((i = 1; i <= RUNS; i++)); do
  for side in old new; do
    step "run $i/$RUNS: $side"
    # cargo bench runs a bench in its package's directory; ratio.rs reads no file.
    (cd "$ROOT/crates/mcp-auth" && "$OUT/ratio-$side" "${args[@]}") | tee "$OUT/$side-$i.txt"
  done
done
step "old ${old:0:12}, new ${new:0:12}"
report "$OUT"
