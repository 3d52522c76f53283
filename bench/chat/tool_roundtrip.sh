#!/bin/sh
# kiln chat's tool round trip: from the model's reply holding a run_python call being stored to the tool's
# result being stored (what the next model call sends back), for `print(1)`, with the scripted model so no
# provider time is counted. The first call includes making the sandbox (kiln chat makes one per run, not
# from a pool); the figure is the p50 of the others. Side by side: `kiln run -c 'print(1)'`, a whole
# one-shot sandbox, for scale.
#   usage: bench/chat/tool_roundtrip.sh [KILN_BINARY] [CALLS]
set -eu
KILN=${1:-build/bin/kiln}
CALLS=${2:-30}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
i=0
while [ "$i" -lt "$CALLS" ]; do
  echo "{\"tool_calls\": [{\"id\": \"c$i\", \"name\": \"run_python\", \"arguments\": {\"code\": \"print(1)\"}}]}"
  i=$((i + 1))
done >"$work/script.jsonl"
echo '{"text": "done"}' >>"$work/script.jsonl"
echo go | KILN_HOME="$work/home" "$KILN" chat --session bench --model "script:$work/script.jsonl" >"$work/out" 2>&1
python3 - "$work/home/chat.db" <<'PY'
import sqlite3, statistics, sys
rows = sqlite3.connect(sys.argv[1]).execute(
    "SELECT role, created_ms FROM messages WHERE session = 'bench' ORDER BY seq").fetchall()
gaps = [b[1] - a[1] for a, b in zip(rows, rows[1:]) if a[0] == "assistant" and b[0] == "tool"]
print(f"kiln chat run_python print(1) round trip: first (with sandbox start) {gaps[0]} ms, "
      f"p50 of the next {len(gaps) - 1}: {statistics.median(gaps[1:]):.0f} ms, max {max(gaps[1:])} ms")
PY
start=$(date +%s%N)
"$KILN" run -c 'print(1)' >/dev/null
end=$(date +%s%N)
echo "kiln run -c 'print(1)' (a fresh one-shot sandbox): $(((end - start) / 1000000)) ms"
