#!/bin/sh
# A data-science session on a CSV with the scripted model, offline: load, describe, chart. The tool calls
# run in a real Kiln sandbox; the chart is saved under ./kiln-chat-images/.
#   usage: examples/chat/run.sh [KILN_BINARY]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
KILN=${1:-kiln}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 "$here/make_script.py" >"$work/model.jsonl"
printf '%s\n' "Load sales.csv" "Describe it by region" "Chart revenue by month" |
  KILN_HOME="${KILN_HOME:-$work/home}" "$KILN" chat --session csv-demo --model "script:$work/model.jsonl"
