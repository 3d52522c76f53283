#!/usr/bin/env bash
# Starts `kiln serve` on a free loopback port with a temporary home, runs sdk_test.mjs (or SCRIPT) against it
# with the pinned SDKs, and stops the server. Usage: tests/e2e/run.sh KILN_BINARY [SCRIPT [SERVE_ARGS...]]
# Exits 77 (ctest: skipped) when the SDKs are not installed (scripts/setup.sh --with-test-deps installs them).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
kiln="$1"
script="${2:-sdk_test.mjs}"
shift $(($# < 2 ? $# : 2))
if [ ! -d "$here/node_modules/e2b" ] || [ ! -d "$here/node_modules/@e2b/code-interpreter" ] ||
  [ ! -d "$here/node_modules/@langchain/langgraph-sdk" ]; then
  echo "skipped: the E2B SDKs are not installed (run scripts/setup.sh --with-test-deps)"
  exit 77
fi
home="$(mktemp -d /tmp/kiln-e2e.XXXXXX)"
log="$home/serve.log"
"$kiln" serve --listen 127.0.0.1:0 --home "$home/kiln" "$@" >"$log" 2>&1 &
server=$!
cleanup() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  rm -rf "$home"
}
trap cleanup EXIT
url=""
for _ in $(seq 100); do
  url="$(grep -o 'listening on http://[0-9.:]*' "$log" | sed 's/listening on //' || true)"
  [ -n "$url" ] && break
  kill -0 "$server" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$url" ]; then
  echo "kiln serve did not start:"; cat "$log"; exit 1
fi
key="$(grep -o 'e2b_[0-9a-f]*' "$log" | head -1)"
# The server's home and binary, for scripts that build templates into it (template_test.mjs).
KILN_SERVE_LOG="$log" E2B_API_URL="$url" E2B_SANDBOX_URL="$url" E2B_API_KEY="$key" KILN_E2E_HOME="$home/kiln" \
  KILN_E2E_BINARY="$kiln" node "$here/$script"
