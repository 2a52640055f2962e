#!/usr/bin/env bash
# Installs the Debian packages tern needs to build, test and benchmark. Idempotent: it asks apt
# only for what is missing, and runs `apt-get update` only when something is.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libgtest-dev libgmock-dev libbenchmark-dev
  libcli11-dev liburing-dev
  curl libtomlplusplus-dev wrk
  mold  # the linker of tern's own programs and tests (TERN_LINK_WITH_MOLD): faster than ld
  clang libclang-rt-14-dev  # make fuzz: clang++ and libFuzzer (libclang_rt.fuzzer)
  libevent-dev libuv1-dev libasio-dev  # the echo peers of make bench (bench/peers/)
  python3-matplotlib  # bench/plot.py; its test (plot_demo) runs in make test
  libsqlite3-dev  # tern::store's embedded storage (SQLite in WAL mode)
  redis-server redis-tools  # the database server of the cluster form; its tests start one
  chromium  # headless, runs the status page's script in tests/status_page_test.cc
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "install-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
