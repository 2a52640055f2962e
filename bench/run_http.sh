#!/usr/bin/env bash
# run_http.sh: HTTP/1.1 throughput, server CPU per request and memory per idle keep-alive
# connection of tern-httpd (once per backend) against nginx and h2o (issue 9, section 7).
# Prints a markdown report on stdout and writes it to OUT_MD, with a CSV in OUT_CSV;
# progress on stderr.
#
# Servers (each pinned to SERVER_CPU, its children too; one worker / thread each):
#   tern-httpd  $TERN_HTTPD --host 127.0.0.1 --port P --root WWW --backend B $TERN_HTTPD_ARGS,
#               for every B in BACKENDS; skipped with a warning when TERN_HTTPD is missing
#   nginx       bench/http/nginx.conf: one worker, access log off, sendfile, keep-alive
#               without a request limit; /plaintext is `return 200 "Hello, World!"`, text/plain
#   h2o         bench/http/h2o.conf: one thread, no access log; /plaintext is the 13-byte static
#               file WWW/plaintext.txt served as text/plain (H2O_PLAINTEXT=file, the default)
#               or an mruby handler (H2O_PLAINTEXT=mruby; Debian's h2o 2.2.5 has mruby).  The
#               file is the default because it is h2o's cheapest answer: the mruby handler
#               cost about 1.7x the server CPU per request (1.9x pipelined) on the reference
#               machine, and a needlessly slow peer would flatter tern.
# WWW is a temp dir made at run time: plaintext.txt ("Hello, World!"), file-4k.bin (4096
# random bytes) and file-1m.bin (1 MiB random bytes).  Before each run every server must
# answer the three URLs with 200 and the right bytes (curl), or the run is FAILED.
#
# Workloads (wrk, pinned to CLIENT_CPU, one thread, bench/http/wrk.lua):
#   plaintext-64, plaintext-256     GET /plaintext, 64 / 256 connections
#   pipelined-64, pipelined-256     the same, PIPELINE_DEPTH [16] requests per write
#   static-4k, static-1m            GET /file-4k.bin, /file-1m.bin, STATIC_CONNECTIONS [64]
# Each run: a fresh server, the response check, WARMUP s of wrk (not measured), then SECONDS
# s of wrk; server CPU = utime+stime of the server and its children (/proc/PID/stat) read
# just before wrk starts and just after it exits, divided by the requests wrk completed
# (resolution 1/CLK_TCK = 10 ms: 0.2% of a 5 s run at 100% busy; the "busy" column shows
# how much of the run the server worked, and below ~95% wrk, not the server, was the limit).
# Rounds are interleaved: for each round, for each workload, every server in turn; medians
# with min-max.  A run with non-2xx responses or socket errors is flagged with its counts and
# left out of the medians (never averaged silently); a server that fails to start, answers
# wrongly, dies or (tern) runs another backend than asked is FAILED for that run.
#
# Idle connections (IDLE_CONNECTIONS [10000]; 0 skips): per round and server, a fresh
# server, 1 s of wrk warm-up, VmRSS of the server (and children), then
# bench/http_idle_client.py opens the connections (one epoll loop, at most 256 connects in
# flight), sends one keep-alive GET /plaintext on each and reads the response, and holds them;
# VmRSS again; (after - before) / N is the figure.  It also checks how many the server closed.
#
# CALLGRIND=1 (optional, tern-httpd; with CALLGRIND_PEERS=1 nginx and h2o too, nginx then in
# one process: master_process off): instructions per request under
# `valgrind --tool=callgrind`, a figure that machine noise does not move: for each server,
# the server is run twice, answering CALLGRIND_BASE [1000] and CALLGRIND_BASE +
# CALLGRIND_REQUESTS [10000] requests (the count client of http_idle_client.py, 16
# connections), and the difference of the instructions (Ir) is divided by CALLGRIND_REQUESTS,
# which cancels start-up and shutdown; once for /plaintext and once pipelined (depth 16).
# Only user-space instructions are counted (not the kernel's).  valgrind 3.19 (Debian 12)
# does not know openat2(2) (syscall 437): a server that needs it fails to start under it,
# and the run is FAILED with valgrind's "unhandled syscall" line as the reason.
#
# Environment (defaults in brackets):
#   BUILD [<repo>/build]  TERN_HTTPD [$BUILD/apps/tern-httpd]  TERN_HTTPD_ARGS [""]
#   BACKENDS ["epoll uring"]  PEERS ["nginx h2o"]  NGINX [nginx]  H2O [h2o]  WRK [wrk]
#   PYTHON [python3]  H2O_PLAINTEXT [file]  WORKLOADS [all six above]
#   ROUNDS [3]  SECONDS [5] (whole seconds, as wrk takes them)  WARMUP [1]
#   PIPELINE_DEPTH [16]  STATIC_CONNECTIONS [64]  IDLE_CONNECTIONS [10000]
#   CALLGRIND [0]  CALLGRIND_PEERS [0]  CALLGRIND_REQUESTS [10000]  CALLGRIND_BASE [1000]
#   SERVER_CPU [0]  CLIENT_CPU [1]  PORT_BASE [19800]
#   OUT_MD [<repo>/bench/results/http.md]  OUT_CSV [<repo>/bench/results/http.csv]
#   INSTALL_DEPS [1]: run scripts/install-bench-deps.sh first (nginx, h2o, wrk; valgrind
#     with CALLGRIND=1), which installs only what is missing and keeps their services stopped
#
# At the defaults (4 servers, 6 workloads, 3 rounds of 5 s) it takes about 10 minutes; the
# estimate is printed first.  Every step is bounded in time (server start 5 s, 60 s under
# valgrind; wrk SECONDS + 15 s; idle client 60 s + hold; server exit 5 s after SIGTERM, then
# SIGKILL), every process started is killed and reaped on exit, loopback only.
#
# Examples: bench/run_http.sh
#           ROUNDS=1 SECONDS=2 bench/run_http.sh
#           TERN_HTTPD=build-h6/apps/tern-httpd BACKENDS=uring WORKLOADS="plaintext-64 pipelined-64" bench/run_http.sh
#           CALLGRIND=1 ROUNDS=1 WORKLOADS= IDLE_CONNECTIONS=0 PEERS= bench/run_http.sh
set -uo pipefail

