#!/usr/bin/env bash
# Builds Kiln and runs its main job: a Python program in a fresh sandbox, then the coding agent fixing its own
# mistakes (a real model when KILN_MODEL and its key are set, else the shipped scripted model, offline).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo "+ build/bin/kiln run examples/hello.py"
build/bin/kiln run examples/hello.py
echo
task="Print the first 10 prime numbers"
if [ -n "${KILN_MODEL:-}" ]; then
  echo "+ build/bin/kiln agent \"$task\" --model $KILN_MODEL"
  build/bin/kiln agent "$task" --model "$KILN_MODEL" --out build/demo-project
else
  echo "No KILN_MODEL set: the agent runs with the scripted model examples/agent/demo.script (offline demo)."
  echo "+ build/bin/kiln agent \"$task\" --model script:examples/agent/demo.script"
  build/bin/kiln agent "$task" --model script:examples/agent/demo.script --out build/demo-project
fi
