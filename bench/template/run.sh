#!/usr/bin/env bash
# Template benchmarks, one run: create -> ready on a custom template vs the plain sandbox (p50/p99), build
# times (cold and cached). Usage: bench/template/run.sh [--iterations N] [--data-science] (as root)
#   --data-science  also builds templates/data-science from the apt mirror (minutes, needs the network)
set -euo pipefail
cd "$(dirname "$0")/../.."
args=()
for a in "$@"; do
  if [ "$a" = --data-science ]; then args+=(--data-science templates/data-science/Dockerfile); else args+=("$a"); fi
done
cmake --build build -j2 --target kiln-envd kiln_template_bench >/dev/null
build/bin/kiln_template_bench "${args[@]}"
