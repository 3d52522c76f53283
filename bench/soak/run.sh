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
"$kiln" serve --listen 127.0.0.1:0 --home "$home/kiln" >"$home/serve.log" 2>&1 &
server=$!
script="$root/tests/e2e/.soak.mjs"
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$home" "$script"' EXIT
for _ in $(seq 100); do grep -q 'listening on' "$home/serve.log" && break; sleep 0.1; done
url="$(grep -o 'listening on http://[0-9.:]*' "$home/serve.log" | sed 's/listening on //')"
[ -n "$url" ] || { echo "kiln serve did not start:" >&2; cat "$home/serve.log" >&2; exit 1; }
E2B_API_KEY="$(grep -o 'e2b_[0-9a-f]*' "$home/serve.log" | head -1)"
export E2B_API_URL="$url" E2B_SANDBOX_URL="$url" E2B_API_KEY KILN_SERVER_PID="$server"
export KILN_SOCKET_DIR="${KILN_SOCKET_DIR:-/run/kiln/sockets}"
# ESM imports ignore NODE_PATH: run from a directory whose node_modules is the SDK's.
cp "$root/bench/soak/soak.mjs" "$script"
node "$script"
