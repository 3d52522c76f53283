#!/usr/bin/env bash
# Fuzzes every parser of outside input with libFuzzer (clang, ASan and UBSan) for SECONDS each (default 60),
# starting from the committed seeds in testdata/fuzz/<target>/. A crash or hang leaves its input in
# build-fuzz/findings/<target>/: fix the bug, then add the input to testdata/fuzz/<target>/ so that every
# test run replays it (kiln_<target>_fuzz_replay).
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(http_request connect_envelope multipart paths jupyter_wire sse)
if ! command -v clang++ >/dev/null; then
  echo "fuzz: needs clang (apt-get install clang libclang-rt-dev or clang-16)" >&2
  exit 2
fi
LAUNCHER=()
if command -v ccache >/dev/null; then
  LAUNCHER=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
fi
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
  -DCMAKE_CXX_COMPILER=clang++ -DKILN_FUZZ=ON "${LAUNCHER[@]}" >/dev/null
# shellcheck disable=SC2046
cmake --build build-fuzz -j"$(nproc)" --target $(printf 'kiln_%s_fuzz ' "${targets[@]}") >build-fuzz/build.log 2>&1 ||
  { tail -30 build-fuzz/build.log; exit 1; }
passed=0
failed=0
for t in "${targets[@]}"; do
  corpus="build-fuzz/corpus/$t"
  findings="build-fuzz/findings/$t"
  mkdir -p "$corpus" "$findings"
  log="build-fuzz/$t.log"
  if build-fuzz/bin/kiln_${t}_fuzz "$corpus" "testdata/fuzz/$t" -max_total_time="$seconds" -timeout=10 \
       -rss_limit_mb=2048 -artifact_prefix="$findings/" -print_final_stats=1 >"$log" 2>&1; then
    runs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')"
    echo "fuzz $t: $runs executions in ${seconds}s, no finding"
    passed=$((passed + 1))
  else
    echo "fuzz $t: FINDING (see $log and $findings/)"
    grep -E 'ERROR|SUMMARY|Test unit written' "$log" | head -5
    failed=$((failed + 1))
  fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
