#!/usr/bin/env bash
# Builds Kiln and runs its main job: a Python program in a fresh sandbox, its output shown.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo "+ build/bin/kiln run examples/hello.py"
build/bin/kiln run examples/hello.py
