#!/usr/bin/env bash
# Builds Kiln and runs every test (unit, sandbox attack tests, envd, providers, tracing).
# Usage: scripts/test.sh [--sanitize address,undefined|thread] [CTEST ARGS...]
#   --sanitize LIST  build into build-sanitize-LIST with those sanitizers and run the suite there
#                    (every test; see the README's "Checking the checks")
set -euo pipefail
cd "$(dirname "$0")/.."
SANITIZE=""
if [ "${1:-}" = "--sanitize" ]; then
  SANITIZE="${2:?--sanitize needs a list: address,undefined or thread}"
  shift 2
fi
BUILD_DIR=build
if [ -n "$SANITIZE" ]; then
  case "$SANITIZE" in
    address,undefined | undefined,address | address | undefined | thread) ;;
    *) echo "test: --sanitize takes address,undefined or thread, not '$SANITIZE'" >&2; exit 2 ;;
  esac
  BUILD_DIR="build-sanitize-${SANITIZE//,/-}"
  export KILN_BUILD_DIR="$BUILD_DIR" KILN_CMAKE_ARGS="-DKILN_SANITIZE=$SANITIZE"
  # Reports go to stderr and fail the test; leaks are checked on the host side only (LeakSanitizer needs
  # ptrace, which a sandbox's seccomp filter denies, so envd and the bridge are built not to look).
  export ASAN_OPTIONS="abort_on_error=0:halt_on_error=1:detect_stack_use_after_return=0"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"
fi
scripts/setup.sh --with-test-deps
# Sandbox tests start many sandboxes; run two test processes at a time on CI's two cores. Tests labelled
# `slow` (the data-science template's build from the apt mirror) only with KILN_TEST_SLOW=1.
EXCLUDE=(-LE slow)
if [ "${KILN_TEST_SLOW:-0}" = 1 ]; then EXCLUDE=(); fi
ctest --test-dir "$BUILD_DIR" --output-on-failure -j"${KILN_TEST_JOBS:-2}" --timeout 300 "${EXCLUDE[@]}" "$@"
