#!/bin/sh
# End-to-end harness benchmark in real sandboxes: HumanEval with the reference solutions (must be 164/164),
# reporting wall time per problem. Usage: bench/agent/run.sh [BUILD_DIR] [JOBS]
set -eu
build=${1:-build}
jobs=${2:-2}
out=$(mktemp -d)/humaneval-canonical.jsonl
"$build/bin/kiln" bench humaneval --model canonical --jobs "$jobs" --out "$out"
echo "per-problem results: $out"