# SECONDS is special in bash (it counts up from its initial value), so take the value
# this script was started with from its original environment, not from $SECONDS.
MEASURE_SECONDS=$(tr '\0' '\n' < /proc/$$/environ | sed -n 's/^SECONDS=//p' | tail -n 1)
MEASURE_SECONDS=${MEASURE_SECONDS:-5}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib/processes.sh
source "$ROOT/bench/lib/processes.sh"
BUILD=${BUILD:-$ROOT/build}
TERN_HTTPD=${TERN_HTTPD:-$BUILD/apps/tern-httpd}
TERN_HTTPD_ARGS=${TERN_HTTPD_ARGS:-}
BACKENDS=${BACKENDS-epoll uring}
PEERS=${PEERS-nginx h2o}
NGINX=${NGINX:-nginx}
H2O=${H2O:-h2o}
WRK=${WRK:-wrk}
PYTHON=${PYTHON:-python3}
H2O_PLAINTEXT=${H2O_PLAINTEXT:-file}
ALL_WORKLOADS="plaintext-64 plaintext-256 pipelined-64 pipelined-256 static-4k static-1m"
WORKLOADS=${WORKLOADS-$ALL_WORKLOADS}
ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-1}
PIPELINE_DEPTH=${PIPELINE_DEPTH:-16}
STATIC_CONNECTIONS=${STATIC_CONNECTIONS:-64}
IDLE_CONNECTIONS=${IDLE_CONNECTIONS:-10000}
CALLGRIND=${CALLGRIND:-0}
CALLGRIND_PEERS=${CALLGRIND_PEERS:-0}
CALLGRIND_REQUESTS=${CALLGRIND_REQUESTS:-10000}
CALLGRIND_BASE=${CALLGRIND_BASE:-1000}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
PORT_BASE=${PORT_BASE:-19800}
OUT_MD=${OUT_MD:-$ROOT/bench/results/http.md}
OUT_CSV=${OUT_CSV:-$ROOT/bench/results/http.csv}
INSTALL_DEPS=${INSTALL_DEPS:-1}
HOST=127.0.0.1          # loopback only
START_TIMEOUT=5         # seconds a server gets to listen
STOP_TIMEOUT=5          # seconds a server gets to exit after SIGTERM
IDLE_TIMEOUT=60         # seconds the idle client gets to open and answer its connections
IDLE_CLIENT=$ROOT/bench/http_idle_client.py
WRK_LUA=$ROOT/bench/http/wrk.lua

die() { echo "run_http.sh: $*" >&2; exit 2; }
log() { echo "$*" >&2; }

for v in ROUNDS MEASURE_SECONDS WARMUP PIPELINE_DEPTH STATIC_CONNECTIONS IDLE_CONNECTIONS \
         CALLGRIND_REQUESTS CALLGRIND_BASE SERVER_CPU CLIENT_CPU PORT_BASE; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "${v/MEASURE_/} must be a non-negative integer (got '${!v}')"
done
(( ROUNDS >= 1 && MEASURE_SECONDS >= 1 && PIPELINE_DEPTH >= 1 && STATIC_CONNECTIONS >= 1 )) ||
  die "ROUNDS, SECONDS, PIPELINE_DEPTH and STATIC_CONNECTIONS must be >= 1"
(( CALLGRIND_REQUESTS >= 1 )) || die "CALLGRIND_REQUESTS must be >= 1"
[[ $CALLGRIND == 0 || $CALLGRIND == 1 ]] || die "CALLGRIND must be 0 or 1"
[[ $CALLGRIND_PEERS == 0 || $CALLGRIND_PEERS == 1 ]] || die "CALLGRIND_PEERS must be 0 or 1"
[[ $H2O_PLAINTEXT == file || $H2O_PLAINTEXT == mruby ]] || die "H2O_PLAINTEXT must be file or mruby"
for w in $WORKLOADS; do
  [[ " $ALL_WORKLOADS " == *" $w "* ]] || die "unknown workload '$w' (known: $ALL_WORKLOADS)"
done
for p in $PEERS; do
  [[ $p == nginx || $p == h2o ]] || die "PEERS may contain only nginx and h2o (got '$p')"
done
for b in $BACKENDS; do
  [[ $b =~ ^[a-z-]+$ ]] || die "bad backend name '$b'"
done
ncpu=$(nproc)
(( CLIENT_CPU < ncpu && SERVER_CPU < ncpu )) || die "SERVER_CPU / CLIENT_CPU must be below the $ncpu online CPUs"
(( CLIENT_CPU != SERVER_CPU )) || log "run_http.sh: warning: server and client share CPU $SERVER_CPU"

if (( INSTALL_DEPS )); then
  dep_args=()
  (( CALLGRIND )) && dep_args+=(--callgrind)
  "$ROOT/scripts/install-bench-deps.sh" "${dep_args[@]}" >&2 || die "scripts/install-bench-deps.sh failed"
fi
command -v taskset > /dev/null || die "taskset (util-linux) is required"
command -v curl > /dev/null || die "curl is required (scripts/install-deps.sh installs it)"
command -v "$WRK" > /dev/null || die "wrk not found: $WRK (scripts/install-bench-deps.sh installs it)"
[[ " $PEERS " == *" nginx "* ]] && { command -v "$NGINX" > /dev/null || die "nginx not found: $NGINX"; }
[[ " $PEERS " == *" h2o "* ]] && { command -v "$H2O" > /dev/null || die "h2o not found: $H2O"; }
if (( IDLE_CONNECTIONS > 0 || CALLGRIND )); then
  command -v "$PYTHON" > /dev/null || die "python3 not found ($PYTHON): the idle / count client needs it"
fi
if (( CALLGRIND )); then
  command -v valgrind > /dev/null || die "valgrind not found (scripts/install-bench-deps.sh --callgrind)"
fi
if [[ " $PEERS " == *" h2o "* && $H2O_PLAINTEXT == mruby ]]; then
  "$H2O" --version 2>&1 | grep -q 'mruby: YES' || die "H2O_PLAINTEXT=mruby, but this h2o has no mruby"
