#!/usr/bin/env bash
# Installs the Debian packages only the HTTP benchmarks of make bench (bench/bench.py) need: the
# peer servers nginx and h2o, the peer proxies HAProxy and nginx's stream module (the proxy
# section's TCP mode; Debian builds it as a dynamic module, which bench/proxy/nginx-tcp.conf
# loads), and wrk. Idempotent: it asks apt only for what is missing, and runs
# `apt-get update` only when something is. Kept apart from install-deps.sh (which `make test`
# runs on every fresh machine) because these are web servers whose Debian packages start a
# system service on port 80 when installed: no test needs them.
#
# No server may run as a service: packages are installed with a policy-rc.d that forbids
# starting services (unless one that does already exists), and a service that is running
# anyway (installed earlier, outside this script) is stopped and disabled. The benchmark
# starts its own nginx, h2o and haproxy, as the user, on ports of its own, with its own
# configuration.
#
# Usage: scripts/install-bench-deps.sh [--callgrind]   (--callgrind: valgrind too)
set -euo pipefail

# python3 runs bench/bench.py; wrk is in install-deps.sh too (the HTTP tests use it).
# python3-matplotlib draws the plots (bench/plot.py); install-deps.sh has it too (its test).
packages=(nginx libnginx-mod-stream haproxy h2o wrk python3 python3-matplotlib)
[[ ${1:-} == --callgrind ]] && packages+=(valgrind)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi

if [ ${#missing[@]} -gt 0 ]; then
  # Forbid service starts during the install (exit 101 = "action not allowed"), unless the
  # machine already has a policy (Debian container images ship one that does the same).
  policy=/usr/sbin/policy-rc.d
  added_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# Added by tern scripts/install-bench-deps.sh for the install only.\nexit 101\n' |
      $sudo tee "$policy" > /dev/null
    $sudo chmod 755 "$policy"
    added_policy=1
  fi
  trap '[ "$added_policy" = 1 ] && $sudo rm -f "$policy"' EXIT
  echo "install-bench-deps: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    -o DPkg::Lock::Timeout=300 "${missing[@]}"
fi

# Stop and disable the services if they run anyway (say, installed on a machine with systemd
# before this script existed): the benchmark needs no server of the system's on any port.
for svc in nginx h2o haproxy; do
  if command -v systemctl > /dev/null && [ -d /run/systemd/system ]; then
    if systemctl is-active --quiet "$svc" 2>/dev/null || systemctl is-enabled --quiet "$svc" 2>/dev/null; then
      echo "install-bench-deps: stopping and disabling the $svc service"
      $sudo systemctl disable --now "$svc" > /dev/null 2>&1 || true
    fi
  elif [ -x "/etc/init.d/$svc" ] && "/etc/init.d/$svc" status > /dev/null 2>&1; then
    echo "install-bench-deps: stopping the $svc service"
    $sudo "/etc/init.d/$svc" stop > /dev/null 2>&1 || true
  fi
done
