#!/usr/bin/env bash
# run_pingpong.sh: ping-pong echo throughput of tern-echo (one run per backend) against
# the raw epoll loop (bench/baseline/raw_epoll_echo.c) and, optionally, the raw io_uring
# loop (bench/baseline/raw_uring_echo.c), all measured by the same client
# (bench/pingpong_client.cc).  Prints markdown tables on stdout; progress on stderr.
#
# Every server runs pinned to SERVER_CPU, the client to CLIENT_CPU.  Each server is run
# ROUNDS times, interleaved (round 1: all servers, round 2: all servers, ...), and the
# median is reported.  Server CPU time is read from /proc/PID/stat (utime+stime) exactly
# when the client starts and ends its measured interval (the client's --mark lines).
# Ratios are to the raw epoll loop and, when tern-echo --backend epoll is in the run, to
# it too.  A server that does not start, makes the client fail (errors, no data), or is
# tern-echo falling back to another backend than the one asked for, is FAILED for that
# round; every step is bounded in time, so a broken server cannot hang the script.
#
# Environment (defaults in brackets):
#   BUILD [<repo>/build]   RAW_ECHO [$BUILD/bench/raw_epoll_echo]
#   RAW_URING_ECHO [$BUILD/bench/raw_uring_echo]
#   CLIENT [$BUILD/bench/pingpong_client]   TERN_ECHO [$BUILD/apps/tern-echo]
#   COMPARE_ECHO [none], COMPARE_LABEL [compared]: another tern-echo build (say, the commit a
#     change started from), run for the same backends in the same interleaved rounds
#   BASELINES ["epoll"]: raw loops to run, of "epoll uring" (ratios stay relative to epoll)
#   BACKENDS ["epoll epoll-et poll select"]; set BACKENDS="" to measure the raw loop(s) only
#   CONNECTIONS [100]  BLOCK [16384]  SECONDS [10]  WARMUP [1]  ROUNDS [3]
#   PORT_BASE [19000]  SERVER_CPU [0]  CLIENT_CPU [1]  HOST [127.0.0.1]
#
# Matrix mode (MATRIX=1): one table per (connections, block) cell, rounds interleaved
# within each cell, for every CONNECTIONS in CONNECTIONS_LIST x BLOCK in BLOCKS_LIST:
#   CONNECTIONS_LIST ["10 100 1000"]  BLOCKS_LIST ["512 16384"]
#   BASELINES ["epoll uring"]  BACKENDS ["epoll uring"]
#   EXTRA_BACKENDS_AT_100 ["aio sigio"]: tern-echo backends added in the 100-connection cells
#
# Examples: SECONDS=2 ROUNDS=1 BACKENDS="epoll poll" bench/run_pingpong.sh
#           MATRIX=1 SECONDS=5 ROUNDS=3 bench/run_pingpong.sh > matrix.md
set -uo pipefail

# SECONDS is special in bash (it counts up from its initial value), so take the value
# this script was started with from its original environment, not from $SECONDS.
MEASURE_SECONDS=$(tr '\0' '\n' < /proc/$$/environ | sed -n 's/^SECONDS=//p' | tail -n 1)
MEASURE_SECONDS=${MEASURE_SECONDS:-10}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib/processes.sh
source "$ROOT/bench/lib/processes.sh"
BUILD=${BUILD:-$ROOT/build}
RAW_ECHO=${RAW_ECHO:-$BUILD/bench/raw_epoll_echo}
RAW_URING_ECHO=${RAW_URING_ECHO:-$BUILD/bench/raw_uring_echo}
CLIENT=${CLIENT:-$BUILD/bench/pingpong_client}
TERN_ECHO=${TERN_ECHO:-$BUILD/apps/tern-echo}
COMPARE_ECHO=${COMPARE_ECHO:-}            # optional: a second tern-echo, run beside the first
COMPARE_LABEL=${COMPARE_LABEL:-compared}
MATRIX=${MATRIX:-0}
[[ $MATRIX == 0 || $MATRIX == 1 ]] || { echo "run_pingpong.sh: MATRIX must be 0 or 1" >&2; exit 2; }
if (( MATRIX )); then
  BASELINES=${BASELINES-epoll uring}
  BACKENDS=${BACKENDS-epoll uring}              # note "-": an empty BACKENDS means none
  EXTRA_BACKENDS_AT_100=${EXTRA_BACKENDS_AT_100-aio sigio}
  CONNECTIONS_LIST=${CONNECTIONS_LIST:-10 100 1000}
  BLOCKS_LIST=${BLOCKS_LIST:-512 16384}
