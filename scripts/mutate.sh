#!/usr/bin/env bash
# Removes one containment step at a time from a copy of the code and runs the tests against it: every removal
# must make at least one test fail. A mutation that survives is a promise no test checks.
#
# Usage: scripts/mutate.sh [-R CTEST_REGEX] [MUTATION...]
#   -R REGEX     the tests to run against each mutant (default: those labelled sandbox or integration,
#                which start real sandboxes)
#   MUTATION     names from the list below (default: all); scripts/mutate.sh --list prints them
# Works in a copy under ${KILN_MUTATE_DIR:-/tmp/kiln-mutate}: the checkout is never modified. Builds with
# ccache when present, so each mutant recompiles only the file it changes.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
WORK="${KILN_MUTATE_DIR:-/tmp/kiln-mutate}"
LABEL='sandbox|integration'
REGEX=

# name ~ file ~ perl substitution (applied with -0pi: the file is one string) ~ what it removes
MUTATIONS=(
  "no-capability-drop~src/sandbox/child.cc~s/KILN_RETURN_IF_ERROR\(RestrictCapabilities\(\)\);//~the sandbox child keeps every capability for its init"
  "no-no-new-privs~src/sandbox/child.cc~s/if \(prctl\(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0\) != 0\) return[^;]*;//~init may gain privileges through exec"
  "no-seccomp~src/sandbox/child.cc~s/if \(prctl\(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog\) != 0\)\s*return[^;]*;/(void)prog;/~no system call filter"
  "no-rlimits~src/sandbox/child.cc~s/KILN_RETURN_IF_ERROR\(ApplyRlimits\(plan\)\);//~no file-size, open-file or core limits"
  "no-loopback~src/sandbox/child.cc~s/if \(plan.setup_loopback\) KILN_RETURN_IF_ERROR\(BringUpLoopback\(\)\);//~the sandbox's loopback stays down"
  "no-readonly-root~src/sandbox/mount_plan.cc~s/plan.Raw\(\{MountStep::kMount, \"\", \"\/\", \"\", MS_REMOUNT \| MS_BIND \| MS_RDONLY \| kHardening, \"\"\}\);//~the sandbox's root stays writable"
  "no-memory-limit-v1~src/sandbox/cgroup.cc~s/s = os.WriteFile\(dir \+ \"\/memory.limit_in_bytes\", LimitValue\(l.memory_bytes, \"-1\"\)\);/s = Status::Ok();/~no memory limit on cgroup v1"
  "no-pids-limit-v1~src/sandbox/cgroup.cc~s/s = os.WriteFile\(dir \+ \"\/pids.max\", LimitValue\(l.pids, \"max\"\)\);/s = Status::Ok();/~no pids limit on cgroup v1"
  "no-stdout-cap~src/runtime/run.cc~s/&result_.stdout_data, req_.spec.limits.max_output_bytes/&result_.stdout_data, INT64_MAX/~stdout captured without bound"
  "no-stderr-cap~src/runtime/run.cc~s/&result_.stderr_data, req_.spec.limits.max_output_bytes/&result_.stderr_data, INT64_MAX/~stderr captured without bound"
  "envd-keeps-bounding~src/envd/spawn.cc~s/PR_CAPBSET_DROP, cap/PR_CAPBSET_READ, cap/~processes envd starts keep envd's whole bounding set (root could regain SETPCAP)"
  "envd-no-nnp~src/envd/spawn.cc~s/if \(::prctl\(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0\) != 0\) Fail\(pipe_fd, kNoNewPrivs, errno\);//~processes envd starts may gain privileges"
)

names=()
while [ $# -gt 0 ]; do
  case "$1" in
    -R) REGEX="$2"; shift 2 ;;
    --list) for m in "${MUTATIONS[@]}"; do IFS='~' read -r n _ _ d <<<"$m"; printf '%-22s %s\n' "$n" "$d"; done; exit 0 ;;
    -*) echo "mutate: unknown option $1 (known: -R REGEX, --list)" >&2; exit 2 ;;
    *) names+=("$1"); shift ;;
  esac
done

mkdir -p "$WORK"
SRC="$WORK/src-copy"
# The checkout's files as they are now (committed or not), without its build.
mkdir -p "$SRC"
git ls-files -z -co --exclude-standard | tar -c --null -T - | tar -x -C "$SRC"
[ -d tests/e2e/node_modules ] && cp -a tests/e2e/node_modules "$SRC/tests/e2e/"
LAUNCHER=()
if command -v ccache >/dev/null; then
  LAUNCHER=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  export CCACHE_BASEDIR="$SRC" CCACHE_NOHASHDIR=1
fi
mkdir -p "$SRC/build" && chmod 0700 "$SRC/build"
cmake -S "$SRC" -B "$SRC/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "${LAUNCHER[@]}" >/dev/null

SELECT=(-L "$LABEL")
[ -n "$REGEX" ] && SELECT=(-R "$REGEX")
survivors=()
report="$WORK/report.txt"
: >"$report"
for m in "${MUTATIONS[@]}"; do
  IFS='~' read -r name file subst desc <<<"$m"
  if [ ${#names[@]} -gt 0 ] && [[ ! " ${names[*]} " == *" $name "* ]]; then continue; fi
  cp "$ROOT/$file" "$SRC/$file"
  perl -0pi -e "$subst" "$SRC/$file"
  if cmp -s "$ROOT/$file" "$SRC/$file"; then
    echo "mutate: $name no longer applies to $file (the code moved): update scripts/mutate.sh" >&2
    exit 2
  fi
  log="$WORK/$name.log"
  verdict="caught"
  if ! cmake --build "$SRC/build" -j"$(nproc)" >"$log" 2>&1; then
    verdict="caught (does not build)"
  elif ctest --test-dir "$SRC/build" "${SELECT[@]}" -j2 --timeout 300 >>"$log" 2>&1; then
    verdict="SURVIVED"
    survivors+=("$name")
  else
    failed=$(grep -E '^\s+[0-9]+ - ' "$log" | grep -v '(Skipped)' | sed -E 's/^\s+[0-9]+ - //; s/ \(Failed\)//' |
      head -5 | tr '\n' ' ')
    verdict="caught by: ${failed:-?}"
  fi
  cp "$ROOT/$file" "$SRC/$file"
  printf '%-22s %s\n' "$name" "$verdict" | tee -a "$report"
done
cmake --build "$SRC/build" -j"$(nproc)" >/dev/null 2>&1 || true
echo "mutate: ${#survivors[@]} survived${survivors:+: ${survivors[*]}} (report: $report)"
[ ${#survivors[@]} -eq 0 ]
