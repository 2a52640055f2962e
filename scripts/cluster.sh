#!/usr/bin/env bash
# The cluster form of the tern architecture on loopback (`make cluster`, docs/cluster.md):
#
#   clients ─► tern-proxy 127.0.0.1:8080 ═pools═► tern-kv :9101, :9102 ═RESP═► redis-server :6390
#              (access server, health checks      (logic servers,             (database server,
#               GET /healthz)                      store redis://)             appendonly)
#
# Starts the four processes in that order, each once the one below it answers, prints what runs
# where (with the pids) and a curl line, then waits. SIGINT (Ctrl-C) or SIGTERM stops them in
# the reverse order, each with SIGTERM (a drain), and reaps them; exit status 0 when every one
# exited by itself with status 0, 1 otherwise (one died early, or needed a SIGKILL).
#
# Environment (all optional; the defaults are make cluster's; relative paths are taken from the
# repository's root, where the script runs):
#   BUILD                 the CMake build directory (build); missing programs are built there
#   CLUSTER_DIR           config, data and logs ($BUILD/cluster)
#   CLUSTER_REDIS_PORT    redis-server's port (6390)
#   CLUSTER_KV_PORTS      the tern-kv ports, one logic server each ("9101 9102")
#   CLUSTER_PROXY_PORT    tern-proxy's port (8080)
#   TERN_KV, TERN_PROXY   the programs ($BUILD/apps/tern-kv, $BUILD/apps/tern-proxy)
#   REDIS_SERVER          redis-server (found on PATH)
#   CLUSTER_KV_FLAGS      more flags for each tern-kv (e.g. "--backend uring --threads 2")
#   CLUSTER_PROXY_FLAGS   more flags for tern-proxy
#   CLUSTER_START_SECONDS how long one process may take to answer (30)
#   CLUSTER_STOP_SECONDS  how long one process may take to exit after SIGTERM (15)
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

build="${BUILD:-build}"
cluster_dir="${CLUSTER_DIR:-$build/cluster}"
redis_port="${CLUSTER_REDIS_PORT:-6390}"
read -r -a kv_ports <<< "${CLUSTER_KV_PORTS:-9101 9102}"
proxy_port="${CLUSTER_PROXY_PORT:-8080}"
tern_kv="${TERN_KV:-$build/apps/tern-kv}"
tern_proxy="${TERN_PROXY:-$build/apps/tern-proxy}"
redis_server="${REDIS_SERVER:-$(command -v redis-server || echo /usr/bin/redis-server)}"
read -r -a kv_flags <<< "${CLUSTER_KV_FLAGS:-}"
read -r -a proxy_flags <<< "${CLUSTER_PROXY_FLAGS:-}"
start_seconds="${CLUSTER_START_SECONDS:-30}"
stop_seconds="${CLUSTER_STOP_SECONDS:-15}"
host=127.0.0.1

say() { echo "cluster: $*"; }
fail() { echo "cluster: $*" >&2; }

# --- what is missing first, as make run does -------------------------------------------------

ensure_programs() {
  if [[ ! -x "$redis_server" ]]; then
    say "redis-server is missing: installing the project's dependencies"
    ./scripts/install-deps.sh || return 1
    redis_server="$(command -v redis-server || echo /usr/bin/redis-server)"
  fi
  if [[ ! -x "$tern_kv" || ! -x "$tern_proxy" ]]; then
    say "building tern-kv and tern-proxy in $build"
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null &&
      cmake --build "$build" -j "$(nproc)" --target tern-kv tern-proxy || return 1
  fi
  local program
  for program in "$redis_server" "$tern_kv" "$tern_proxy"; do
    [[ -x "$program" ]] || { fail "$program is not there"; return 1; }
  done
}

# --- the processes ---------------------------------------------------------------------------

names=()   # parallel arrays, in start order
pids=()
logs=()
reaped=()  # set for a process already reaped (it exited by itself)

# An exited child is a zombie until this shell reaps it (/proc shows state Z), then gone.
# Read with builtins only (no process per check): "pid (comm) S ...", the state after ") ".
running() {
  local stat
  stat="$(< "/proc/$1/stat")" 2> /dev/null || return 1
  stat="${stat##*) }"
  [[ -n "$stat" && "${stat%% *}" != Z ]]
}

# launch NAME LOG PROGRAM ARGS...: started in the background, stdin from /dev/null and its
# output to LOG (never to our stdout: a reader of our output sees EOF when we exit).
launch() {
  local name="$1" log="$2"
  shift 2
  "$@" < /dev/null > "$log" 2>&1 &
  names+=("$name")
  pids+=("$!")
  logs+=("$log")
}

