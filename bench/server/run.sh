#!/usr/bin/env bash
# kiln serve benchmark: starts a server on a free loopback port with a temporary home and runs bench.mjs
# with the pinned E2B SDK (tests/e2e/node_modules; scripts/setup.sh --with-test-deps installs it).
# Usage: bench/server/run.sh [KILN_BINARY] [bench|streams]   (CYCLES, REQUESTS, MEGABYTES, STREAMS, POOL tune the run)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
kiln="${1:-$root/build/bin/kiln}"
script="${2:-bench}"
export NODE_PATH="$root/tests/e2e/node_modules"
[ -d "$NODE_PATH/e2b" ] || { echo "the E2B SDK is missing: run scripts/setup.sh --with-test-deps" >&2; exit 1; }
home="$(mktemp -d /tmp/kiln-bench-server.XXXXXX)"
server=""
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$home"' EXIT
. "$root/bench/server/start_server.sh"
# A warm pool of `base` for the pooled create figure (a create with envVars starts cold on the same server).
start_kiln_server "$kiln" "$home" --pool "base=${POOL:-2}"
# Where the runtime puts envd sockets (as root; see runtime.h) for the direct figures.
export KILN_SOCKET_DIR="${KILN_SOCKET_DIR:-/run/kiln/sockets}"
# ESM imports ignore NODE_PATH: run from a directory whose node_modules is the SDK's.
cp "$root/bench/server/$script.mjs" "$root/tests/e2e/.bench.mjs"
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$home" "$root/tests/e2e/.bench.mjs"' EXIT
E2B_ENVD_RPC_CONNECTIONS="${E2B_ENVD_RPC_CONNECTIONS:-4000}" E2B_ENVD_RPC_INFLIGHT_REQUESTS=0 \
  E2B_ENVD_INFLIGHT_REQUESTS=0 node "$root/tests/e2e/.bench.mjs"
