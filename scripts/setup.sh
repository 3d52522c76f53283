#!/usr/bin/env bash
# Installs what Kiln needs on Debian 12 (idempotent, non-interactive) and builds it into ./build.
# Usage: scripts/setup.sh [--with-test-deps]   (as root; uses sudo when not root)
#   --with-test-deps  also installs what only tests need (the R kernel, hundreds of MB, for its tests)
set -euo pipefail
cd "$(dirname "$0")/.."
WITH_TEST_DEPS=0
for arg in "$@"; do
  case "$arg" in
    --with-test-deps) WITH_TEST_DEPS=1 ;;
    *) echo "setup: unknown option $arg (known: --with-test-deps)" >&2; exit 2 ;;
  esac
done

PACKAGES=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libgtest-dev libgmock-dev libbenchmark-dev
  libseccomp-dev nlohmann-json3-dev libcli11-dev libcurl4-openssl-dev libsqlite3-dev libarchive-dev zlib1g-dev
  libcpp-httplib-dev libedit-dev libyaml-cpp-dev
  python3 python3-numpy python3-matplotlib python3-pandas python3-ipython
  nodejs bubblewrap hyperfine iproute2 procps ccache dpkg-dev file
  cppzmq-dev libzmq3-dev libssl-dev python3-ipykernel python3-jupyter-client
  libboost1.81-dev libexpat1-dev slirp4netns
  python3-pytest python3-coverage
  mmdebstrap
)
# Needed by tests only: the R kernel (IRkernel contexts, optional at run time) and systemd-analyze (the
# package test checks the unit with it) and pip (a network test installs a wheel from an index it serves).
TEST_PACKAGES=(r-cran-irkernel systemd python3-pip)
if [ "$WITH_TEST_DEPS" = 1 ]; then PACKAGES+=("${TEST_PACKAGES[@]}"); fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# nodejs may come from another source (its binary is what matters).
if [ ${#missing[@]} -gt 0 ] && command -v node >/dev/null; then
  missing=("${missing[@]/nodejs}")
fi
missing=($(printf '%s\n' "${missing[@]}" | sed '/^$/d'))
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The official E2B JS SDKs, pinned by tests/e2e/package-lock.json, for kiln serve's SDK test.
if [ "$WITH_TEST_DEPS" = 1 ]; then npm ci --prefix tests/e2e --no-audit --no-fund >/dev/null; fi

BUILD_TYPE="${KILN_BUILD_TYPE:-RelWithDebInfo}"
LAUNCHER=()
if command -v ccache >/dev/null; then
  LAUNCHER=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  # Paths relative to the checkout: a clone elsewhere (CI's) reuses what an earlier build compiled.
  export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
fi
# KILN_BUILD_DIR and KILN_CMAKE_ARGS: scripts/test.sh --sanitize builds elsewhere with other flags;
# KILN_BUILD_TARGETS: only those targets (its sanitizer pass), else everything.
BUILD_DIR="${KILN_BUILD_DIR:-build}"
read -r -a EXTRA_CMAKE_ARGS <<<"${KILN_CMAKE_ARGS:-}"
mkdir -p "$BUILD_DIR"
# Private, like a clone in /root: the sandbox's root must never need to traverse where Kiln lives.
chmod 0700 "$BUILD_DIR"
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE" "${LAUNCHER[@]}" "${EXTRA_CMAKE_ARGS[@]}" >/dev/null
read -r -a BUILD_TARGETS <<<"${KILN_BUILD_TARGETS:-all}"
cmake --build "$BUILD_DIR" -j"$(nproc)" --target "${BUILD_TARGETS[@]}"