else
  BASELINES=${BASELINES-epoll}
  BACKENDS=${BACKENDS-epoll epoll-et poll select}   # note "-": an empty BACKENDS means none
  EXTRA_BACKENDS_AT_100=""
  CONNECTIONS_LIST=${CONNECTIONS:-100}
  BLOCKS_LIST=${BLOCK:-16384}
fi
WARMUP=${WARMUP:-1}
ROUNDS=${ROUNDS:-3}
PORT_BASE=${PORT_BASE:-19000}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
HOST=${HOST:-127.0.0.1}
START_TIMEOUT=5   # seconds a server gets to start listening
STOP_TIMEOUT=5    # seconds a server gets to exit after SIGTERM

die() { echo "run_pingpong.sh: $*" >&2; exit 2; }
log() { echo "$*" >&2; }
is_number() { [[ $1 =~ ^[0-9]+([.][0-9]+)?$ ]]; }

for v in ROUNDS PORT_BASE SERVER_CPU CLIENT_CPU; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer (got '${!v}')"
done
[[ -n ${CONNECTIONS_LIST// /} && -n ${BLOCKS_LIST// /} ]] || die "no connections or block size to measure"
if (( ! MATRIX )) && [[ $CONNECTIONS_LIST == *" "* || $BLOCKS_LIST == *" "* ]]; then
  die "CONNECTIONS and BLOCK take one value each (use MATRIX=1 with CONNECTIONS_LIST / BLOCKS_LIST for more)"
fi
max_conns=0
for c in $CONNECTIONS_LIST; do
  [[ $c =~ ^[1-9][0-9]*$ ]] || die "connection counts must be positive integers (got '$c')"
  (( c > max_conns )) && max_conns=$c
done
for b in $BLOCKS_LIST; do
  [[ $b =~ ^[1-9][0-9]*$ ]] || die "block sizes must be positive integers (got '$b')"
done
for b in $BASELINES; do
  [[ $b == epoll || $b == uring ]] || die "BASELINES may contain only \"epoll\" and \"uring\" (got '$b')"
done
is_number "$MEASURE_SECONDS" || die "SECONDS must be a number (got '$MEASURE_SECONDS')"
is_number "$WARMUP" || die "WARMUP must be a number (got '$WARMUP')"
(( ROUNDS >= 1 )) || die "ROUNDS must be >= 1"
if [[ " $BASELINES " == *" epoll "* && ! -x $RAW_ECHO ]]; then
  die "raw loop not found: $RAW_ECHO (build it, or set BUILD / RAW_ECHO)"
fi
if [[ " $BASELINES " == *" uring "* && ! -x $RAW_URING_ECHO ]]; then
  die "raw io_uring loop not found: $RAW_URING_ECHO (build it, set RAW_URING_ECHO, or drop uring from BASELINES)"
fi
[[ -x $CLIENT ]] || die "client not found: $CLIENT (build it, or set BUILD / CLIENT)"
if [[ -n ${BACKENDS// /}${EXTRA_BACKENDS_AT_100// /} && ! -x $TERN_ECHO ]]; then
  die "tern-echo not found: $TERN_ECHO (build it, set TERN_ECHO, or BACKENDS=\"\" for the raw loop only)"
fi
command -v taskset > /dev/null || die "taskset (util-linux) is required"
CLK_TCK=$(getconf CLK_TCK) || die "getconf CLK_TCK failed"
# Client and server each need one fd per connection (plus a few): raise the soft limit
# (inherited by both) if the hard limit allows.
need_fds=$(( max_conns + 64 ))
if (( $(ulimit -n) < need_fds )); then
  ulimit -n "$need_fds" 2> /dev/null ||
    die "$max_conns connections need an fd limit of at least $need_fds (ulimit -n is $(ulimit -n))"
fi

# Servers of one cell: parallel arrays of display name, command (words separated by
# \x1f) and, for tern-echo, the backend it must report using.  RAW_IDX / TERN_EPOLL_IDX:
# the rows ratios are computed against (-1: not in the run).
build_servers() {  # $1 = connections
  local b backends=$BACKENDS seen=" "
  NAMES=(); CMDS=(); EXPECT=(); RAW_IDX=-1; TERN_EPOLL_IDX=-1
  for b in $BASELINES; do
    [[ $seen == *" raw-$b "* ]] && continue
    seen+="raw-$b "
    if [[ $b == epoll ]]; then
      RAW_IDX=${#NAMES[@]}
      NAMES+=("raw epoll loop (baseline)"); CMDS+=("$RAW_ECHO"$'\x1f''{PORT}')
    else
      NAMES+=("raw io_uring loop (baseline)"); CMDS+=("$RAW_URING_ECHO"$'\x1f''{PORT}')
    fi
    EXPECT+=("")
  done
  (( $1 == 100 )) && backends+=" $EXTRA_BACKENDS_AT_100"
  for b in $backends; do
    [[ $seen == *" $b "* ]] && continue
    seen+="$b "
    [[ $b == epoll ]] && TERN_EPOLL_IDX=${#NAMES[@]}
    NAMES+=("tern-echo --backend $b")
    CMDS+=("$TERN_ECHO"$'\x1f''--host'$'\x1f'"$HOST"$'\x1f''--port'$'\x1f''{PORT}'$'\x1f''--backend'$'\x1f'"$b")
    EXPECT+=("$b")
  done  # Another build of tern-echo in the same interleaved rounds (a change against its base).
  if [[ -n $COMPARE_ECHO ]]; then
    for b in $backends; do
      NAMES+=("tern-echo ($COMPARE_LABEL) --backend $b")
      CMDS+=("$COMPARE_ECHO"$'\x1f''--host'$'\x1f'"$HOST"$'\x1f''--port'$'\x1f''{PORT}'$'\x1f''--backend'$'\x1f'"$b")
      EXPECT+=("$b")
    done
  fi
}

# ---------------------------------------------------------------- process hygiene
SERVER_PID=""
CLIENT_PID=""
TMP=$(mktemp -d /tmp/run_pingpong.XXXXXX) || die "mktemp failed"


# shellcheck disable=SC2317  # invoked via trap
cleanup() {
  trap - EXIT INT TERM
  [[ -n $CLIENT_PID ]] && { kill -KILL "$CLIENT_PID" 2> /dev/null; wait "$CLIENT_PID" 2> /dev/null; }
  [[ -n $SERVER_PID ]] && stop_pid "$SERVER_PID" 2
  exec 3<&-
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'log "run_pingpong.sh: interrupted"; exit 130' INT
trap 'log "run_pingpong.sh: terminated"; exit 143' TERM

# ---------------------------------------------------------------- helpers
# Is something listening on local port $1?  0 = yes.
port_listening() {
  local hex
  printf -v hex '%04X' "$1"
  awk -v p=":$hex" 'FNR > 1 && $4 == "0A" && substr($2, length($2) - 4) == p { f = 1 } END { exit !f }' \
    /proc/net/tcp /proc/net/tcp6 2> /dev/null
}
NEXT_PORT=$PORT_BASE

set_client_args() {  # $1 = connections, $2 = block
  CLIENT_ARGS=(--host "$HOST" --connections "$1" --block "$2" --seconds "$MEASURE_SECONDS"
               --warmup "$WARMUP" --cpu "$CLIENT_CPU")
  # Upper bound for one client run: connect (the client gives up after 5 s) + warm-up +
  # measured + 1 s drain + slack, plus 1 s per 100 connections for setting them up and
  # tearing them down on a loaded machine.
  CLIENT_BUDGET=$(awk -v w="$WARMUP" -v s="$MEASURE_SECONDS" -v c="$1" \
                  'BEGIN { printf "%d", 5 + w + s + 1 + 10 + int(c / 100) }')
}

# One measurement: server index $1, round $2.  Appends to $CELL/mib.$1 and $CELL/cpu.$1
# (and the round to $CELL/fail.$1 if it failed).
run_one() {
  local idx=$1 round=$2 name=${NAMES[$1]} line result="" status t_start="" t_end="" deadline i
  local -a cmd
  next_free_port
  IFS=$'\x1f' read -r -a cmd <<< "${CMDS[$idx]//\{PORT\}/$PORT}"

  # Start the server pinned to SERVER_CPU (taskset execs it, so $! is the server).
  taskset -c "$SERVER_CPU" "${cmd[@]}" > "$TMP/server.log" 2>&1 &
  SERVER_PID=$!
  for (( i = 0; i < START_TIMEOUT * 20; i++ )); do
    port_listening "$PORT" && break
    alive "$SERVER_PID" || break
    sleep 0.05
  done
  if ! port_listening "$PORT" || ! alive "$SERVER_PID"; then
    stop_pid "$SERVER_PID" 1
    SERVER_PID=""
    log "round $round: $name: FAILED to start on port $PORT (status $STOP_STATUS):"
    sed 's/^/    /' "$TMP/server.log" | head -n 5 >&2
    echo "$round" >> "$CELL/fail.$idx"
    return
  fi

  # Run the client pinned to CLIENT_CPU; read its stdout through a FIFO so that the
  # server's CPU time is sampled right when the measured interval starts and ends.
  rm -f "$TMP/fifo"; mkfifo "$TMP/fifo"
  taskset -c "$CLIENT_CPU" "$CLIENT" "${CLIENT_ARGS[@]}" --port "$PORT" --mark > "$TMP/fifo" 2> "$TMP/client.err" &
  CLIENT_PID=$!
  exec 3< "$TMP/fifo"
  deadline=$(( EPOCHSECONDS + CLIENT_BUDGET ))
  while (( EPOCHSECONDS < deadline )) && IFS= read -r -t $(( deadline - EPOCHSECONDS )) -u 3 line; do
    case $line in
      "MARK measure-start") read_ticks "$SERVER_PID" && t_start=$TICKS ;;
      "MARK measure-end")   read_ticks "$SERVER_PID" && t_end=$TICKS ;;
      RESULT*)              result=$line ;;
      *)                    log "    $line" ;;
    esac
  done
  exec 3<&-
  # The client has closed its stdout (or ran out of time): give it 3 s to exit.
  for (( i = 0; i < 60; i++ )); do
    alive "$CLIENT_PID" || break
    sleep 0.05
  done
  if (( i == 60 )); then
    log "round $round: $name: client did not finish within its ${CLIENT_BUDGET} s budget, killing it"
    kill -KILL "$CLIENT_PID" 2> /dev/null
  fi
  wait "$CLIENT_PID"
  status=$?
  CLIENT_PID=""

  stop_pid "$SERVER_PID" "$STOP_TIMEOUT"
  SERVER_PID=""
  local server_note=""
  if [[ $STOP_HOW == killed ]]; then
    server_note=" (server ignored SIGTERM, killed)"
  elif (( STOP_STATUS != 0 )); then
    server_note=" (server exited with status $STOP_STATUS)"
  fi
  # tern-echo prints "(backend X)": X differs from the one asked for when it fell back.
  local used=""
  if [[ -n ${EXPECT[$idx]} ]]; then
    used=$(sed -n 's/.*(backend \([a-z-]*\)).*/\1/p' "$TMP/server.log" | head -n 1)
  fi
  if [[ -n $used && $used != "${EXPECT[$idx]}" ]]; then
    log "round $round: $name: FAILED: tern-echo ran the $used backend, not ${EXPECT[$idx]}$server_note"
    echo "$round" >> "$CELL/fail.$idx"
    return
  fi

  if (( status != 0 )) || [[ -z $result ]]; then
    log "round $round: $name: FAILED (client status $status)$server_note"
    sed 's/^/    /' "$TMP/client.err" | head -n 5 >&2
    sed 's/^/    server: /' "$TMP/server.log" | head -n 5 >&2
    echo "$round" >> "$CELL/fail.$idx"
    return
  fi
  local bytes mib secs
  bytes=$(sed -n 's/.* bytes=\([0-9]*\).*/\1/p' <<< "$result")
  mib=$(sed -n 's/.* mib_per_s=\([0-9.]*\).*/\1/p' <<< "$result")
  secs=$(sed -n 's/.* seconds=\([0-9.]*\).*/\1/p' <<< "$result")
  echo "$mib" >> "$CELL/mib.$idx"
  local cpu_txt="server CPU n/a"
  if [[ -n $t_start && -n $t_end ]] && (( bytes > 0 )); then
    local cpu busy
    cpu=$(awk -v t=$(( t_end - t_start )) -v hz="$CLK_TCK" -v b="$bytes" \
          'BEGIN { printf "%.1f", t * 1e6 / hz / (b / 1048576) }')
    # Server CPU use over the interval: well below 100% on a busy machine means the
    # run was disturbed by other load (or the client was the bottleneck).
    busy=$(awk -v t=$(( t_end - t_start )) -v hz="$CLK_TCK" -v s="$secs" \
           'BEGIN { if (s > 0) printf "%.0f", 100 * t / hz / s; else print "?" }')
    echo "$cpu" >> "$CELL/cpu.$idx"
    cpu_txt="$cpu server CPU-us/MiB (server busy ${busy}% of ${secs} s)"
  fi
  log "round $round: $name (port $PORT): $mib MiB/s, $cpu_txt$server_note"
}

# ---------------------------------------------------------------- main
# Prints the table of the cell just measured (files in $CELL) to stdout.
print_table() {
  local s name nfail mib ratio tratio cpu vals raw_median="" tern_median="" tcol=""
  (( RAW_IDX >= 0 )) && raw_median=$(median 2> /dev/null < "$CELL/mib.$RAW_IDX")
  (( TERN_EPOLL_IDX >= 0 )) && { tern_median=$(median 2> /dev/null < "$CELL/mib.$TERN_EPOLL_IDX"); tcol=1; }
  if [[ -n $tcol ]]; then
    echo "| server | MiB/s (median) | ratio to raw epoll | ratio to tern epoll | server CPU-µs/MiB |"
    echo "|---|---:|---:|---:|---:|"
  else
    echo "| server | MiB/s (median) | ratio to raw epoll | server CPU-µs/MiB |"
    echo "|---|---:|---:|---:|"
  fi
  for (( s = 0; s < ${#NAMES[@]}; s++ )); do
    name=${NAMES[$s]}
    nfail=0
    [[ -f $CELL/fail.$s ]] && nfail=$(wc -l < "$CELL/fail.$s")
    (( nfail > 0 )) && { OVERALL=1; name+=" ($nfail/$ROUNDS runs FAILED)"; }
    if ! mib=$(median 2> /dev/null < "$CELL/mib.$s"); then
      echo "| $name | FAILED | – |${tcol:+ – |} – |"
      continue
    fi
    ratio=$(ratio_of "$mib" "$raw_median")
    tratio=$(ratio_of "$mib" "$tern_median")
    cpu=$(median 2> /dev/null < "$CELL/cpu.$s") || cpu=""
    [[ -n $cpu ]] && cpu=$(awk -v c="$cpu" 'BEGIN { printf "%.0f", c }') || cpu="n/a"
    printf '| %s | %.1f | %s |%s %s |\n' "$name" "$mib" "$ratio" "${tcol:+ $tratio |}" "$cpu"
  done
  echo
  echo "Per-round MiB/s:"
  echo
  for (( s = 0; s < ${#NAMES[@]}; s++ )); do
    vals=""
    [[ -f $CELL/mib.$s ]] && vals=$(paste -sd ' ' "$CELL/mib.$s")
    echo "- ${NAMES[$s]}: ${vals:-none}"
  done
}
ratio_of() {  # $1 / $2 with two decimals, "–" when $2 is missing or zero
  awk -v a="$1" -v b="$2" 'BEGIN { if (b != "" && b > 0) printf "%.2f", a / b; else print "–" }'
}

# Measures one (connections, block) cell: every server ROUNDS times, rounds interleaved.
run_cell() {  # $1 = connections, $2 = block
  local r s
  build_servers "$1"
  set_client_args "$1" "$2"
  CELL=$TMP/cell.$1.$2
  mkdir -p "$CELL"
  log "ping-pong: ${#NAMES[@]} servers x $ROUNDS rounds, $1 connections x $2 B," \
      "${WARMUP} s warm-up + ${MEASURE_SECONDS} s each; server on CPU $SERVER_CPU, client on CPU $CLIENT_CPU"
  for (( r = 1; r <= ROUNDS; r++ )); do
    for (( s = 0; s < ${#NAMES[@]}; s++ )); do
      run_one "$s" "$r"
    done
  done
}

OVERALL=0
args=""
(( $# > 0 )) && args=$(printf ' %q' "$@")
servers="- servers:"
[[ " $BASELINES " == *" epoll "* ]] && servers+=" \`taskset -c $SERVER_CPU $RAW_ECHO PORT\`,"
[[ " $BASELINES " == *" uring "* ]] && servers+=" \`taskset -c $SERVER_CPU $RAW_URING_ECHO PORT\`,"
[[ -n ${BACKENDS// /}${EXTRA_BACKENDS_AT_100// /} ]] &&
  servers+=" \`taskset -c $SERVER_CPU $TERN_ECHO --host $HOST --port PORT --backend X\`,"
machine() {
  echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); kernel: $(uname -srm); CPU: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1) ($(nproc) online)"
}
method="- median of $ROUNDS interleaved rounds; server CPU from /proc/PID/stat utime+stime (CLK_TCK=$CLK_TCK) over the measured interval"
common="SECONDS=$MEASURE_SECONDS WARMUP=$WARMUP ROUNDS=$ROUNDS BASELINES=\"$BASELINES\" BACKENDS=\"$BACKENDS\""
common+=" SERVER_CPU=$SERVER_CPU CLIENT_CPU=$CLIENT_CPU PORT_BASE=$PORT_BASE"

if (( MATRIX )); then
  echo "## Ping-pong echo throughput matrix"
  echo
  echo "- command: \`MATRIX=1 CONNECTIONS_LIST=\"$CONNECTIONS_LIST\" BLOCKS_LIST=\"$BLOCKS_LIST\"" \
       "EXTRA_BACKENDS_AT_100=\"$EXTRA_BACKENDS_AT_100\" $common $0$args\`"
  echo "- client: \`taskset -c $CLIENT_CPU $CLIENT --host $HOST --connections N --block B" \
       "--seconds $MEASURE_SECONDS --warmup $WARMUP --cpu $CLIENT_CPU --port PORT\`"
  echo "${servers%,}"
  machine
  echo "$method; rounds are interleaved within each (connections, block) cell"
  for c in $CONNECTIONS_LIST; do
    for b in $BLOCKS_LIST; do
      run_cell "$c" "$b"
      echo
      echo "### $c connections × $b B"
      echo
      print_table
    done
  done
else
  run_cell "$CONNECTIONS_LIST" "$BLOCKS_LIST"
  echo "## Ping-pong echo throughput"
  echo
  echo "- command: \`CONNECTIONS=$CONNECTIONS_LIST BLOCK=$BLOCKS_LIST $common $0$args\`"
  echo "- client: \`taskset -c $CLIENT_CPU $CLIENT ${CLIENT_ARGS[*]} --port PORT\`"
  echo "${servers%,}"
  machine
  echo "$method"
  echo
  print_table
fi
exit "$OVERALL"
