#!/usr/bin/env bash
# Installs what Kiln needs on Debian 12 (idempotent, non-interactive) and builds it into ./build.
# Usage: scripts/setup.sh            (as root; uses sudo when not root)
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libgtest-dev libgmock-dev libbenchmark-dev
  libseccomp-dev nlohmann-json3-dev libcli11-dev libcurl4-openssl-dev libsqlite3-dev libarchive-dev zlib1g-dev
  libcpp-httplib-dev libedit-dev
  python3 python3-numpy python3-matplotlib python3-pandas python3-ipython
  nodejs bubblewrap hyperfine iproute2 procps
  cppzmq-dev libzmq3-dev libssl-dev python3-ipykernel python3-jupyter-client r-cran-irkernel
  libboost1.81-dev
)

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

BUILD_TYPE="${KILN_BUILD_TYPE:-RelWithDebInfo}"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE" >/dev/null
cmake --build build -j"$(nproc)"