# Bounded wait for a condition (a command), checking that the last process started still runs.
wait_until() {
  local what="$1"
  shift
  local deadline=$((SECONDS + start_seconds))
  local last=$((${#pids[@]} - 1))
  until "$@"; do
    if ! running "${pids[$last]}"; then
      fail "${names[$last]} exited before $what; the end of ${logs[$last]}:"
      tail -n 20 "${logs[$last]}" >&2
      return 1
    fi
    if ((SECONDS >= deadline)); then
      fail "${names[$last]}: no $what within ${start_seconds}s (log: ${logs[$last]})"
      return 1
    fi
    sleep 0.1
  done
}

redis_answers_ping() {
  local reply=""
  { exec 3<> "/dev/tcp/$host/$redis_port"; } 2> /dev/null || return 1
  printf 'PING\r\n' >&3
  read -r -t 2 reply <&3
  exec 3>&-
  [[ "$reply" == "+PONG"* ]]
}

log_says_listening() { grep -q "listening on $host:$1" "$2" 2> /dev/null; }

start_redis() {
  mkdir -p "$cluster_dir/redis" || return 1
  local config="$cluster_dir/redis.conf"
  {
    echo "# Written by scripts/cluster.sh: the shared settings, then this run's port and data."
    echo "include $root/scripts/cluster/redis.conf"
    echo "port $redis_port"
    echo "dir $(cd "$cluster_dir/redis" && pwd)"
  } > "$config"
  launch redis-server "$cluster_dir/redis.log" "$redis_server" "$config"
  wait_until "answer to PING on $host:$redis_port" redis_answers_ping || return 1
  say "redis-server pid ${pids[-1]} on $host:$redis_port (config $config, data $cluster_dir/redis, log $cluster_dir/redis.log)"
}

start_kv() {
  local port="$1" log="$cluster_dir/tern-kv-$1.log"
  launch tern-kv "$log" "$tern_kv" --host "$host" --port "$port" \
    --store "redis://$host:$redis_port" "${kv_flags[@]}"
  wait_until "listening line" log_says_listening "$port" "$log" || return 1
  say "tern-kv pid ${pids[-1]} on $host:$port (store redis://$host:$redis_port, log $log)"
}

start_proxy() {
  local log="$cluster_dir/tern-proxy.log" upstreams=() port
  for port in "${kv_ports[@]}"; do upstreams+=(--upstream "$host:$port"); done
  launch tern-proxy "$log" "$tern_proxy" --listen "$host:$proxy_port" "${upstreams[@]}" \
    --health-path /healthz --health-interval-ms 1000 "${proxy_flags[@]}"
  wait_until "listening line" log_says_listening "$proxy_port" "$log" || return 1
  say "tern-proxy pid ${pids[-1]} on $host:$proxy_port (upstreams ${kv_ports[*]/#/$host:}, health checks GET /healthz, log $log)"
}

# --- stopping --------------------------------------------------------------------------------

clean=1

# SIGTERM (a drain), a bounded wait, SIGKILL past it; then reaped, its status judged.
stop_one() {
  local i="$1" pid="${pids[$1]}" name="${names[$1]}"
  [[ -z "${reaped[$i]:-}" ]] || return 0
  kill -TERM "$pid" 2> /dev/null
  local deadline=$((SECONDS + stop_seconds))
  while running "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
  if running "$pid"; then
    fail "$name (pid $pid) still runs ${stop_seconds}s after SIGTERM: SIGKILL"
    kill -KILL "$pid" 2> /dev/null
    clean=0
  fi
  wait "$pid"
  local status=$?
  if ((status != 0)); then
    fail "$name (pid $pid) exited with status $status (log: ${logs[$i]})"
    clean=0
  fi
}

# The access server first (no new requests), the database server last (the logic servers'
# last writes reach it).
stop_all() {
  trap '' INT TERM
  say "stopping"
  local i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do stop_one "$i"; done
  pids=()
  if ((clean)); then say "stopped"; else fail "stopped, not cleanly"; fi
  ((clean)) && exit 0
  exit 1
}

# --- main ------------------------------------------------------------------------------------

stop_requested=0
trap 'stop_requested=1' INT TERM

ensure_programs || exit 1
mkdir -p "$cluster_dir" || exit 1

start_redis || { clean=0; stop_all; }
for port in "${kv_ports[@]}"; do
  ((stop_requested)) && stop_all
  start_kv "$port" || { clean=0; stop_all; }
done
((stop_requested)) && stop_all
start_proxy || { clean=0; stop_all; }

say "try: curl -i -X PUT --data-binary hello http://$host:$proxy_port/kv/greeting; curl http://$host:$proxy_port/kv/greeting"
say "running; Ctrl-C stops everything"
trap stop_all INT TERM
((stop_requested)) && stop_all

# Watch until a signal's trap runs stop_all (which exits) or a process ends by itself. Not
# `wait -n`: a child that died before it was called (already reaped and reported by bash) would
# never wake it. The pause paces the checks; a trapped signal runs its trap once it ends
# (Ctrl-C ends it at once: the whole foreground group gets SIGINT).
while :; do
  for i in "${!pids[@]}"; do
    running "${pids[$i]}" && continue
    wait "${pids[$i]}"
    status=$?
    fail "${names[$i]} (pid ${pids[$i]}) exited by itself with status $status; the end of ${logs[$i]}:"
    tail -n 20 "${logs[$i]}" >&2
    reaped[$i]=1
    clean=0
  done
  ((clean)) || stop_all
  sleep 0.5
done
