#!/usr/bin/env bash
# run_patterns.sh: request/response throughput and latency of tern-echo's concurrency
# models and event handling patterns (single loop, N loops, half-sync/half-async,
# leader/followers; Reactor, Proactor, Proactor emulated on readiness), each under a
# matrix of per-request CPU work and connection counts, all measured by the same client
# (bench/rr_client.cc: newline-framed requests of SIZE bytes, DEPTH outstanding per
# connection, every response checked byte for byte).  Writes a CSV (one row per
# configuration and cell) and prints markdown tables on stdout; progress on stderr.
# bench/plot_patterns.py draws the CSV.
#
# Every server is started as
#   tern-echo --host 127.0.0.1 --port P --codec line --work-us U <config flags>
# and is ready when it prints a line matching ^tern-echo: listening on  (within 5 s).  If
# that line says "(backend X, ..." and X is not the --backend asked for (io_uring falling
# back to epoll), or "pattern Y" and Y is not the --pattern asked for, the run is FAILED.  Each step is bounded in time (server start 5 s,
# client connect 10 s + warm-up + measured + 1 s drain + slack, server exit 5 s after
# SIGTERM, then SIGKILL), every process started is killed and reaped, loopback only.
# A server that does not start, dies, or whose client fails (connect failure, any
# mismatched response or reset, no request completed) is reported FAILED: in the tables,
# and in the CSV with rps/p50_us/p99_us/server_cpu_us_per_req = FAILED.
#
# CPUs (the reference machine has 2): the client always runs pinned to CLIENT_CPU [1].
# With PIN=auto [default], a server whose --threads and --workers are both <= 1 (the
# single-loop configs, and every T=1 config) is pinned to SERVER_CPU [0], so server and
# client each own one CPU; a server with more threads (T=2) is NOT pinned: it may use
# both CPUs, including the client's, so its figures include that contention.  The
# tables say which ("server CPUs" column).  PIN=always pins every server to SERVER_CPU,
# PIN=never pins none.
#
# Server CPU per request: utime+stime of the server process (all its threads) from
# /proc/PID/stat, sampled when the client prints "mark start" / "mark end" (the bounds
# of its measured interval), divided by the requests completed in that interval
# (resolution 1/CLK_TCK s, so about 1% of a 2 s interval).
#
# Environment (defaults in brackets):
#   BUILD [<repo>/build]  TERN_ECHO [$BUILD/apps/tern-echo]  CLIENT [$BUILD/bench/rr_client]
#   OUT_CSV [<repo>/bench/results/patterns.csv]
#   THREADS_LIST ["1 2"]  WORK_US_LIST ["0 10 100"]  CONNECTIONS_LIST ["10 100 1000"]
#   SECONDS [2]  WARMUP [1]  ROUNDS [1] (rounds are interleaved within a cell; medians)
#   SIZE [64] (request bytes, '\n' included)  DEPTH [1] (requests outstanding per connection)
#   PIN [auto]  SERVER_CPU [0]  CLIENT_CPU [1]  PORT_BASE [19500]
#   CONFIGS: whitespace-separated entries  name:flag,value,flag,value...  The flags (commas
#     become argument separators) are appended to tern-echo's command line.  An entry
#     containing {T} is run once per T in THREADS_LIST, with {T} replaced by T and "-T<T>"
#     appended to its name; an entry without {T} is run once.  Default:
#       single-epoll-emulated:--model,single,--backend,epoll,--pattern,emulated,--threads,1
#       single-uring-proactor:--model,single,--backend,uring,--pattern,proactor,--threads,1
#       single-epoll-reactor:--model,single,--backend,epoll,--pattern,reactor,--threads,1
#       loops-epoll-emulated:--model,loops,--backend,epoll,--pattern,emulated,--threads,{T}
#       hsha-epoll-emulated:--model,hsha,--backend,epoll,--pattern,emulated,--threads,1,--workers,{T}
#       hsha-uring-proactor:--model,hsha,--backend,uring,--pattern,proactor,--threads,1,--workers,{T}
#       hsha-epoll-reactor:--model,hsha,--backend,epoll,--pattern,reactor,--threads,1,--workers,{T}
#       lf-epoll-reactor:--model,lf,--backend,epoll,--pattern,reactor,--threads,{T}
#
# The default matrix is 13 servers x 3 work_us x 3 connection counts = 117 runs of about
# 3.5 s: about 7 minutes (the estimate is printed first).
#
# Examples: bench/run_patterns.sh > patterns.md && python3 bench/plot_patterns.py
#           SECONDS=1 WORK_US_LIST=10 CONNECTIONS_LIST=100 THREADS_LIST=2 bench/run_patterns.sh
set -uo pipefail

