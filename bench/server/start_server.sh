# Sourced by the bench scripts that drive `kiln serve` with the pinned E2B SDK (bench/server, bench/soak).
# start_kiln_server KILN HOME [SERVE_ARGS...]: starts `KILN serve SERVE_ARGS` on a free loopback port with
# HOME/kiln as its home and its log in HOME/serve.log, waits until it listens, and sets $server (its pid) and exports E2B_API_URL,
# E2B_SANDBOX_URL, E2B_API_KEY and KILN_SERVER_PID for the SDK. Exits when the server does not come up.
start_kiln_server() {
  local kiln="$1" home="$2" url
  shift 2
  "$kiln" serve --listen 127.0.0.1:0 --home "$home/kiln" "$@" >"$home/serve.log" 2>&1 &
  server=$!
  for _ in $(seq 100); do grep -q 'listening on' "$home/serve.log" && break; sleep 0.1; done
  url="$(grep -o 'listening on http://[0-9.:]*' "$home/serve.log" | sed 's/listening on //')"
  [ -n "$url" ] || { echo "kiln serve did not start:" >&2; cat "$home/serve.log" >&2; exit 1; }
  E2B_API_KEY="$(grep -o 'e2b_[0-9a-f]*' "$home/serve.log" | head -1)"
  export E2B_API_URL="$url" E2B_SANDBOX_URL="$url" E2B_API_KEY KILN_SERVER_PID="$server"
}
