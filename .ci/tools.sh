#!/usr/bin/env bash
# Installs the cargo tools .ci/run uses, each at a pinned version, from the Rust crate
# registry. A tool is (re)installed only when it is missing or at another version, so a warm
# runner spends one `--version` call per tool here.
#
# To move a pin: change the version below, run this script, run .ci/run.
#
# Cost: from source, on this 2-core machine under load, cargo-deny took 11 min 42 s and
# cargo-hack 1 min (cargo-deny has no optional features to leave out). A runner must keep
# ~/.cargo/bin between runs, or CI spends most of its 20 minutes here.
set -euo pipefail

# name  version  (the binary is `cargo <name without "cargo-">`)
TOOLS=(
  "cargo-deny 0.20.2"
  "cargo-hack 0.6.46"
)

for entry in "${TOOLS[@]}"; do
  read -r name version <<<"$entry"
  sub="${name#cargo-}"
  # `cargo deny --version` prints "cargo-deny 0.20.2", `cargo hack --version` "cargo-hack 0.6.46".
  have="$(cargo "$sub" --version 2>/dev/null | awk '{print $2}' || true)"
  if [[ "$have" == "$version" ]]; then
    echo "$name $version: installed"
  else
    echo "$name: have '${have:-none}', installing $version"
    cargo install "$name" --locked --version "$version"
  fi
done
