# Shared by bench/run_pingpong.sh, bench/run_patterns.sh and bench/run_http.sh: process and
# port hygiene, CPU time and memory from /proc, medians. Sourced; defines functions only.

# Is process $1 still running (a not-yet-reaped zombie still answers kill -0)?
alive() {
  kill -0 "$1" 2> /dev/null && [[ $(awk '{print $3}' "/proc/$1/stat" 2> /dev/null) != Z ]]
}

# Sends SIGTERM to $1, waits up to $2 seconds, then SIGKILLs; always reaps it.
# Sets STOP_STATUS to the exit status and STOP_HOW to "exited" / "killed".
stop_pid() {
  local pid=$1 timeout=$2 i
  STOP_HOW=exited
  kill -TERM "$pid" 2> /dev/null
  for (( i = 0; i < timeout * 20; i++ )); do
    alive "$pid" || break
    sleep 0.05
  done
  if alive "$pid"; then
    kill -KILL "$pid" 2> /dev/null
    STOP_HOW=killed
  fi
  wait "$pid" 2> /dev/null
  STOP_STATUS=$?
}

# Is any TCP socket (any state) using local port $1?  0 = yes.
port_in_use() {
  local hex
  printf -v hex '%04X' "$1"
  awk -v p=":$hex" 'FNR > 1 && substr($2, length($2) - 4) == p { f = 1 } END { exit !f }' \
    /proc/net/tcp /proc/net/tcp6 2> /dev/null
}

# The first free port from NEXT_PORT on -> PORT (the caller sets NEXT_PORT from PORT_BASE and
# defines die).
next_free_port() {
  while port_in_use "$NEXT_PORT"; do
    (( ++NEXT_PORT < 65536 )) || die "no free port above $PORT_BASE"
  done
  PORT=$NEXT_PORT
  (( ++NEXT_PORT ))
}

# utime+stime of process $1 (all its threads) in clock ticks -> TICKS (no fork).
read_ticks() {
  local stat rest
  TICKS=""
  { read -r stat < "/proc/$1/stat"; } 2> /dev/null || return 1   # the process may be gone
  rest=${stat##*) }              # fields from 3 (state) on; comm may contain spaces
  local -a f
  read -r -a f <<< "$rest"
  TICKS=$(( f[11] + f[12] ))     # fields 14 (utime) and 15 (stime)
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit 1; m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; print m }'; }

# ---- Added for bench/run_http.sh (servers that fork workers, like nginx's master).

# Is something listening on TCP port $1 (IPv4 or IPv6)?  0 = yes.
port_listening() {
  local hex
  printf -v hex '%04X' "$1"
  awk -v p=":$hex" 'FNR > 1 && $4 == "0A" && substr($2, length($2) - 4) == p { f = 1 } END { exit !f }' \
    /proc/net/tcp /proc/net/tcp6 2> /dev/null
}

# Process $1 and all its descendants (children of every thread, recursively) -> TREE_PIDS.
tree_pids() {
  local -a todo=("$1") kids
  local p t
  TREE_PIDS=()
  while (( ${#todo[@]} )); do
    p=${todo[0]}; todo=("${todo[@]:1}")
    [[ -d /proc/$p ]] || continue
    TREE_PIDS+=("$p")
    for t in /proc/"$p"/task/*/children; do
      kids=()
      { read -r -a kids < "$t"; } 2> /dev/null   # no newline at the end: read "fails"
      (( ${#kids[@]} )) && todo+=("${kids[@]}")
    done
  done
}

# utime+stime of process $1 and its descendants, in clock ticks -> TICKS.  Fails if $1 is gone.
read_tree_ticks() {
  local p sum=0
  tree_pids "$1"
  (( ${#TREE_PIDS[@]} )) || { TICKS=""; return 1; }
  for p in "${TREE_PIDS[@]}"; do
    read_ticks "$p" && (( sum += TICKS ))
  done
  TICKS=$sum
}

# VmRSS of process $1 and its descendants, in KiB -> RSS_KIB.  Fails if $1 is gone.
read_tree_rss() {
  local p key val sum=0
  tree_pids "$1"
  (( ${#TREE_PIDS[@]} )) || { RSS_KIB=""; return 1; }
  for p in "${TREE_PIDS[@]}"; do
    while read -r key val _; do
      [[ $key == VmRSS: ]] && { (( sum += val )); break; }
    done < "/proc/$p/status" 2> /dev/null
  done
  RSS_KIB=$sum
}