fi
if [[ -n ${BACKENDS// /} && ! -x $TERN_HTTPD ]]; then
  log "run_http.sh: warning: tern-httpd not found at $TERN_HTTPD (set TERN_HTTPD or BUILD): measuring the peers only"
  BACKENDS=""
fi
if (( CALLGRIND && ! CALLGRIND_PEERS )) && [[ -z ${BACKENDS// /} ]]; then
  log "run_http.sh: warning: CALLGRIND=1 without tern-httpd (and CALLGRIND_PEERS=0) measures nothing: skipped"
  CALLGRIND=0
fi
CLK_TCK=$(getconf CLK_TCK) || die "getconf CLK_TCK failed"

# File descriptors: the idle phase needs one per connection in the client and in the server
# (both inherit this shell's limit; nginx and h2o are also told).  Raise the limit if allowed.
NOFILE=$(( IDLE_CONNECTIONS + 1024 ))
(( NOFILE < 4096 )) && NOFILE=4096
if (( $(ulimit -n) < NOFILE )); then
  ulimit -n "$NOFILE" 2> /dev/null || ulimit -Sn "$(ulimit -Hn)" 2> /dev/null
  if (( $(ulimit -n) < NOFILE )); then
    die "IDLE_CONNECTIONS=$IDLE_CONNECTIONS needs an fd limit of $NOFILE (ulimit -n is $(ulimit -n), hard $(ulimit -Hn))"
  fi
fi
NOFILE=$(ulimit -n)

# ---------------------------------------------------------------- process hygiene
SERVER_PID=""
CLIENT_PID=""
TMP=$(mktemp -d /tmp/run_http.XXXXXX) || die "mktemp failed"
chmod 755 "$TMP"         # nginx's worker and h2o run as nobody when started as root

# Stops the server (SIGTERM, then SIGKILL) and kills whatever of its process tree is left.
stop_server() {
  local p
  [[ -n $SERVER_PID ]] || return 0
  tree_pids "$SERVER_PID"
  local -a tree=("${TREE_PIDS[@]}")
  stop_pid "$SERVER_PID" "${1:-$STOP_TIMEOUT}"
  for p in "${tree[@]:1}"; do
    alive "$p" && kill -KILL "$p" 2> /dev/null
  done
  SERVER_PID=""
}

# shellcheck disable=SC2317  # invoked via trap
cleanup() {
  trap - EXIT INT TERM
  [[ -n $CLIENT_PID ]] && { kill -KILL "$CLIENT_PID" 2> /dev/null; wait "$CLIENT_PID" 2> /dev/null; }
  stop_server 2
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'log "run_http.sh: interrupted"; exit 130' INT
trap 'log "run_http.sh: terminated"; exit 143' TERM

# ---------------------------------------------------------------- the files served
WWW=$TMP/www
mkdir -p "$WWW"
printf 'Hello, World!' > "$WWW/plaintext.txt"
head -c 4096 /dev/urandom > "$WWW/file-4k.bin"
head -c 1048576 /dev/urandom > "$WWW/file-1m.bin"
chmod 755 "$WWW"; chmod 644 "$WWW"/*

# ---------------------------------------------------------------- servers
# Parallel arrays: display name, kind (tern / nginx / h2o), backend (tern only).
NAMES=(); KINDS=(); BACKS=()
NGINX_IDX=-1; H2O_IDX=-1
for b in $BACKENDS; do NAMES+=("tern-httpd --backend $b"); KINDS+=(tern); BACKS+=("$b"); done
for p in $PEERS; do
  [[ $p == nginx ]] && { NGINX_IDX=${#NAMES[@]}; NAMES+=("nginx"); }
  [[ $p == h2o ]] && { H2O_IDX=${#NAMES[@]}; NAMES+=("h2o"); }
  KINDS+=("$p"); BACKS+=("")
done
(( ${#NAMES[@]} )) || die "no server to measure"

NEXT_PORT=$PORT_BASE
UNDER_VALGRIND=0
MAX_CONNS=$(( NOFILE - 64 ))

# Writes the config of server $1 for port $PORT into $SRV (a fresh dir) -> SERVER_CMD.
server_command() {
  local idx=$1 kind=${KINDS[$1]}
  SRV=$TMP/srv; rm -rf "$SRV"; mkdir -p "$SRV"; chmod 755 "$SRV"
  case $kind in
    tern)
      # shellcheck disable=SC2206  # TERN_HTTPD_ARGS is split on purpose
      SERVER_CMD=("$TERN_HTTPD" --host "$HOST" --port "$PORT" --root "$WWW" --backend "${BACKS[$idx]}" $TERN_HTTPD_ARGS)
      ;;
    nginx)
      sed -e "s|@HOST@|$HOST|g; s|@PORT@|$PORT|g; s|@ROOT@|$WWW|g; s|@PREFIX@|$SRV|g" \
          -e "s|@MAX_CONNS@|$MAX_CONNS|g; s|@NOFILE@|$NOFILE|g" "$ROOT/bench/http/nginx.conf" > "$SRV/nginx.conf"
      SERVER_CMD=("$NGINX" -p "$SRV" -c "$SRV/nginx.conf" -e stderr -g 'daemon off;')
      # Under valgrind: one process (the worker's loop in the master), so that one profile
      # holds all the work.
      (( UNDER_VALGRIND )) && SERVER_CMD[-1]='daemon off; master_process off;'

      ;;
    h2o)
      if [[ $H2O_PLAINTEXT == mruby ]]; then
        cat > "$SRV/plaintext.yaml" <<'EOF'
        mruby.handler: |
          hdrs = {"content-type" => "text/plain"}
          body = ["Hello, World!"]
          Proc.new do |env|
            [200, hdrs, body]
          end
EOF
      else
        printf '        file.file: %s/plaintext.txt\n' "$WWW" > "$SRV/plaintext.yaml"
      fi
      local user_expr='/@USER@/d'
      (( $(id -u) == 0 )) && user_expr="s|@USER@|root|"
      sed -e "s|@HOST@|$HOST|g; s|@PORT@|$PORT|g; s|@ROOT@|$WWW|g; s|@PREFIX@|$SRV|g" \
          -e "s|@MAX_CONNS@|$MAX_CONNS|g; $user_expr" \
          -e "/@PLAINTEXT@/{r $SRV/plaintext.yaml" -e 'd;}' "$ROOT/bench/http/h2o.conf" > "$SRV/h2o.conf"
      SERVER_CMD=("$H2O" -c "$SRV/h2o.conf")
      ;;
  esac
}

# Starts server $1 pinned to SERVER_CPU (under valgrind when $2 is set) -> SERVER_PID, PORT.
# Returns 1 (after logging why) when it does not listen in time.
start_server() {
  local idx=$1 prefix=${2:-} timeout=$START_TIMEOUT i
  next_free_port
  server_command "$idx"
  local -a cmd=("${SERVER_CMD[@]}")
  if [[ -n $prefix ]]; then
    # shellcheck disable=SC2206
    cmd=($prefix "${cmd[@]}")
    timeout=60
  fi
  taskset -c "$SERVER_CPU" "${cmd[@]}" > "$TMP/server.log" 2>&1 < /dev/null &
  SERVER_PID=$!
  for (( i = 0; i < timeout * 20; i++ )); do
    port_listening "$PORT" && break
    alive "$SERVER_PID" || break
    sleep 0.05
  done
  if ! port_listening "$PORT" || ! alive "$SERVER_PID"; then
    stop_server 1
    # (valgrind's banner lines left out; its "unhandled syscall" warnings kept)
    FAIL_WHY="did not start on port $PORT (status $STOP_STATUS): $(grep -v '^==[0-9]*==' "$TMP/server.log" |
      grep -v -e '^--[0-9]*-- \(You may\|Read the file\|Nevertheless\|it at \)' | head -c 400 | tr '\n' ' ')"
    return 1
  fi
  # tern-httpd may fall back to another backend than the one asked for: it says so as
  # "(backend X" in its start-up line, like tern-echo.
  if [[ ${KINDS[$idx]} == tern ]]; then
    local used=""
    for (( i = 0; i < 40 && ${#used} == 0; i++ )); do   # the line may follow the listen by a moment
      used=$(sed -n 's/.*(backend \([a-z-]*\).*/\1/p' "$TMP/server.log" | head -n 1)
      [[ -n $used ]] || sleep 0.05
    done
    if [[ -n $used && $used != "${BACKS[$idx]}" ]]; then
      stop_server
      FAIL_WHY="ran the $used backend, not ${BACKS[$idx]}"
      return 1
    fi
  fi
}

# Does the server on $PORT answer the three URLs with 200 and the right bytes?
check_responses() {
  local url file code
  for file in plaintext.txt file-4k.bin file-1m.bin; do
    url=/$file
    [[ $file == plaintext.txt ]] && url=/plaintext
    code=$(curl -s --max-time 5 -o "$TMP/got" -w '%{http_code}' "http://$HOST:$PORT$url")
    if [[ $code != 200 ]] || ! cmp -s "$TMP/got" "$WWW/$file"; then
      FAIL_WHY="GET $url answered ${code:-nothing} $( [[ $code == 200 ]] && echo 'with other bytes than' || echo 'instead of 200 with') $file"
      return 1
    fi
  done
}

# Runs wrk against $PORT: $1 connections, $2 pipeline depth, $3 path, $4 seconds -> WRK_OUT
# (its output file); returns wrk's status (124/137: it overran its time budget).
run_wrk() {
  local status
  WRK_OUT=$TMP/wrk.out
  timeout -k 2 $(( $4 + 15 )) taskset -c "$CLIENT_CPU" "$WRK" -t1 -c"$1" -d"$4"s --timeout 2s \
    -s "$WRK_LUA" "http://$HOST:$PORT$3" -- "depth=$2" > "$WRK_OUT" 2>&1 &
  CLIENT_PID=$!
  wait "$CLIENT_PID"
  status=$?
  CLIENT_PID=""
  return "$status"
}

field() {  # $1 = key, $2 = "k=v k=v ..." line -> v
  sed -n "s/.*\\b$1=\\([0-9.]*\\).*/\\1/p" <<< "$2"
}

workload_params() {  # $1 = workload -> W_CONNS W_DEPTH W_PATH W_LABEL
  case $1 in
    plaintext-64)  W_CONNS=64;  W_DEPTH=1; W_PATH=/plaintext ;;
    plaintext-256) W_CONNS=256; W_DEPTH=1; W_PATH=/plaintext ;;
    pipelined-64)  W_CONNS=64;  W_DEPTH=$PIPELINE_DEPTH; W_PATH=/plaintext ;;
    pipelined-256) W_CONNS=256; W_DEPTH=$PIPELINE_DEPTH; W_PATH=/plaintext ;;
    static-4k)     W_CONNS=$STATIC_CONNECTIONS; W_DEPTH=1; W_PATH=/file-4k.bin ;;
    static-1m)     W_CONNS=$STATIC_CONNECTIONS; W_DEPTH=1; W_PATH=/file-1m.bin ;;
  esac
  W_LABEL="$W_PATH, $W_CONNS conn"
  (( W_DEPTH > 1 )) && W_LABEL+=", depth $W_DEPTH"
}

