#!/usr/bin/env bash
# `kiln run` against bubblewrap, command to command, in one run (issue 19's end-to-end figure): the same
# program in each, with bwrap given the isolation Kiln gives (every namespace, uid 1000, no capabilities,
# fresh /proc, /dev, /tmp and home). Prints both means and their ratio (goal <= 1.0), plus `kiln --version`
# alone (what starting the binary costs). Usage: bench/sandbox/cli_vs_bwrap.sh [RUNS]   (as root)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs="${1:-100}"
cmake --build build --target kiln kiln-envd >/dev/null
BWRAP='bwrap --unshare-all --uid 1000 --gid 1000 --die-with-parent --new-session --cap-drop ALL --ro-bind /usr /usr --symlink usr/bin /bin --symlink usr/lib /lib --symlink usr/lib64 /lib64 --proc /proc --dev /dev --tmpfs /tmp --tmpfs /home/user'
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
mean_ms() { python3 -c 'import json,sys; print("%.1f" % (json.load(open(sys.argv[1]))["results"][0]["mean"] * 1000))' "$1"; }
compare() {  # name kiln-command bwrap-command
  hyperfine -N --warmup 10 --runs "$runs" --export-json "$out/k.json" "$2" >/dev/null 2>&1
  hyperfine -N --warmup 10 --runs "$runs" --export-json "$out/b.json" "$3" >/dev/null 2>&1
  local k b
  k="$(mean_ms "$out/k.json")" b="$(mean_ms "$out/b.json")"
  printf '| %-16s | %8s ms | %8s ms | %5s |\n' "$1" "$k" "$b" "$(python3 -c "print('%.2f' % ($k / $b))")"
}
echo "| program          | kiln run    | bwrap       | ratio |"
echo "|------------------|-------------|-------------|-------|"
compare '/bin/true' 'build/bin/kiln run --lang sh -c true' "$BWRAP /bin/true"
compare 'python3 -c pass' 'build/bin/kiln run -c pass' "$BWRAP python3 -c pass"
hyperfine -N --warmup 10 --runs "$runs" --export-json "$out/v.json" 'build/bin/kiln --version' >/dev/null 2>&1
echo "kiln --version alone: $(mean_ms "$out/v.json") ms"
