#!/usr/bin/env bash
# Builds Kiln's Debian package from BUILD_DIR and checks it as a user would meet it: its control data
# declares every library the binaries link, apt accepts it, its systemd unit is valid, and the unpacked
# tree, in a private (0700) directory, works on its own (version, doctor, a sandboxed run, bundled data).
# Usage: packaging/test_package.sh BUILD_DIR
set -euo pipefail
build="$(cd "$1" && pwd)"
fail() { echo "FAIL: $*" >&2; exit 1; }
trap 'echo "FAIL: line $LINENO: $BASH_COMMAND" >&2' ERR
# The package owning a library file; on merged-/usr hosts dpkg may know it under /lib or /usr/lib.
package_of() {
  local real; real="$(readlink -f "$1")"
  for candidate in "$1" "$real" "${real#/usr}" "/usr$1" "$(dirname "$1")/$(basename "$real")"; do
    dpkg -S "$candidate" 2>/dev/null | head -1 | cut -d: -f1 | grep . && return 0
  done
  return 1
}

(cd "$build" && cpack -G DEB >/dev/null) || fail "cpack -G DEB"
deb="$(ls -t "$build"/kiln_*_amd64.deb | head -1)"
echo "package: $deb ($(du -h "$deb" | cut -f1))"
depends="$(dpkg-deb -f "$deb" Depends)"
echo "Depends: $depends"

root="$(mktemp -d)"  # mode 0700, like /root
trap 'rm -rf "$root"' EXIT  # (RUN_SERIAL in ctest: it must not skew tests that measure the host's disk)
dpkg-deb -x "$deb" "$root"
for f in usr/bin/kiln usr/libexec/kiln/kiln-commands usr/libexec/kiln/kiln-envd usr/libexec/kiln/kiln-kernel-bridge \
         usr/share/kiln/humaneval/HumanEval.jsonl.gz usr/lib/systemd/system/kiln.service; do
  [ -e "$root/$f" ] || fail "the package lacks /$f"
done

# Every shared library a packaged binary needs belongs to a package named in Depends (or to libc6 itself).
for bin in "$root"/usr/bin/kiln "$root"/usr/libexec/kiln/*; do
  file -b "$bin" | grep -q 'dynamically linked' || continue
  for lib in $(objdump -p "$bin" | awk '/NEEDED/ {print $2}'); do
    path="$(ldconfig -p | awk -v l="$lib" '$1 == l && !found {print $NF; found = 1}')"
    [ -n "$path" ] || fail "$bin needs $lib, which this host cannot resolve"
    pkg="$(package_of "$path")" || fail "no package owns $path ($lib)"
    case ", $depends," in
      *", $pkg "*|*", $pkg,"*) ;;
      *) fail "$(basename "$bin") links $lib from package $pkg, which Depends does not name" ;;
    esac
  done
done
# Loaded with dlopen, so no shlibs scan can see them.
for pkg in libcurl4 libarchive13 python3; do
  case ", $depends," in *", $pkg,"*|*", $pkg "*) ;; *) fail "Depends lacks $pkg" ;; esac
done

apt-get install --simulate -qq "$deb" >/dev/null 2>"$root/apt.err" || { cat "$root/apt.err"; fail "apt refuses the package"; }
systemd-analyze verify "$root/usr/lib/systemd/system/kiln.service" 2>&1 | grep -v 'kiln.service: Command /usr/bin/kiln' \
  | grep . && fail "systemd-analyze finds fault with kiln.service"

kiln="$root/usr/bin/kiln"
"$kiln" --version | grep -q '^kiln 0\.' || fail "kiln --version"
doctor="$("$kiln" doctor)" || { echo "$doctor"; fail "kiln doctor from the package"; }
echo "$doctor" | grep -q "kiln-envd .*$root/usr/libexec/kiln/kiln-envd" || { echo "$doctor"; fail "doctor: envd not from the package"; }
echo "$doctor" | grep -q "kiln-kernel-bridge .*$root/usr/libexec/kiln/kiln-kernel-bridge" || fail "doctor: bridge"
out="$("$kiln" run -c 'print(6 * 7)')" || fail "kiln run from the package"
[ "$out" = 42 ] || fail "kiln run printed '$out'"
bench="$("$kiln" bench humaneval --model canonical --limit 2 2>&1)" || { echo "$bench"; fail "bundled HumanEval"; }
echo "$bench" | grep -q "2/2" || { echo "$bench"; fail "canonical solutions did not pass"; }
echo "package: 1 passed, 0 failed"