# ---------------------------------------------------------------- one measured run
# Workload $1, server $2, round $3: appends to $RES/<workload>.<server>.{rps,cpu,busy} or,
# when flagged, to .err (and .fail when FAILED); one line per run to $RES/runs.
run_one() {
  local w=$1 idx=$2 round=$3 name=${NAMES[$2]} key=$RES/$1.$2
  local t0 t1 w0 w1 line note=""
  workload_params "$w"
  if ! start_server "$idx"; then
    log "round $round: $w: $name: FAILED: $FAIL_WHY"
    echo "$round FAILED: $FAIL_WHY" >> "$key.fail"
    return
  fi
  if ! check_responses; then
    stop_server
    log "round $round: $w: $name: FAILED: $FAIL_WHY"
    echo "$round FAILED: $FAIL_WHY" >> "$key.fail"
    return
  fi
  (( WARMUP > 0 )) && run_wrk "$W_CONNS" "$W_DEPTH" "$W_PATH" "$WARMUP"
  read_tree_ticks "$SERVER_PID"; t0=$TICKS; w0=$EPOCHREALTIME
  run_wrk "$W_CONNS" "$W_DEPTH" "$W_PATH" "$MEASURE_SECONDS"
  local status=$?
  read_tree_ticks "$SERVER_PID"; t1=$TICKS; w1=$EPOCHREALTIME
  local died=0
  alive "$SERVER_PID" || died=1
  stop_server
  [[ $STOP_HOW == killed ]] && note=" (server ignored SIGTERM, killed)"
  line=$(grep '^WRKRESULT' "$WRK_OUT" | tail -n 1)
  if (( died )) || [[ -z $line || -z $t0 || -z $t1 ]] || (( status != 0 )); then
    local why="wrk status $status"
    (( died )) && why="the server died during the run"
    log "round $round: $w: $name: FAILED: $why$note"
    sed 's/^/    wrk: /' "$WRK_OUT" | tail -n 3 >&2
    sed 's/^/    server: /' "$TMP/server.log" | tail -n 3 >&2
    echo "$round FAILED: $why" >> "$key.fail"
    return
  fi
  local req dur non2xx sockerr
  req=$(field requests "$line"); dur=$(field duration_us "$line"); non2xx=$(field status "$line")
  sockerr="connect $(field connect "$line"), read $(field read "$line"), write $(field write "$line"), timeout $(field timeout "$line")"
  local nerr=$(( non2xx + $(field connect "$line") + $(field read "$line") + $(field write "$line") + $(field timeout "$line") ))
  if (( req == 0 )); then
    log "round $round: $w: $name: FAILED: no request completed"
    echo "$round FAILED: no request completed" >> "$key.fail"
    return
  fi
  local rps cpu busy
  rps=$(awk -v r="$req" -v d="$dur" 'BEGIN { printf "%.0f", r / (d / 1e6) }')
  cpu=$(awk -v t=$(( t1 - t0 )) -v hz="$CLK_TCK" -v r="$req" 'BEGIN { printf "%.2f", t * 1e6 / hz / r }')
  busy=$(awk -v t=$(( t1 - t0 )) -v hz="$CLK_TCK" -v a="$w0" -v b="$w1" 'BEGIN { printf "%.0f", 100 * t / hz / (b - a) }')
  local msg="round $round: $w: $name (port $PORT): $rps req/s, $cpu server CPU-us/req (server busy $busy%)"
  if (( nerr > 0 )); then
    log "$msg: FLAGGED: non-2xx $non2xx, socket errors $sockerr$note"
    echo "$round: $rps req/s, $cpu CPU-us/req; non-2xx $non2xx, socket errors $sockerr" >> "$key.err"
    echo "$w,${NAMES[$idx]},$round,$rps,$cpu,$busy,$req,$non2xx,$nerr,flagged" >> "$RES/runs"
    return
  fi
  log "$msg$note"
  echo "$rps" >> "$key.rps"; echo "$cpu" >> "$key.cpu"; echo "$busy" >> "$key.busy"
  echo "$w,${NAMES[$idx]},$round,$rps,$cpu,$busy,$req,0,0,ok" >> "$RES/runs"
}

