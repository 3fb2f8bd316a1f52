#!/usr/bin/env bash
# Installs Debian's redis-server, at a pinned version, for the Redis store tests (the replay
# store, crates/mcp-auth-dpop/tests/redis.rs; the limit and session stores,
# crates/mcp-auth/tests/redis_stores.rs and src/limit/redis/tests.rs). Those tests start their own
# redis-server on a free 127.0.0.1 port (nothing here starts or enables a service); without
# the binary they are skipped, unless MCP_AUTH_REQUIRE_REDIS=1, which makes them fail.
#
# Installed only when missing, so a warm runner spends one `command -v` here.
# To move the pin: change REDIS_VERSION (`apt-cache policy redis-server` lists the
# candidates), run this script, run .ci/run. Debian replaces a security-updated version in
# its archive, so a pin that can no longer be installed fails loudly here rather than in the
# tests.
set -euo pipefail

REDIS_VERSION="5:7.0.15-1~deb12u7"

if command -v redis-server >/dev/null 2>&1; then
    echo "redis-server: installed ($(redis-server --version | awk '{print $3}'))"
    exit 0
fi

echo "redis-server: missing, installing $REDIS_VERSION"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# --no-install-recommends: the server binary and its libraries, not the tools it suggests.
# redis-server depends on redis-tools of exactly its version: both are pinned.
apt-get install -y -qq --no-install-recommends "redis-server=$REDIS_VERSION" "redis-tools=$REDIS_VERSION"
redis-server --version
