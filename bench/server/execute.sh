#!/usr/bin/env bash
# POST /v1/execute latency, {"language":"python","code":"print(1)"}, with a `base` warm pool and without one,
# side by side in one run. Two servers on free loopback ports with temporary homes; requests are sequential
# over curl. The pooled figure is the latency of an execute that finds a pooled sandbox ready (each request
# waits for the pool to be refilled first, so every one is served from the pool); the cold one runs a fresh
# sandbox per request (runtime::Run, as `kiln run` does).
# Usage: bench/server/execute.sh [KILN_BINARY]   (REQUESTS, default 50)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
kiln="${1:-$root/build/bin/kiln}"
requests="${REQUESTS:-50}"
. "$root/bench/server/start_server.sh"
homes=() pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  for home in "${homes[@]}"; do rm -rf "$home"; done
}
trap cleanup EXIT
body='{"language":"python","code":"print(1)"}'

pool_ready() {  # URL KEY: the base pool's ready count
  curl -sf -H "X-API-Key: $2" "$1/metrics" | sed -n 's/^kiln_pool_size{template="base"} //p'
}

# measure NAME POOLED: prints "NAME p50 p99" in ms over $requests requests against $E2B_API_URL.
measure() {
  local name="$1" pooled="$2" samples=() out i
  for ((i = 0; i < requests; i++)); do
    if [ "$pooled" = 1 ]; then
      for _ in $(seq 600); do [ "$(pool_ready "$E2B_API_URL" "$E2B_API_KEY")" = 1 ] && break; sleep 0.05; done
    fi
    out="$(curl -sf -o /tmp/kiln-bench-execute.$$ -w '%{time_total}' -H "X-API-Key: $E2B_API_KEY" \
      -H 'Content-Type: application/json' -d "$body" "$E2B_API_URL/v1/execute")"
    grep -q '"stdout":"1\\n"' /tmp/kiln-bench-execute.$$ || { echo "bad answer: $(cat /tmp/kiln-bench-execute.$$)" >&2; exit 1; }
    samples+=("$out")
  done
  rm -f /tmp/kiln-bench-execute.$$
  printf '%s\n' "${samples[@]}" | sort -n | awk -v name="$name" '
    { t[NR] = $1 * 1000 }
    END { p50 = t[int((NR + 1) / 2)]; i99 = int(NR * 0.99 + 0.999); if (i99 > NR) i99 = NR;
          printf "%-22s p50 %7.1f ms   p99 %7.1f ms   (%d requests)\n", name, p50, t[i99], NR }'
}

for mode in pooled cold; do
  home="$(mktemp -d /tmp/kiln-bench-execute.XXXXXX)"
  homes+=("$home")
  if [ "$mode" = pooled ]; then start_kiln_server "$kiln" "$home" --pool base=1; else start_kiln_server "$kiln" "$home"; fi
  pids+=("$server")
  measure "/v1/execute $mode" "$([ "$mode" = pooled ] && echo 1 || echo 0)"
  kill "$server"; wait "$server" 2>/dev/null || true
done