# ---------------------------------------------------------------- idle connections
# Writes line $2 to the client's stdin (fd $1), SIGPIPE ignored for the write only: a client
# that has exited must not kill this script, and no process started later may inherit the
# ignore.  (Not in a subshell: bash closes a coprocess's fds in subshells.)
tell_client() {
  [[ -n $1 ]] || return 1
  trap '' PIPE
  { echo "$2" >&"$1"; } 2> /dev/null
  trap - PIPE
}

# Server $1, round $2: appends bytes per idle connection to $RES/idle.<server>.bpc, RSS
# before / after (KiB) to .before / .after, connections the server closed to .closed.
idle_one() {
  local idx=$1 round=$2 name=${NAMES[$1]} key=$RES/idle.$1 line before after
  if ! start_server "$idx"; then
    log "round $round: idle: $name: FAILED: $FAIL_WHY"; echo "$round FAILED: $FAIL_WHY" >> "$key.fail"; return
  fi
  if ! check_responses; then
    stop_server
    log "round $round: idle: $name: FAILED: $FAIL_WHY"; echo "$round FAILED: $FAIL_WHY" >> "$key.fail"; return
  fi
  # Warm the server (allocator, caches, lazily built state) so that the delta is the
  # connections' own memory.
  run_wrk 64 1 /plaintext 1
  sleep 0.5
  read_tree_rss "$SERVER_PID"; before=$RSS_KIB
  local hold=$(( IDLE_TIMEOUT + 30 ))
  coproc IDLE { exec timeout -k 2 $(( IDLE_TIMEOUT + hold + 10 )) taskset -c "$CLIENT_CPU" \
      "$PYTHON" "$IDLE_CLIENT" hold --host "$HOST" --port "$PORT" --connections "$IDLE_CONNECTIONS" \
      --timeout "$IDLE_TIMEOUT" --hold "$hold" 2> "$TMP/idle.err"; }
  CLIENT_PID=$IDLE_PID
  local out_fd=${IDLE[0]:-} in_fd=${IDLE[1]:-} ready="" check="" why=""
  [[ -n $out_fd ]] && IFS= read -r -t $(( IDLE_TIMEOUT + 5 )) -u "$out_fd" ready
  if [[ $ready == READY* ]]; then
    sleep 0.5                                    # let the server finish with the last ones
    read_tree_rss "$SERVER_PID"; after=$RSS_KIB
    tell_client "$in_fd" CHECK
    IFS= read -r -t 30 -u "$out_fd" check
    alive "$SERVER_PID" || why="the server died"
  else
    why="idle client: ${ready:-no answer in $(( IDLE_TIMEOUT + 5 )) s} $(head -c 200 "$TMP/idle.err")"
  fi
  tell_client "$in_fd" CLOSE
  [[ -n $in_fd ]] && { exec {in_fd}>&-; } 2> /dev/null
  [[ -n $out_fd ]] && { exec {out_fd}<&-; } 2> /dev/null
  local i
  for (( i = 0; i < 200; i++ )); do alive "$CLIENT_PID" || break; sleep 0.05; done
  kill -KILL "$CLIENT_PID" 2> /dev/null
  wait "$CLIENT_PID" 2> /dev/null
  CLIENT_PID=""
  stop_server
  if [[ -n $why || -z $before || -z $after ]]; then
    log "round $round: idle: $name: FAILED: ${why:-no RSS}"
    echo "$round FAILED: ${why:-no RSS}" >> "$key.fail"
    return
  fi
  local bpc closed
  bpc=$(awk -v a="$after" -v b="$before" -v n="$IDLE_CONNECTIONS" 'BEGIN { printf "%.0f", (a - b) * 1024 / n }')
  closed=$(sed -n 's/.*closed=\([0-9]*\).*/\1/p' <<< "$check")
  log "round $round: idle: $name (port $PORT): RSS $before -> $after KiB for $IDLE_CONNECTIONS connections: $bpc B/conn; ${check:-CHECK: no answer}"
  echo "$bpc" >> "$key.bpc"; echo "$before" >> "$key.before"; echo "$after" >> "$key.after"
  echo "${closed:-?}" >> "$key.closed"
  echo "idle-$IDLE_CONNECTIONS,$name,$round,$bpc,$before,$after,${closed:-?}" >> "$RES/idle_runs"
}

