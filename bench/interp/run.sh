#!/usr/bin/env bash
# Code-interpreter benchmarks: kiln (envd /execute over the sandbox socket) vs jupyter_client + ipykernel on
# the same machine, one table. Usage: bench/interp/run.sh [ITERATIONS] (as root; needs python3-jupyter-client
# and python3-ipykernel). BUILD_DIR defaults to ./build.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR=${BUILD_DIR:-build}
ITERATIONS=${1:-2000}
[ -f "$BUILD_DIR/build.ninja" ] || [ -f "$BUILD_DIR/Makefile" ] || cmake -S . -B "$BUILD_DIR" -G Ninja >/dev/null
cmake --build "$BUILD_DIR" --target kiln-envd kiln_interp_bench -j"${JOBS:-1}" >/dev/null
ipy_json=$(mktemp)
trap 'rm -f "$ipy_json"' EXIT
echo "ipykernel (jupyter_client) ..." >&2
/usr/bin/python3 bench/interp/ipykernel_bench.py "$ITERATIONS" >"$ipy_json"
echo "kiln ..." >&2
"$BUILD_DIR/bin/kiln_interp_bench" --iterations "$ITERATIONS" --ipykernel-json "$ipy_json"
