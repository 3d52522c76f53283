#!/usr/bin/env bash
# The network on request (issue 15): what it adds to a sandbox's start (kiln run /bin/true, network on vs
# off, interleaved), and download throughput through slirp4netns against the host's own, from an HTTP
# server on the host's address, in one run. Usage: bench/sandbox/network.sh [RUNS] [MB]   (as root)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs="${1:-50}" mb="${2:-256}"
cmake --build build --target kiln kiln-envd kiln_sandbox_bench >/dev/null
build/bin/kiln_sandbox_bench --network --iterations "$runs"

host="$(ip -4 -o addr show scope global | awk '{print $4}' | cut -d/ -f1 | head -1)"
dir="$(mktemp -d)"
trap 'kill "$server" 2>/dev/null; rm -rf "$dir"' EXIT
head -c "$((mb << 20))" /dev/urandom >"$dir/blob"
/usr/bin/python3 -m http.server 0 --bind "$host" --directory "$dir" >"$dir/log" 2>&1 &
server=$!
until port="$(grep -o 'port [0-9]*' "$dir/log" | cut -d' ' -f2)" && [ -n "$port" ]; do sleep 0.1; done
fetch="import time, urllib.request
t = time.monotonic(); n = len(urllib.request.urlopen('http://$host:$port/blob').read())
print('%.0f' % (n / (time.monotonic() - t) / 1e6))"
on_host="$(/usr/bin/python3 -c "$fetch")"
in_sandbox="$(build/bin/kiln run --network --allow-out "$host" --memory 1024 --timeout 120 -c "$fetch")"
echo "download of $mb MB from $host: host $on_host MB/s, sandbox through slirp4netns $in_sandbox MB/s," \
  "ratio $(python3 -c "print('%.2f' % ($in_sandbox / $on_host))")"
