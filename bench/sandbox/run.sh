#!/usr/bin/env bash
# Foundation benchmarks: kiln vs bubblewrap, same machine, one run. Usage: bench/sandbox/run.sh (as root)
set -euo pipefail
cd "$(dirname "$0")/../.."
cmake --build build --target kiln kiln-envd kiln_sandbox_bench >/dev/null
build/bin/kiln_sandbox_bench "$@"
echo
echo "CLI to CLI (hyperfine): kiln run vs bwrap, /bin/true"
hyperfine -N --warmup 20 --runs 200 --export-markdown /dev/stdout \
  'build/bin/kiln run --lang sh -c true' \
  'bwrap --unshare-all --uid 1000 --gid 1000 --die-with-parent --new-session --cap-drop ALL --ro-bind /usr /usr --symlink usr/bin /bin --symlink usr/lib /lib --symlink usr/lib64 /lib64 --proc /proc --dev /dev --tmpfs /tmp --tmpfs /home/user /bin/true' 2>/dev/null | grep '^|'
