#!/usr/bin/env bash
# Builds Kiln and runs every test (unit, sandbox attack tests, envd, providers, tracing), then, with
# KILN_SANITIZER_PASS=1, the sanitizer pass: the tests labelled sanitize or fuzz built with AddressSanitizer
# and UndefinedBehaviorSanitizer.
# Usage: scripts/test.sh [--sanitize address,undefined|thread] [--pass] [CTEST ARGS...]
#   --sanitize LIST  build into build-sanitize-LIST with those sanitizers and run the whole suite there
#   --pass           with --sanitize: only the sanitizer pass's tests (ctest -L 'sanitize|fuzz')
#   KILN_SANITIZER_PASS=1 adds the sanitizer pass after the plain suite (see the README's "Checking the
#   checks" for what it covers and why). It runs only when no CTEST ARGS are given.
set -euo pipefail
cd "$(dirname "$0")/.."
SANITIZE=""
PASS_ONLY=0
if [ "${1:-}" = "--sanitize" ]; then
  SANITIZE="${2:?--sanitize needs a list: address,undefined or thread}"
  shift 2
  if [ "${1:-}" = "--pass" ]; then
    PASS_ONLY=1
    shift
  fi
fi
BUILD_DIR=build
if [ -n "$SANITIZE" ]; then
  case "$SANITIZE" in
    address,undefined | undefined,address | address | undefined | thread) ;;
    *) echo "test: --sanitize takes address,undefined or thread, not '$SANITIZE'" >&2; exit 2 ;;
  esac
  BUILD_DIR="build-sanitize-${SANITIZE//,/-}"
  export KILN_BUILD_DIR="$BUILD_DIR" KILN_CMAKE_ARGS="-DKILN_SANITIZE=$SANITIZE"
  if [ "$PASS_ONLY" = 1 ]; then export KILN_BUILD_TARGETS=kiln_sanitizer_pass; fi
  # Reports go to stderr and fail the test; leaks are checked on the host side only (LeakSanitizer needs
  # ptrace, which a sandbox's seccomp filter denies, so envd and the bridge are built not to look).
  export ASAN_OPTIONS="abort_on_error=0:halt_on_error=1:detect_stack_use_after_return=0"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"
fi
scripts/setup.sh --with-test-deps
LABELS=()
if [ "$PASS_ONLY" = 1 ]; then LABELS=(-L 'sanitize|fuzz'); fi
# Tests labelled `slow` (the data-science template's build from the apt mirror) run only with KILN_TEST_SLOW=1.
if [ "${KILN_TEST_SLOW:-0}" != 1 ]; then LABELS+=(-LE slow); fi
# Sandbox tests start many sandboxes; run two test processes at a time on CI's two cores.
ctest --test-dir "$BUILD_DIR" --output-on-failure -j"${KILN_TEST_JOBS:-2}" --timeout 300 "${LABELS[@]}" "$@"
if [ -z "$SANITIZE" ] && [ "$#" = 0 ] && [ "${KILN_SANITIZER_PASS:-0}" = 1 ]; then
  echo "test: the sanitizer pass (ASan+UBSan: tests labelled sanitize or fuzz)"
  scripts/test.sh --sanitize address,undefined --pass
fi
