#!/usr/bin/env bash
# Builds Kiln and runs every test (unit, sandbox attack tests, envd, providers, tracing).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --with-test-deps
# Sandbox tests start many sandboxes; run two test processes at a time on CI's two cores.
ctest --test-dir build --output-on-failure -j"${KILN_TEST_JOBS:-2}" --timeout 300
