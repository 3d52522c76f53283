#!/usr/bin/env bash
# `kiln test DIR` against the same pytest run on the host, in one run: what the sandbox (namespaces, the
# overlay view of the checkout, limits) adds to a small project's suite. Both run the pytest_mixed fixture
# (one passing, one failing test: exit 1 expected, hence -i) writing JUnit XML; the host one runs in a scratch
# copy so that its caches do not land in the repository. Prints both means and the ratio.
# Usage: bench/checks/kiln_test_vs_host.sh [RUNS]   (as root)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs="${1:-20}"
cmake --build build --target kiln kiln-envd >/dev/null
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
cp -a testdata/projects/pytest_mixed "$out/host"
mean_ms() { python3 -c 'import json,sys; print("%.0f" % (json.load(open(sys.argv[1]))["results"][0]["mean"] * 1000))' "$1"; }
hyperfine -N -i --warmup 2 --runs "$runs" --export-json "$out/k.json" \
  "build/bin/kiln test testdata/projects/pytest_mixed" >/dev/null 2>&1
hyperfine -N -i --warmup 2 --runs "$runs" --export-json "$out/h.json" \
  "bash -c 'cd $out/host && python3 -m pytest -v --junitxml=/tmp/kiln-bench-junit.xml -p no:cacheprovider'" \
  >/dev/null 2>&1
rm -f /tmp/kiln-bench-junit.xml
k="$(mean_ms "$out/k.json")" h="$(mean_ms "$out/h.json")"
echo "| suite                  | kiln test | host pytest | ratio |"
echo "|------------------------|-----------|-------------|-------|"
printf '| pytest_mixed (2 tests) | %6s ms | %8s ms | %5s |\n' "$k" "$h" "$(python3 -c "print('%.2f' % ($k / $h))")"