# SECONDS is special in bash (it counts up from its initial value), so take the value
# this script was started with from its original environment, not from $SECONDS.
MEASURE_SECONDS=$(tr '\0' '\n' < /proc/$$/environ | sed -n 's/^SECONDS=//p' | tail -n 1)
MEASURE_SECONDS=${MEASURE_SECONDS:-2}
START_EPOCH=$EPOCHSECONDS

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib/processes.sh
source "$ROOT/bench/lib/processes.sh"
BUILD=${BUILD:-$ROOT/build}
TERN_ECHO=${TERN_ECHO:-$BUILD/apps/tern-echo}
CLIENT=${CLIENT:-$BUILD/bench/rr_client}
OUT_CSV=${OUT_CSV:-$ROOT/bench/results/patterns.csv}
THREADS_LIST=${THREADS_LIST:-1 2}
WORK_US_LIST=${WORK_US_LIST:-0 10 100}
CONNECTIONS_LIST=${CONNECTIONS_LIST:-10 100 1000}
WARMUP=${WARMUP:-1}
ROUNDS=${ROUNDS:-1}
SIZE=${SIZE:-64}
DEPTH=${DEPTH:-1}
PIN=${PIN:-auto}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
PORT_BASE=${PORT_BASE:-19500}
DEFAULT_CONFIGS="
single-epoll-emulated:--model,single,--backend,epoll,--pattern,emulated,--threads,1
single-uring-proactor:--model,single,--backend,uring,--pattern,proactor,--threads,1
single-epoll-reactor:--model,single,--backend,epoll,--pattern,reactor,--threads,1
loops-epoll-emulated:--model,loops,--backend,epoll,--pattern,emulated,--threads,{T}
hsha-epoll-emulated:--model,hsha,--backend,epoll,--pattern,emulated,--threads,1,--workers,{T}
hsha-uring-proactor:--model,hsha,--backend,uring,--pattern,proactor,--threads,1,--workers,{T}
hsha-epoll-reactor:--model,hsha,--backend,epoll,--pattern,reactor,--threads,1,--workers,{T}
lf-epoll-reactor:--model,lf,--backend,epoll,--pattern,reactor,--threads,{T}"
CONFIGS=${CONFIGS:-$DEFAULT_CONFIGS}
HOST=127.0.0.1      # loopback only
START_TIMEOUT=5     # seconds a server gets to print its banner
STOP_TIMEOUT=5      # seconds a server gets to exit after SIGTERM
BANNER_RE='^tern-echo: listening on'
RUN_OVERHEAD=0.6    # seconds per run beyond warm-up + measured (start, connect, drain, stop): for the estimate

die() { echo "run_patterns.sh: $*" >&2; exit 2; }
log() { echo "$*" >&2; }
is_number() { [[ $1 =~ ^[0-9]+([.][0-9]+)?$ ]]; }