# ---------------------------------------------------------------- callgrind
# Instructions (Ir) of one valgrind run of server $1 answering $2 requests at depth $3 -> IR.
cg_fail() {  # server $1, depth $2, why $3
  log "callgrind: ${NAMES[$1]}, depth $2: FAILED: $3"
  echo "depth $2: FAILED: $3" >> "$RES/callgrind.$1.fail"
}
callgrind_run() {
  local idx=$1 n=$2 depth=$3 pid started=0
  IR=""
  rm -f "$TMP"/cg.out.*
  # --trace-children: TERN_HTTPD may be a wrapper script that execs the server (the pid
  # stays); h2o's crash-handler helper (perl) is not profiled.
  UNDER_VALGRIND=1
  start_server "$idx" "valgrind --tool=callgrind --trace-children=yes --trace-children-skip=*perl* --callgrind-out-file=$TMP/cg.out.%p" && started=1
  UNDER_VALGRIND=0
  if (( ! started )); then
    cg_fail "$idx" "$depth" "$FAIL_WHY"; return 1
  fi
  pid=$SERVER_PID
  timeout -k 2 300 taskset -c "$CLIENT_CPU" "$PYTHON" "$IDLE_CLIENT" count --host "$HOST" --port "$PORT" \
    --connections 16 --requests "$n" --depth "$depth" --timeout 280 > "$TMP/count.out" 2>&1 &
  CLIENT_PID=$!
  wait "$CLIENT_PID"; local status=$?
  CLIENT_PID=""
  stop_server 60
  if (( status != 0 )); then
    cg_fail "$idx" "$depth" "count client: $(head -c 200 "$TMP/count.out" | tr '\n' ' ')"; return 1
  fi
  if [[ $STOP_HOW == killed ]]; then
    cg_fail "$idx" "$depth" "the server did not exit on SIGTERM within 60 s (no profile)"; return 1
  fi
  # The server's own total: valgrind's "==PID== Collected : N" line, else its profile's.
  IR=$(sed -n "s/^==$pid== Collected : \([0-9]*\).*/\1/p" "$TMP/server.log" | tail -n 1)
  if [[ -z $IR && -f $TMP/cg.out.$pid ]]; then
    IR=$(sed -n 's/^\(summary\|totals\): *\([0-9]*\).*/\2/p' "$TMP/cg.out.$pid" | tail -n 1)
  fi
  [[ -n $IR ]] || { cg_fail "$idx" "$depth" "no instruction count in valgrind's output"; return 1; }
}

# ---------------------------------------------------------------- main
RES=$TMP/res; mkdir -p "$RES"
: > "$RES/runs"; : > "$RES/idle_runs"
n_work=0; for w in $WORKLOADS; do (( ++n_work )); done
n_srv=${#NAMES[@]}
est=$(( ROUNDS * n_srv * (n_work * (MEASURE_SECONDS + WARMUP + 1) + ((IDLE_CONNECTIONS > 0) ? 6 + IDLE_CONNECTIONS / 2000 : 0)) ))
n_cg=0
for (( s = 0; s < n_srv; s++ )); do [[ ${KINDS[$s]} == tern ]] || (( CALLGRIND_PEERS )) && (( ++n_cg )); done
(( CALLGRIND )) && (( est += n_cg * 4 * 20 ))
plan="$n_srv servers x $n_work workloads x $ROUNDS rounds of ${WARMUP} s warm-up + ${MEASURE_SECONDS} s"
(( IDLE_CONNECTIONS > 0 )) && plan+=", $IDLE_CONNECTIONS idle connections per server and round"
(( CALLGRIND )) && plan+=", callgrind for $n_cg servers"
log "run_http.sh: $plan: about $(( est / 60 )) min $(( est % 60 )) s"
log "servers on CPU $SERVER_CPU, wrk on CPU $CLIENT_CPU; fd limit $NOFILE; files in $WWW"
START_DATE=$(date -u '+%Y-%m-%d %H:%M:%S UTC')

for (( r = 1; r <= ROUNDS; r++ )); do
  for w in $WORKLOADS; do
    for (( s = 0; s < n_srv; s++ )); do
      run_one "$w" "$s" "$r"
    done
  done
  if (( IDLE_CONNECTIONS > 0 )); then
    for (( s = 0; s < n_srv; s++ )); do
      idle_one "$s" "$r"
    done
  fi
done

declare -A CG
if (( CALLGRIND )); then
  for (( s = 0; s < n_srv; s++ )); do
    [[ ${KINDS[$s]} == tern ]] || (( CALLGRIND_PEERS )) || continue
    for depth in 1 "$PIPELINE_DEPTH"; do
      if callgrind_run "$s" "$CALLGRIND_BASE" "$depth"; then
        base=$IR
        if callgrind_run "$s" $(( CALLGRIND_BASE + CALLGRIND_REQUESTS )) "$depth"; then
          CG[$s.$depth]=$(awk -v a="$IR" -v b="$base" -v n="$CALLGRIND_REQUESTS" 'BEGIN { printf "%.0f", (a - b) / n }')
          log "callgrind: ${NAMES[$s]}, depth $depth: ${CG[$s.$depth]} instructions per request ($base Ir for $CALLGRIND_BASE requests, $IR for $(( CALLGRIND_BASE + CALLGRIND_REQUESTS )))"
        fi
      fi
    done
  done
fi

# ---------------------------------------------------------------- report
stats() {  # file -> "median min max" (nothing when the file is missing or empty)
  [[ -s $1 ]] || return 1
  sort -g "$1" | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; print m, v[1], v[NR] }'
}
ratio() {  # $1 / $2, two decimals; "–" when either is missing or $2 is zero
  awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b != "" && b + 0 > 0) printf "%.2f", a / b; else print "–" }'
}
fmt() { awk -v v="$1" -v d="$2" 'BEGIN { if (v == "") print "–"; else printf "%.*f", d, v }'; }
range() {  # $1 = min, $2 = max, $3 = decimals -> "min–max", or "–"
  if [[ -z $1 ]]; then echo "–"; else echo "$(fmt "$1" "$3")–$(fmt "$2" "$3")"; fi
}
count_lines() { [[ -f $1 ]] && wc -l < "$1" || echo 0; }

