#!/usr/bin/env bash
# Soak: CYCLES (default 10 000) create -> exec -> kill cycles through `kiln serve` with the pinned E2B SDK,
# recording the server's fds, threads and RSS, and the cgroups, mounts, sockets and processes left by the
# soak's sandboxes, every EVERY (default 500) cycles; exits 1 when anything grew (see soak.mjs for the bounds).
# Usage: bench/soak/run.sh [KILN_BINARY]      (CYCLES=1000 EVERY=100 bench/soak/run.sh for a short run)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
kiln="${1:-$root/build/bin/kiln}"
export NODE_PATH="$root/tests/e2e/node_modules"
[ -d "$NODE_PATH/e2b" ] || { echo "the E2B SDK is missing: run scripts/setup.sh --with-test-deps" >&2; exit 1; }
home="$(mktemp -d /tmp/kiln-soak.XXXXXX)"
server=""
script="$root/tests/e2e/.soak.mjs"
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$home" "$script"' EXIT
. "$root/bench/server/start_server.sh"
start_kiln_server "$kiln" "$home"
export KILN_SOCKET_DIR="${KILN_SOCKET_DIR:-/run/kiln/sockets}"
# ESM imports ignore NODE_PATH: run from a directory whose node_modules is the SDK's.
cp "$root/bench/soak/soak.mjs" "$script"
node "$script"
