#!/usr/bin/env bash
# kiln serve benchmark: starts a server on a free loopback port with a temporary home and runs bench.mjs
# with the pinned E2B SDK (tests/e2e/node_modules; scripts/setup.sh --with-test-deps installs it).
# Usage: bench/server/run.sh [KILN_BINARY] [bench|streams|density|rate]
#   (CYCLES, REQUESTS, MEGABYTES, TRANSFERS, STREAMS, COUNT, TEMPLATE, CLIENTS, DURATION, POOL tune the run; see each .mjs)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
kiln="${1:-$root/build/bin/kiln}"
script="${2:-bench}"
export NODE_PATH="$root/tests/e2e/node_modules"
[ -d "$NODE_PATH/e2b" ] || { echo "the E2B SDK is missing: run scripts/setup.sh --with-test-deps" >&2; exit 1; }
home="$(mktemp -d /tmp/kiln-bench-server.XXXXXX)"
mkdir "$home/cold"
server=""
cold_server=""
stop_servers() {
  kill $server $cold_server 2>/dev/null || true
  wait $server $cold_server 2>/dev/null || true
  rm -rf "$home" "$root/tests/e2e/.bench.mjs"
}
trap stop_servers EXIT
. "$root/bench/server/start_server.sh"
# Cold creates go to a second server without a pool (a pooled server takes every create it can: env vars
# included), so both figures come from one run on the same machine.
# The server's own caps on sandboxes are lifted so that they never bound a figure.
limits=(--max-sandboxes 5000 --max-per-key 5000)
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
start_kiln_server "$kiln" "$home/cold" "${limits[@]}"
cold_server=$server
export KILN_COLD_API_URL="$E2B_API_URL" KILN_COLD_API_KEY="$E2B_API_KEY"
# A warm pool of `base` for the pooled create figure and the data-plane figures.
start_kiln_server "$kiln" "$home" --pool "base=${POOL:-2}" "${limits[@]}"
export KILN_BINARY="$kiln"
# Where the runtime puts envd sockets (as root; see runtime.h) for the direct figures.
export KILN_SOCKET_DIR="${KILN_SOCKET_DIR:-/run/kiln/sockets}"
# ESM imports ignore NODE_PATH: run from a directory whose node_modules is the SDK's.
cp "$root/bench/server/$script.mjs" "$root/tests/e2e/.bench.mjs"
E2B_ENVD_RPC_CONNECTIONS="${E2B_ENVD_RPC_CONNECTIONS:-4000}" E2B_ENVD_RPC_INFLIGHT_REQUESTS=0 \
  E2B_ENVD_INFLIGHT_REQUESTS=0 node "$root/tests/e2e/.bench.mjs"