OVERALL=0
REPORT=$TMP/report.md
CSV=$TMP/report.csv
echo "workload,server,metric,unit,runs,flagged_or_failed,median,min,max,ratio_to_nginx,ratio_to_h2o" > "$CSV"
csv() { echo "$1,$2,$3,$4,$5,$6,$7,$8,$9,${10/–/},${11/–/}" >> "$CSV"; }

args_line="ROUNDS=$ROUNDS SECONDS=$MEASURE_SECONDS WARMUP=$WARMUP"
[[ $WORKLOADS != "$ALL_WORKLOADS" ]] && args_line+=" WORKLOADS=\"$WORKLOADS\""
args_line+=" BACKENDS=\"$BACKENDS\" PEERS=\"$PEERS\" IDLE_CONNECTIONS=$IDLE_CONNECTIONS CALLGRIND=$CALLGRIND"
(( CALLGRIND && CALLGRIND_PEERS )) && args_line+=" CALLGRIND_PEERS=1"
[[ -n $TERN_HTTPD_ARGS ]] && args_line+=" TERN_HTTPD_ARGS=\"$TERN_HTTPD_ARGS\""
[[ $H2O_PLAINTEXT != file ]] && args_line+=" H2O_PLAINTEXT=$H2O_PLAINTEXT"
(( PIPELINE_DEPTH != 16 )) && args_line+=" PIPELINE_DEPTH=$PIPELINE_DEPTH"
(( STATIC_CONNECTIONS != 64 )) && args_line+=" STATIC_CONNECTIONS=$STATIC_CONNECTIONS"
[[ -n ${BACKENDS// /} ]] && args_line+=" TERN_HTTPD=${TERN_HTTPD#"$ROOT"/}"
{
  echo "## HTTP/1.1: tern-httpd, nginx and h2o"
  echo
  echo "- command: \`$args_line bench/run_http.sh\`"
  echo "- date: $START_DATE; kernel: $(uname -srm); CPU: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1) ($(nproc) online); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- servers, each pinned with \`taskset -c $SERVER_CPU\`, one worker / thread:"
  [[ -n ${BACKENDS// /} ]] && echo "  - \`$TERN_HTTPD --host $HOST --port PORT --root WWW --backend B${TERN_HTTPD_ARGS:+ $TERN_HTTPD_ARGS}\` for B in $BACKENDS"
  [[ " $PEERS " == *" nginx "* ]] && echo "  - $("$NGINX" -v 2>&1 | sed 's/.*version: //'): \`nginx -p DIR -c DIR/nginx.conf -e stderr -g 'daemon off;'\` with bench/http/nginx.conf (one worker; /plaintext: \`return 200 \"Hello, World!\"\`)"
  [[ " $PEERS " == *" h2o "* ]] && echo "  - $("$H2O" --version 2>&1 | head -n 1): \`h2o -c DIR/h2o.conf\` with bench/http/h2o.conf (num-threads 1; /plaintext: $( [[ $H2O_PLAINTEXT == file ]] && echo 'the 13-byte static file plaintext.txt via file.file' || echo 'an mruby handler'))"
  echo "- client: \`taskset -c $CLIENT_CPU wrk -t1 -cC -d${MEASURE_SECONDS}s --timeout 2s -s bench/http/wrk.lua http://$HOST:PORT/PATH -- depth=D\` ($("$WRK" -v 2>&1 | head -n 1 | awk '{print $1, $2}')), after a ${WARMUP} s warm-up of the same; a fresh server per run"
  echo "- median of $ROUNDS interleaved rounds (min–max); server CPU = utime+stime of the server process tree from /proc/PID/stat (CLK_TCK=$CLK_TCK) from just before wrk starts to just after it ends, over the requests wrk completed; \"busy\" = that CPU time over the wall time (below ~95%: the server was not the bottleneck)"
  echo "- ratios: req/s ÷ peer (above 1: more requests than the peer); for CPU and memory, peer ÷ this (above 1: this one is cheaper than the peer). Runs with non-2xx responses or socket errors are flagged below and left out of the medians"
  echo
  if [[ -n ${WORKLOADS// /} ]]; then
    echo "### Throughput and server CPU per request"
    echo
    echo "| workload | server | req/s | min–max | ÷ nginx | ÷ h2o | CPU-µs/req | min–max | nginx ÷ this | h2o ÷ this | busy | runs |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    for w in $WORKLOADS; do
      workload_params "$w"
      ng_rps=""; h2_rps=""; ng_cpu=""; h2_cpu=""
      (( NGINX_IDX >= 0 )) && { read -r ng_rps _ _ < <(stats "$RES/$w.$NGINX_IDX.rps"); read -r ng_cpu _ _ < <(stats "$RES/$w.$NGINX_IDX.cpu"); }
      (( H2O_IDX >= 0 )) && { read -r h2_rps _ _ < <(stats "$RES/$w.$H2O_IDX.rps"); read -r h2_cpu _ _ < <(stats "$RES/$w.$H2O_IDX.cpu"); }
      for (( s = 0; s < n_srv; s++ )); do
        key=$RES/$w.$s
        nok=$(count_lines "$key.rps"); nerr=$(count_lines "$key.err"); nfail=$(count_lines "$key.fail")
        runs="$nok/$ROUNDS ok"
        (( nerr )) && runs+=", $nerr with errors"
        (( nfail )) && runs+=", $nfail FAILED"
        (( nerr + nfail )) && OVERALL=1
        rps=""; rmin=""; rmax=""; cpu=""; cmin=""; cmax=""; busy=""
        read -r rps rmin rmax < <(stats "$key.rps")
        read -r cpu cmin cmax < <(stats "$key.cpu")
        read -r busy _ _ < <(stats "$key.busy")
        r_ng=$(ratio "$rps" "$ng_rps"); r_h2=$(ratio "$rps" "$h2_rps")
        c_ng=$(ratio "$ng_cpu" "$cpu"); c_h2=$(ratio "$h2_cpu" "$cpu")
        printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
          "$w ($W_LABEL)" "${NAMES[$s]}" "$(fmt "$rps" 0)" "$(range "$rmin" "$rmax" 0)" "$r_ng" "$r_h2" \
          "$(fmt "$cpu" 2)" "$(range "$cmin" "$cmax" 2)" "$c_ng" "$c_h2" "$(if [[ -n $busy ]]; then echo "$(fmt "$busy" 0)%"; else echo –; fi)" "$runs"
        csv "$w" "${NAMES[$s]}" rps req/s "$nok" $(( nerr + nfail )) "$rps" "$rmin" "$rmax" "$r_ng" "$r_h2"
        csv "$w" "${NAMES[$s]}" server_cpu_per_req us "$nok" $(( nerr + nfail )) "$cpu" "$cmin" "$cmax" "$c_ng" "$c_h2"
      done
    done
    echo
  fi
  if (( IDLE_CONNECTIONS > 0 )); then
    echo "### Memory per idle keep-alive connection ($IDLE_CONNECTIONS connections, one GET /plaintext each)"
    echo
    echo "Server VmRSS (process tree) after a 1 s wrk warm-up, then with the connections open and idle (bench/http_idle_client.py, \`taskset -c $CLIENT_CPU\`); bytes per connection = delta / $IDLE_CONNECTIONS. Kernel socket memory is not in RSS."
    echo
    echo "| server | RSS before (KiB) | RSS after (KiB) | B/conn | min–max | nginx ÷ this | h2o ÷ this | closed by server | runs |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---|"
    ng_b=""; h2_b=""
    (( NGINX_IDX >= 0 )) && read -r ng_b _ _ < <(stats "$RES/idle.$NGINX_IDX.bpc")
    (( H2O_IDX >= 0 )) && read -r h2_b _ _ < <(stats "$RES/idle.$H2O_IDX.bpc")
    for (( s = 0; s < n_srv; s++ )); do
      key=$RES/idle.$s
      nok=$(count_lines "$key.bpc"); nfail=$(count_lines "$key.fail")
      runs="$nok/$ROUNDS ok"; (( nfail )) && { runs+=", $nfail FAILED"; OVERALL=1; }
      b=""; bmin=""; bmax=""; before=""; after=""; closed=""
      read -r b bmin bmax < <(stats "$key.bpc")
      read -r before _ _ < <(stats "$key.before")
      read -r after _ _ < <(stats "$key.after")
      [[ -s $key.closed ]] && closed=$(paste -sd/ "$key.closed")
      r_ng=$(ratio "$ng_b" "$b"); r_h2=$(ratio "$h2_b" "$b")
      printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "${NAMES[$s]}" "$(fmt "$before" 0)" "$(fmt "$after" 0)" \
        "$(fmt "$b" 0)" "$(range "$bmin" "$bmax" 0)" "$r_ng" "$r_h2" "${closed:-–}" "$runs"
      csv "idle-$IDLE_CONNECTIONS" "${NAMES[$s]}" rss_per_idle_conn bytes "$nok" "$nfail" "$b" "$bmin" "$bmax" "$r_ng" "$r_h2"
    done
    echo
  fi
  if (( CALLGRIND )); then
    echo "### Instructions per request under callgrind"
    echo
    echo "\`valgrind --tool=callgrind\` on the server (pinned to CPU $SERVER_CPU$( (( CALLGRIND_PEERS )) && echo '; nginx with master_process off')), bench/http_idle_client.py count with 16 keep-alive connections: (Ir of $(( CALLGRIND_BASE + CALLGRIND_REQUESTS )) requests − Ir of $CALLGRIND_BASE) / $CALLGRIND_REQUESTS, so start-up and shutdown cancel. User-space instructions only: the kernel's work (system calls) is not counted. Ratios: peer ÷ this (above 1: fewer instructions than the peer)."
    echo
    echo "| server | Ir/req, /plaintext | nginx ÷ this | h2o ÷ this | Ir/req, depth $PIPELINE_DEPTH | nginx ÷ this | h2o ÷ this |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    for (( s = 0; s < n_srv; s++ )); do
      [[ ${KINDS[$s]} == tern ]] || (( CALLGRIND_PEERS )) || continue
      row="| ${NAMES[$s]}"
      for depth in 1 "$PIPELINE_DEPTH"; do
        a=${CG[$s.$depth]:-}
        [[ -z $a ]] && OVERALL=1
        r_ng=$(ratio "${CG[$NGINX_IDX.$depth]:-}" "$a"); r_h2=$(ratio "${CG[$H2O_IDX.$depth]:-}" "$a")
        row+=" | ${a:-FAILED} | $r_ng | $r_h2"
        csv "callgrind-depth$depth" "${NAMES[$s]}" instructions_per_req Ir "$( [[ -n $a ]] && echo 1 || echo 0)" \
            "$( [[ -n $a ]] && echo 0 || echo 1)" "$a" "$a" "$a" "$r_ng" "$r_h2"
      done
      echo "$row |"
    done
    echo
  fi
  # Everything that was flagged or failed, and every run's figures.
  flagged=$(cd "$RES" && for f in *.err *.fail; do
              [[ -f $f ]] || continue
              base=${f%.*}; w=${base%.*}; s=${base##*.}
              if [[ $w == callgrind ]]; then prefix="- $w, ${NAMES[$s]}, "; else prefix="- $w, ${NAMES[$s]}, round "; fi
              sed "s|^|$prefix|" "$f"
            done)
  if [[ -n $flagged ]]; then
    echo "### Flagged and failed runs (not in the medians)"
    echo
    echo "$flagged"
    echo
  fi
  if [[ -s $RES/runs || -s $RES/idle_runs ]]; then
    echo "### Every run"
    echo
    echo "workload, server, round: req/s, CPU-µs/req, busy"
    echo
    echo '```'
    sort -t, -k1,1 -k3,3n "$RES/runs" | awk -F, '{ printf "%-14s %-26s r%s  %9s req/s  %7s us/req  %4s%%%s\n", $1, $2, $3, $4, $5, $6, ($10 == "flagged") ? "  FLAGGED" : "" }'
    awk -F, '{ printf "%-14s %-26s r%s  %6s B/conn  RSS %s -> %s KiB, closed by server: %s\n", $1, $2, $3, $4, $5, $6, $7 }' "$RES/idle_runs"
    echo '```'
  fi
} > "$REPORT"

mkdir -p "$(dirname "$OUT_MD")" "$(dirname "$OUT_CSV")"
if ! cp "$REPORT" "$OUT_MD" || ! cp "$CSV" "$OUT_CSV"; then
  log "run_http.sh: could not write $OUT_MD / $OUT_CSV"
fi
cat "$REPORT"
log "run_http.sh: wrote $OUT_MD and $OUT_CSV"
exit "$OVERALL"
