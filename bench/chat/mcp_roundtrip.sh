#!/usr/bin/env bash
# The MCP tools/call round trip for print(1) over stdio (`kiln mcp`) and over streamable HTTP (`kiln serve`
# /mcp), side by side in one run, with the pinned MCP SDK client (tests/e2e/node_modules; scripts/setup.sh
# --with-test-deps installs it). Usage: bench/chat/mcp_roundtrip.sh [KILN_BINARY]   (CALLS=50 tunes the run)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
kiln="$(realpath "${1:-$root/build/bin/kiln}")"
[ -d "$root/tests/e2e/node_modules/@modelcontextprotocol/sdk" ] ||
  { echo "the MCP SDK is missing: run scripts/setup.sh --with-test-deps" >&2; exit 1; }
home="$(mktemp -d /tmp/kiln-bench-mcp.XXXXXX)"
server=""
# ESM imports ignore NODE_PATH: run from a directory whose node_modules is the SDK's.
bench="$root/tests/e2e/.mcp_roundtrip_bench.mjs"
trap '[ -z "$server" ] || { kill $server 2>/dev/null; wait $server 2>/dev/null; }; rm -rf "$home" "$bench"' EXIT
. "$root/bench/server/start_server.sh"
start_kiln_server "$kiln" "$home"
cp "$root/bench/chat/mcp_roundtrip.mjs" "$bench"
KILN_BINARY="$kiln" KILN_HOME="$home/mcp-stdio" node "$bench"