for v in ROUNDS PORT_BASE SERVER_CPU CLIENT_CPU SIZE DEPTH; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer (got '${!v}')"
done
is_number "$MEASURE_SECONDS" || die "SECONDS must be a number (got '$MEASURE_SECONDS')"
is_number "$WARMUP" || die "WARMUP must be a number (got '$WARMUP')"
(( ROUNDS >= 1 && SIZE >= 1 && DEPTH >= 1 )) || die "ROUNDS, SIZE and DEPTH must be >= 1"
[[ $PIN == auto || $PIN == always || $PIN == never ]] || die "PIN must be auto, always or never (got '$PIN')"
[[ -n ${THREADS_LIST// /} && -n ${WORK_US_LIST// /} && -n ${CONNECTIONS_LIST// /} ]] ||
  die "THREADS_LIST, WORK_US_LIST and CONNECTIONS_LIST must not be empty"
max_conns=0
for c in $CONNECTIONS_LIST; do
  [[ $c =~ ^[1-9][0-9]*$ ]] || die "connection counts must be positive integers (got '$c')"
  (( c > max_conns )) && max_conns=$c
done
for u in $WORK_US_LIST; do
  [[ $u =~ ^[0-9]+$ ]] || die "work_us values must be non-negative integers (got '$u')"
done
for t in $THREADS_LIST; do
  [[ $t =~ ^[1-9][0-9]*$ ]] || die "THREADS_LIST values must be positive integers (got '$t')"
done
[[ -x $TERN_ECHO ]] || die "tern-echo not found: $TERN_ECHO (build it, or set BUILD / TERN_ECHO)"
[[ -x $CLIENT ]] || die "client not found: $CLIENT (build the rr_client target, or set BUILD / CLIENT)"
command -v taskset > /dev/null || die "taskset (util-linux) is required"
CLK_TCK=$(getconf CLK_TCK) || die "getconf CLK_TCK failed"
ncpu=$(nproc)
(( CLIENT_CPU < ncpu && SERVER_CPU < ncpu )) || die "SERVER_CPU / CLIENT_CPU must be below the $ncpu online CPUs"
need_fds=$(( max_conns + 64 ))
if (( $(ulimit -n) < need_fds )); then
  ulimit -n "$need_fds" 2> /dev/null ||
    die "$max_conns connections need an fd limit of at least $need_fds (ulimit -n is $(ulimit -n))"
fi

# ---------------------------------------------------------------- configurations
# Parallel arrays, one entry per server configuration run in every cell: display name,
# flags (separated by \x1f), model, pattern, backend, threads, workers, pinned (1/0).
NAMES=(); FLAGS=(); MODELS=(); PATTERNS=(); BACKENDS=(); THREADS=(); WORKERS=(); PINNED=()
flag_value() {  # $1 = flags (\x1f-separated), $2 = flag -> the value after its last occurrence
  local -a f
  local i v=""
  IFS=$'\x1f' read -r -a f <<< "$1"
  for (( i = 0; i + 1 < ${#f[@]}; i++ )); do
    [[ ${f[i]} == "$2" ]] && v=${f[i + 1]}
  done
  printf '%s' "$v"
}
add_config() {  # $1 = name, $2 = flags with commas
  local name=$1 flags=${2//,/$'\x1f'} th wk n
  for n in "${NAMES[@]}"; do
    [[ $n == "$name" ]] && die "CONFIGS: duplicate name '$name'"
  done
  th=$(flag_value "$flags" --threads); th=${th:-1}
  wk=$(flag_value "$flags" --workers); wk=${wk:-0}
  [[ $th =~ ^[0-9]+$ && $wk =~ ^[0-9]+$ ]] || die "CONFIGS: $name: --threads / --workers must be integers"
  NAMES+=("$name"); FLAGS+=("$flags")
  MODELS+=("$(flag_value "$flags" --model)"); PATTERNS+=("$(flag_value "$flags" --pattern)")
  BACKENDS+=("$(flag_value "$flags" --backend)"); THREADS+=("$th"); WORKERS+=("$wk")
  case $PIN in
    always) PINNED+=(1) ;;
    never) PINNED+=(0) ;;
    *) (( th <= 1 && wk <= 1 )) && PINNED+=(1) || PINNED+=(0) ;;
  esac
}
for entry in $CONFIGS; do
  [[ $entry =~ ^([A-Za-z0-9_.+-]+):(.+)$ ]] || die "CONFIGS: bad entry '$entry' (want name:flag,value,...)"
  cname=${BASH_REMATCH[1]}; cflags=${BASH_REMATCH[2]}
  [[ $cflags == *[[:space:]\"\']* ]] && die "CONFIGS: $cname: no spaces or quotes in flags"
  if [[ $cflags == *"{T}"* ]]; then
    for t in $THREADS_LIST; do add_config "$cname-T$t" "${cflags//\{T\}/$t}"; done
  else
    add_config "$cname" "$cflags"
  fi
done
(( ${#NAMES[@]} > 0 )) || die "CONFIGS is empty"

# ---------------------------------------------------------------- process hygiene
SERVER_PID=""
CLIENT_PID=""
TMP=$(mktemp -d /tmp/run_patterns.XXXXXX) || die "mktemp failed"


# shellcheck disable=SC2317  # invoked via trap
cleanup() {
  trap - EXIT INT TERM
  [[ -n $CLIENT_PID ]] && { kill -KILL "$CLIENT_PID" 2> /dev/null; wait "$CLIENT_PID" 2> /dev/null; }
  [[ -n $SERVER_PID ]] && stop_pid "$SERVER_PID" 2
  exec 3<&-
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'log "run_patterns.sh: interrupted"; exit 130' INT
trap 'log "run_patterns.sh: terminated"; exit 143' TERM

# ---------------------------------------------------------------- helpers
NEXT_PORT=$PORT_BASE
field() {  # $1 = key, $2 = "k=v k=v ..." line -> v
  sed -n "s/.*\\b$1=\\([0-9.]*\\).*/\\1/p" <<< "$2"
}
server_cpus() {  # $1 = config index
  (( PINNED[$1] )) && echo "$SERVER_CPU" || echo "any"
}

# Upper bound for one client run: connect (rr_client gives up after 10 s) + warm-up +
# measured + 1 s drain + slack, plus 1 s per 100 connections on a loaded machine.
client_budget() {  # $1 = connections
  awk -v w="$WARMUP" -v s="$MEASURE_SECONDS" -v c="$1" 'BEGIN { printf "%d", 10 + w + s + 1 + 5 + int(c / 100) }'
}

# One measurement: config $1, round $2, work_us $3, connections $4.  Appends to the
# cell's files $CELL/{rps,p50,p99,cpu,err,fail}.$1.
run_one() {
  local idx=$1 round=$2 work=$3 conns=$4 name=${NAMES[$1]} line result="" status t_start="" t_end=""
  local deadline i budget why=""
  local -a cmd flags pin=()
  next_free_port
  IFS=$'\x1f' read -r -a flags <<< "${FLAGS[$idx]}"
  cmd=("$TERN_ECHO" --host "$HOST" --port "$PORT" --codec line --work-us "$work" "${flags[@]}")
  (( PINNED[idx] )) && pin=(taskset -c "$SERVER_CPU")

  # Start the server (taskset execs it, so $! is the server either way); wait for its banner.
  # Empty the log first: the child truncates it only once it runs, and until then the
  # previous server's banner would still be there.
  : > "$TMP/server.log"
  "${pin[@]}" "${cmd[@]}" > "$TMP/server.log" 2>&1 &
  SERVER_PID=$!
  for (( i = 0; i < START_TIMEOUT * 20; i++ )); do
    grep -q "$BANNER_RE" "$TMP/server.log" && break
    alive "$SERVER_PID" || break
    sleep 0.05
  done
  if ! grep -q "$BANNER_RE" "$TMP/server.log" || ! alive "$SERVER_PID"; then
    stop_pid "$SERVER_PID" 1
    SERVER_PID=""
    log "round $round: $name: FAILED to start within ${START_TIMEOUT} s (status $STOP_STATUS):"
    log "    ${cmd[*]}"
    sed 's/^/    server: /' "$TMP/server.log" | head -n 5 >&2
    echo "$round" >> "$CELL/fail.$idx"
    return
  fi
  # The banner says "(backend X, ..., pattern Y, ...)": X differs from the --backend asked
  # for when tern-echo fell back (io_uring to epoll), and Y should be the --pattern asked for.
  local banner used used_pattern
  banner=$(grep -m 1 "$BANNER_RE" "$TMP/server.log")
  used=$(sed -n 's/.*(backend \([a-z-]*\)[,)].*/\1/p' <<< "$banner")
  used_pattern=$(sed -n 's/.*[(,] *pattern \([a-z-]*\)[,)].*/\1/p' <<< "$banner")
  if [[ -n $used && -n ${BACKENDS[idx]} && $used != "${BACKENDS[idx]}" ]]; then
    why="tern-echo ran the $used backend, not ${BACKENDS[idx]}"
  elif [[ -n $used_pattern && -n ${PATTERNS[idx]} && $used_pattern != "${PATTERNS[idx]}" ]]; then
    why="tern-echo ran the $used_pattern pattern, not ${PATTERNS[idx]}"
  fi

  # Run the client; read its stdout through a FIFO so that the server's CPU time is
  # sampled right when the measured interval starts and ends.
  if [[ -z $why ]]; then
    rm -f "$TMP/fifo"; mkfifo "$TMP/fifo"
    taskset -c "$CLIENT_CPU" "$CLIENT" --host "$HOST" --port "$PORT" --connections "$conns" \
      --seconds "$MEASURE_SECONDS" --warmup "$WARMUP" --size "$SIZE" --depth "$DEPTH" --mark \
      > "$TMP/fifo" 2> "$TMP/client.err" &
    CLIENT_PID=$!
    exec 3< "$TMP/fifo"
    budget=$(client_budget "$conns")
    deadline=$(( EPOCHSECONDS + budget ))
    while (( EPOCHSECONDS < deadline )) && IFS= read -r -t $(( deadline - EPOCHSECONDS )) -u 3 line; do
      case $line in
        "mark start") read_ticks "$SERVER_PID" && t_start=$TICKS ;;
        "mark end")   read_ticks "$SERVER_PID" && t_end=$TICKS ;;
        requests=*)   result=$line ;;
        *)            log "    client: $line" ;;
      esac
    done
    exec 3<&-
    # The client has closed its stdout (or ran out of time): give it 3 s to exit.
    for (( i = 0; i < 60; i++ )); do
      alive "$CLIENT_PID" || break
      sleep 0.05
    done
    if (( i == 60 )); then
      log "round $round: $name: client did not finish within its ${budget} s budget, killing it"
      kill -KILL "$CLIENT_PID" 2> /dev/null
    fi
    wait "$CLIENT_PID"
    status=$?
    CLIENT_PID=""
    local errs
    errs=$(field errors "$result")
    [[ -n $errs ]] && echo "$errs" >> "$CELL/err.$idx"
    if ! alive "$SERVER_PID"; then
      why="server exited during the run"
    elif (( status != 0 )) || [[ -z $result ]]; then
      why="client status $status${errs:+, $errs errors}"
    fi
  fi

  local server_died=""
  alive "$SERVER_PID" || server_died=1
  stop_pid "$SERVER_PID" "$STOP_TIMEOUT"
  SERVER_PID=""
  local server_note=""
  if [[ -n $server_died ]]; then
    server_note=" (server exit status $STOP_STATUS)"
  elif [[ $STOP_HOW == killed ]]; then
    server_note=" (server ignored SIGTERM, killed)"
  elif (( STOP_STATUS != 0 )); then
    server_note=" (server exited with status $STOP_STATUS after SIGTERM)"
  fi
  if [[ -n $why ]]; then
    log "round $round: $name: FAILED: $why$server_note"
    log "    ${cmd[*]}"
    [[ -f $TMP/client.err ]] && sed 's/^/    client: /' "$TMP/client.err" | head -n 5 >&2
    sed 's/^/    server: /' "$TMP/server.log" | grep -v "$BANNER_RE" | head -n 5 >&2
    echo "$round" >> "$CELL/fail.$idx"
    rm -f "$TMP/client.err"
    return
  fi
  rm -f "$TMP/client.err"

  local requests rps p50 p99 cpu="" cpu_txt="server CPU n/a"
  requests=$(field requests "$result"); rps=$(field rps "$result")
  p50=$(field p50_us "$result"); p99=$(field p99_us "$result")
  echo "$rps" >> "$CELL/rps.$idx"; echo "$p50" >> "$CELL/p50.$idx"; echo "$p99" >> "$CELL/p99.$idx"
  if [[ -n $t_start && -n $t_end ]] && (( requests > 0 )); then
    cpu=$(awk -v t=$(( t_end - t_start )) -v hz="$CLK_TCK" -v n="$requests" 'BEGIN { printf "%.2f", t * 1e6 / hz / n }')
    echo "$cpu" >> "$CELL/cpu.$idx"
    cpu_txt="$cpu server CPU-us/req ($(awk -v t=$(( t_end - t_start )) -v hz="$CLK_TCK" -v s="$MEASURE_SECONDS" \
             'BEGIN { printf "%.0f", 100 * t / hz / s }')% of a CPU)"
  fi
  log "round $round: $name (port $PORT, server CPUs $(server_cpus "$idx")): $rps req/s, p50 $p50 us, p99 $p99 us, $cpu_txt$server_note"
}

# ---------------------------------------------------------------- output
OVERALL=0
csv_row() {  # appends the cell's row for config $1 to OUT_CSV
  local s=$1 rps p50 p99 cpu errs=0
  [[ -f $CELL/err.$s ]] && errs=$(awk '{ n += $1 } END { print n + 0 }' "$CELL/err.$s")
  if rps=$(median 2> /dev/null < "$CELL/rps.$s"); then
    p50=$(median < "$CELL/p50.$s"); p99=$(median < "$CELL/p99.$s")
    cpu=$(median 2> /dev/null < "$CELL/cpu.$s") || cpu=""
  else
    rps=FAILED; p50=FAILED; p99=FAILED; cpu=FAILED
  fi
  echo "${NAMES[$s]},${MODELS[$s]},${PATTERNS[$s]},${BACKENDS[$s]},${THREADS[$s]},${WORKERS[$s]},$CELL_WORK,$CELL_CONNS,$rps,$p50,$p99,$cpu,$errs" >> "$OUT_CSV"
}
print_table() {
  local s name nfail rps p50 p99 cpu
  echo "| config | server CPUs | req/s | p50 µs | p99 µs | server CPU-µs/req |"
  echo "|---|---|---:|---:|---:|---:|"
  for (( s = 0; s < ${#NAMES[@]}; s++ )); do
    name=${NAMES[$s]}
    nfail=0
    [[ -f $CELL/fail.$s ]] && nfail=$(wc -l < "$CELL/fail.$s")
    (( nfail > 0 )) && { OVERALL=1; name+=" ($nfail/$ROUNDS runs FAILED)"; }
    if ! rps=$(median 2> /dev/null < "$CELL/rps.$s"); then
      echo "| $name | $(server_cpus "$s") | FAILED | – | – | – |"
      continue
    fi
    p50=$(median < "$CELL/p50.$s"); p99=$(median < "$CELL/p99.$s")
    cpu=$(median 2> /dev/null < "$CELL/cpu.$s") || cpu="n/a"
    printf '| %s | %s | %.0f | %.0f | %.0f | %s |\n' "$name" "$(server_cpus "$s")" "$rps" "$p50" "$p99" "$cpu"
  done
}

ncells=$(( $(wc -w <<< "$WORK_US_LIST") * $(wc -w <<< "$CONNECTIONS_LIST") ))
nruns=$(( ncells * ${#NAMES[@]} * ROUNDS ))
estimate=$(awk -v n="$nruns" -v w="$WARMUP" -v s="$MEASURE_SECONDS" -v o="$RUN_OVERHEAD" \
           'BEGIN { t = n * (w + s + o); printf "%d runs x ~%.1f s = ~%d min %02d s", n, w + s + o, t / 60, t % 60 }')
log "run_patterns.sh: ${#NAMES[@]} configs x $ncells cells x $ROUNDS rounds: estimated $estimate"

mkdir -p "$(dirname "$OUT_CSV")" || die "cannot create the directory of $OUT_CSV"
echo "config,model,pattern,backend,threads,workers,work_us,connections,rps,p50_us,p99_us,server_cpu_us_per_req,errors" > "$OUT_CSV" ||
  die "cannot write $OUT_CSV"

args=""
(( $# > 0 )) && args=$(printf ' %q' "$@")
echo "## Request/response: concurrency models and event handling patterns"
echo
echo "- command: \`SECONDS=$MEASURE_SECONDS WARMUP=$WARMUP ROUNDS=$ROUNDS SIZE=$SIZE DEPTH=$DEPTH" \
     "THREADS_LIST=\"$THREADS_LIST\" WORK_US_LIST=\"$WORK_US_LIST\" CONNECTIONS_LIST=\"$CONNECTIONS_LIST\"" \
     "PIN=$PIN SERVER_CPU=$SERVER_CPU CLIENT_CPU=$CLIENT_CPU $0$args\` (estimated $estimate)"
echo "- server: \`$TERN_ECHO --host $HOST --port PORT --codec line --work-us U <config flags>\`; configs:"
for (( s = 0; s < ${#NAMES[@]}; s++ )); do
  echo "  - ${NAMES[$s]}: \`${FLAGS[$s]//$'\x1f'/ }\` (server CPUs: $(server_cpus "$s"))"
done
echo "- client: \`taskset -c $CLIENT_CPU $CLIENT --connections N --size $SIZE --depth $DEPTH" \
     "--seconds $MEASURE_SECONDS --warmup $WARMUP --mark\`: latency from request write to response line"
echo "- CPUs: client pinned to CPU $CLIENT_CPU; server pinned to CPU $SERVER_CPU when it has at most one I/O thread" \
     "and one worker (PIN=$PIN), otherwise unpinned (\"any\": it shares CPU $CLIENT_CPU with the client)"
echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); kernel: $(uname -srm); CPU: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1) ($ncpu online)"
echo "- median of $ROUNDS interleaved rounds; server CPU from /proc/PID/stat utime+stime (CLK_TCK=$CLK_TCK) over the measured interval; CSV: $OUT_CSV"

for work in $WORK_US_LIST; do
  for conns in $CONNECTIONS_LIST; do
    CELL=$TMP/cell.$work.$conns; CELL_WORK=$work; CELL_CONNS=$conns
    mkdir -p "$CELL"
    log "cell: work_us=$work, $conns connections: ${#NAMES[@]} configs x $ROUNDS rounds"
    for (( r = 1; r <= ROUNDS; r++ )); do
      for (( s = 0; s < ${#NAMES[@]}; s++ )); do
        run_one "$s" "$r" "$work" "$conns"
      done
    done
    for (( s = 0; s < ${#NAMES[@]}; s++ )); do csv_row "$s"; done
    echo
    echo "### work_us=$work × $conns connections"
    echo
    print_table
  done
done
log "run_patterns.sh: done in $(( EPOCHSECONDS - START_EPOCH )) s; CSV: $OUT_CSV"
exit "$OVERALL"
