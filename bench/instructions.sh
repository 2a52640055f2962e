#!/usr/bin/env bash
# instructions.sh: instructions per request of tern's servers under `valgrind --tool=callgrind`
# (user-space instructions, Ir: a figure that the noise of a shared machine does not move), and
# the check that keeps them from growing unnoticed (`make bench-check`, issue 10).
#
# Cases (each server pinned to SERVER_CPU, tern-bench to CLIENT_CPU; CONNECTIONS [16]):
#   httpd-plaintext            tern-httpd --backend epoll, GET /plaintext, depth 1
#   httpd-plaintext-pipelined  the same, tern-bench --pipeline 16
#   echo-512-epoll             tern-echo --backend epoll, 512-byte blocks, ping-pong
#   echo-512-uring             the same on io_uring; skipped, with a message, when tern-echo
#                              falls back (no io_uring), and with valgrind 3.19 (Debian 12)
#                              unless URING_UNDER_VALGRIND=1: that valgrind keeps its big lock
#                              while a thread waits in io_uring_enter(2), so tern-echo's main
#                              thread (start-up line, SIGTERM) starves: it hangs at start or exit
# Method: the server runs under callgrind twice, answering BASE [1000] and BASE + REQUESTS
# [10000] requests of tern-bench (`tern-bench http|echo --requests N -d 0 ...`), and is stopped
# with SIGTERM; the difference of the two totals divided by REQUESTS is the figure, which
# cancels start-up, the first requests' code translation and shutdown. valgrind 3.19 (Debian 12)
# does not know openat2(2): tern-httpd falls back to openat (the /plaintext path opens no file).
#
# Usage: bench/instructions.sh [--check | --record | --csv] [--cases "NAME ..."]
#   --check   (default) measure and compare with bench/instructions.json: a table of case,
#             recorded, now, change %; exit 1 when a figure grew more than TOLERANCE [5] %
#             or a case could not be measured; a figure that shrank more than TOLERANCE % is
#             reported (record it with --record, `make bench-record`) but does not fail
#   --record  measure and write bench/instructions.json (figures, command, date, commit,
#             machine, valgrind version), so that later checks compare with them
#   --csv     measure and print one row per case in the columns of bench/results/*/results.csv
#             (section "instructions"; a skipped or failed case is a FAILED row with the
#             reason in `note`); progress on stderr. `make bench` (bench/bench.py) uses this.
# Environment: BUILD [<repo>/build] (tern-httpd, tern-echo and tern-bench in $BUILD/apps),
#   REQUESTS [10000], BASE [1000], CONNECTIONS [16], SERVER_CPU [0], CLIENT_CPU [1],
#   TOLERANCE [5], RECORD_FILE [<repo>/bench/instructions.json], URING_UNDER_VALGRIND [0],
#   HTTPD_EXTRA [""]: more arguments for tern-httpd, split at spaces; HTTPD_EXTRA="--admin
#   127.0.0.1:0" measures the httpd cases with metrics on (issue 13: at most 3% more
#   instructions than off); the config column says so, and --record refuses it (the record is
#   of the default server),
#   QUICK (accepted, ignored: the whole run takes about a minute and a half).
# Bounds: a server must listen within 60 s and exit within 60 s of SIGTERM (else it is killed
# and the case fails); each client run is killed after 120 s; every process started is
# reaped on exit (also on Ctrl-C). Loopback only; the servers take a port the kernel picks.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
REQUESTS=${REQUESTS:-10000}
BASE=${BASE:-1000}
CONNECTIONS=${CONNECTIONS:-16}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
TOLERANCE=${TOLERANCE:-5}
URING_UNDER_VALGRIND=${URING_UNDER_VALGRIND:-0}
read -r -a HTTPD_EXTRA_ARGS <<< "${HTTPD_EXTRA:-}"
RECORD_FILE=${RECORD_FILE:-$ROOT/bench/instructions.json}
HOST=127.0.0.1
ALL_CASES="httpd-plaintext httpd-plaintext-pipelined echo-512-epoll echo-512-uring"

log() { echo "instructions.sh: $*" >&2; }
die() { log "$*"; exit 2; }

MODE=check
CASES=$ALL_CASES
while (( $# )); do
  case $1 in
    --check) MODE=check ;;
    --record) MODE=record ;;
    --csv) MODE=csv ;;
    --cases) shift; CASES=${1:-} ;;
    -h|--help) sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (--check, --record, --csv, --cases LIST)" ;;
  esac
  shift
done
for c in $CASES; do [[ " $ALL_CASES " == *" $c "* ]] || die "unknown case '$c' (cases: $ALL_CASES)"; done
for v in REQUESTS BASE CONNECTIONS SERVER_CPU CLIENT_CPU; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number, not '${!v}'"
done
(( REQUESTS >= 1 )) || die "REQUESTS must be >= 1"
[[ $MODE == record && ${#HTTPD_EXTRA_ARGS[@]} -gt 0 ]] &&
  die "--record measures the default tern-httpd: unset HTTPD_EXTRA ('${HTTPD_EXTRA}')"
[[ $TOLERANCE =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "TOLERANCE must be a number of percent"
command -v valgrind > /dev/null ||
  die "valgrind not found: scripts/install-bench-deps.sh --callgrind installs it"
command -v python3 > /dev/null || die "python3 not found (it reads and writes $RECORD_FILE)"
for p in tern-httpd tern-echo tern-bench; do
  [[ -x $BUILD/apps/$p ]] || die "$BUILD/apps/$p not found: build it first (make build, or BUILD=dir)"
done

TMP=$(mktemp -d /tmp/tern-instructions.XXXXXX)
SERVER_PID=""
CLIENT_PID=""
cleanup() {
  [[ -n $CLIENT_PID ]] && { kill -KILL "$CLIENT_PID" 2> /dev/null; wait "$CLIENT_PID" 2> /dev/null; }
  [[ -n $SERVER_PID ]] && { kill -KILL "$SERVER_PID" 2> /dev/null; wait "$SERVER_PID" 2> /dev/null; }
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# Is process $1 still running (a zombie not yet reaped answers kill -0 too)?
alive() { kill -0 "$1" 2> /dev/null && [[ $(awk '{print $3}' "/proc/$1/stat" 2> /dev/null) != Z ]]; }

# The server of case $1 and the backend it must run -> SERVER_CMD, WANT_BACKEND, SERVER_NAME.
server_of() {
  case $1 in
    httpd-*) SERVER_NAME=tern-httpd; WANT_BACKEND=epoll
             SERVER_CMD=("$BUILD/apps/tern-httpd" --host "$HOST" --port 0 --root "$ROOT/www" --backend epoll
                         "${HTTPD_EXTRA_ARGS[@]}") ;;
    echo-512-*) SERVER_NAME=tern-echo; WANT_BACKEND=${1##*-}
             SERVER_CMD=("$BUILD/apps/tern-echo" --host "$HOST" --port 0 --backend "$WANT_BACKEND") ;;
  esac
}

# tern-bench's arguments for case $1 against port $2, $3 requests -> CLIENT_CMD.
client_of() {
  local -a common=(--requests "$3" -d 0 -c "$CONNECTIONS" --timeout 60 --progress never --json)
  case $1 in
    httpd-plaintext) CLIENT_CMD=(http "${common[@]}" "http://$HOST:$2/plaintext") ;;
    httpd-plaintext-pipelined) CLIENT_CMD=(http --pipeline 16 "${common[@]}" "http://$HOST:$2/plaintext") ;;
    echo-512-*) CLIENT_CMD=(echo -s 512 "${common[@]}" "$HOST:$2") ;;
  esac
}

# valgrind's output without its banner, one line (for a reason shown to the user).
server_says() {
  grep -v -e '^==[0-9]*==' -e '^--[0-9]*-- \(You may\|Read the file\|Nevertheless\|it at \)' "$1" |
    head -c 300 | tr '\n' ' '
}

# One callgrind run of case $1 answering $2 requests -> IR (total instructions), or WHY (and
# SKIP=1 when the case cannot run here, e.g. io_uring unavailable) and a non-zero status.
callgrind_run() {
  local name=$1 n=$2 log=$TMP/$1.$2.server port="" used i status
  IR=""; WHY=""; SKIP=0
  server_of "$name"
  : > "$log"   # exists before the server's shell opens it (the wait below reads it at once)
  if [[ $WANT_BACKEND == uring && $URING_UNDER_VALGRIND != 1 ]]; then
    WHY="skipped: $(valgrind --version) hangs tern's io_uring loop at start or exit (see"
    WHY+=" the header of bench/instructions.sh); URING_UNDER_VALGRIND=1 tries anyway"
    SKIP=1
    return 1
  fi
  taskset -c "$SERVER_CPU" valgrind --tool=callgrind --callgrind-out-file="$TMP/callgrind.out.%p" \
    "${SERVER_CMD[@]}" > "$log" 2>&1 < /dev/null &
  SERVER_PID=$!
  # The start-up line: "NAME: listening on HOST:PORT (backend B, ...)".
  for (( i = 0; i < 600; i++ )); do
    port=$(sed -n "s/.*listening on $HOST:\([0-9]*\) (backend \([a-z-]*\).*/\1 \2/p" "$log" | head -n 1)
    [[ -n $port ]] && break
    alive "$SERVER_PID" || break
    sleep 0.1
  done
  if [[ -z $port ]]; then
    stop_server 5
    WHY="$SERVER_NAME did not start under valgrind within 60 s: $(server_says "$log")"
    return 1
  fi
  used=${port#* }; port=${port%% *}
  if [[ $used != "$WANT_BACKEND" ]]; then
    stop_server 60
    WHY="skipped: $SERVER_NAME ran the $used backend, not $WANT_BACKEND (io_uring unavailable)"
    SKIP=1
    return 1
  fi
  client_of "$name" "$port" "$n"
  timeout -k 5 120 taskset -c "$CLIENT_CPU" "$BUILD/apps/tern-bench" "${CLIENT_CMD[@]}" \
    > "$TMP/client.out" 2> "$TMP/client.err" < /dev/null &
  CLIENT_PID=$!
  wait "$CLIENT_PID"; status=$?
  CLIENT_PID=""
  stop_server 60 || { WHY="$SERVER_NAME did not exit within 60 s of SIGTERM (killed; no total)"; return 1; }
  if (( status != 0 )); then
    WHY="tern-bench ${CLIENT_CMD[0]} exited with status $status: $(head -c 300 "$TMP/client.err" | tr '\n' ' ')"
    return 1
  fi
  # Every one of the n replies must have come back, else the difference means nothing.
  if ! grep -q "\"replies\": ${n}[,}]" "$TMP/client.out"; then
    WHY="tern-bench did not complete exactly $n replies: $(head -c 300 "$TMP/client.out")"
    return 1
  fi
  IR=$(sed -n "s/^==$STOPPED_PID== Collected : \([0-9]*\).*/\1/p" "$log" | tail -n 1)
  [[ -n $IR ]] || { WHY="no instruction total in valgrind's output: $(server_says "$log")"; return 1; }
}

# SIGTERM to the server, $1 seconds to exit, then SIGKILL; reaps it. Fails when it had to kill.
stop_server() {
  local i killed=0
  STOPPED_PID=$SERVER_PID
  kill -TERM "$SERVER_PID" 2> /dev/null
  for (( i = 0; i < $1 * 10; i++ )); do
    alive "$SERVER_PID" || break
    sleep 0.1
  done
  alive "$SERVER_PID" && { kill -KILL "$SERVER_PID" 2> /dev/null; killed=1; }
  wait "$SERVER_PID" 2> /dev/null
  SERVER_PID=""
  (( ! killed ))
}

# ---------------------------------------------------------------- measure
# One line per case in $TMP/results: case, server, backend, config, figure, note, commands
# (tab-separated; figure empty when the case was skipped or failed, and note says why).
: > "$TMP/results"
started=$(date +%s)
for name in $CASES; do
  server_of "$name"
  config="$CONNECTIONS connections"
  [[ $name == *pipelined ]] && config+=", pipeline 16"
  [[ $name == echo-* ]] && config+=", 512 B blocks"
  [[ $name == httpd-* && ${#HTTPD_EXTRA_ARGS[@]} -gt 0 ]] && config+=", tern-httpd ${HTTPD_EXTRA_ARGS[*]}"
  config+=", $REQUESTS requests over a base of $BASE"
  figure=""; note=""
  if callgrind_run "$name" "$BASE"; then
    base_ir=$IR
    if callgrind_run "$name" $(( BASE + REQUESTS )); then
      figure=$(( (IR - base_ir + REQUESTS / 2) / REQUESTS ))
      log "$name: $figure instructions per request ($base_ir Ir for $BASE requests, $IR for $(( BASE + REQUESTS )))"
    fi
  fi
  if [[ -z $figure ]]; then
    note=$WHY
    if (( SKIP )); then log "$name: $WHY"; else log "$name: FAILED: $WHY"; fi
  fi
  server_of "$name"; client_of "$name" PORT N
  commands="taskset -c $SERVER_CPU valgrind --tool=callgrind ${SERVER_CMD[*]}; taskset -c $CLIENT_CPU"
  commands+=" $BUILD/apps/tern-bench ${CLIENT_CMD[*]} (N = $BASE, then $(( BASE + REQUESTS )))"
  commands=${commands//"$ROOT/"/}
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$SERVER_NAME" "$WANT_BACKEND" "$config" "$figure" \
    "${note//$'\t'/ }" "$commands" >> "$TMP/results"
done
log "measured in $(( $(date +%s) - started )) s"

# ---------------------------------------------------------------- report
# The comparison, the record and the CSV, in python3 (JSON).
COMMIT=$(git -C "$ROOT" rev-parse --short=12 HEAD 2> /dev/null || echo unknown)
[[ -n $(git -C "$ROOT" status --porcelain --untracked-files=no 2> /dev/null) ]] && COMMIT+="-dirty"
VALGRIND_VERSION=$(valgrind --version)
BUILD_TYPE=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BUILD/CMakeCache.txt" 2> /dev/null)
COMPILER=$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$BUILD/CMakeCache.txt" 2> /dev/null)
MACHINE="$(uname -srm), $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
export MODE RECORD_FILE TOLERANCE REQUESTS BASE CONNECTIONS COMMIT VALGRIND_VERSION BUILD_TYPE
export COMPILER MACHINE
python3 - "$TMP/results" <<'PYTHON'
import csv, datetime, json, os, sys

def shown(path):
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel

env = os.environ
mode, record_file, tolerance = env["MODE"], env["RECORD_FILE"], float(env["TOLERANCE"])
results = []
for line in open(sys.argv[1]):
    name, server, backend, config, figure, note, commands = line.rstrip("\n").split("\t")
    results.append({"case": name, "server": server, "backend": backend, "config": config,
                    "figure": int(figure) if figure else None, "note": note,
                    "commands": commands})

if mode == "csv":
    columns = ("section,case,server,backend,config,round,requests_per_s,mib_per_s,"
               "cpu_us_per_request,busy,p50_us,p90_us,p99_us,p999_us,max_us,"
               "bytes_per_connection,instructions_per_request,status,note").split(",")
    out = csv.DictWriter(sys.stdout, columns, lineterminator="\n")
    out.writeheader()
    for r in results:
        out.writerow({"section": "instructions", "case": r["case"], "server": r["server"],
                      "backend": r["backend"], "config": r["config"], "round": 1,
                      "instructions_per_request": "" if r["figure"] is None else r["figure"],
                      "status": "ok" if r["figure"] is not None else "FAILED",
                      "note": r["note"]})
    sys.exit(0)

def meta():
    return {"command": "bench/instructions.sh --record (make bench-record)",
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "commit": env["COMMIT"], "machine": env["MACHINE"],
            "valgrind": env["VALGRIND_VERSION"],
            "build": "%s, %s" % (env["BUILD_TYPE"] or "?", env["COMPILER"] or "?"),
            "requests": int(env["REQUESTS"]), "base": int(env["BASE"]),
            "connections": int(env["CONNECTIONS"])}

if mode == "record":
    doc = {"about": "Instructions per request (valgrind --tool=callgrind, user space) that "
                    "`make bench-check` compares with; written by `make bench-record`.",
           **meta(), "cases": {}}
    try:
        old = json.load(open(record_file)).get("cases", {})
    except (OSError, ValueError):
        old = {}
    for r in results:
        if r["figure"] is not None:
            doc["cases"][r["case"]] = {"server": r["server"], "backend": r["backend"],
                                       "config": r["config"], "commands": r["commands"],
                                       "instructions_per_request": r["figure"]}
        elif r["case"] in old:   # a case that cannot run here keeps its earlier figure
            doc["cases"][r["case"]] = old[r["case"]]
            print("%s: not measured here (%s); its recorded figure is kept"
                  % (r["case"], r["note"]))
    with open(record_file, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    for r in results:
        if r["figure"] is not None:
            print("%-27s %8d instructions per request" % (r["case"], r["figure"]))
    print("recorded in %s" % shown(record_file))
    sys.exit(0 if any(r["figure"] is not None for r in results) else 1)

# check
try:
    record = json.load(open(record_file))
except (OSError, ValueError) as e:
    print("no recorded figures to compare with (%s): run `make bench-record` first" % e)
    sys.exit(1)
recorded = record.get("cases", {})
print("instructions per request, compared with %s (recorded %s, commit %s; %s)"
      % (shown(record_file), record.get("date", "?"), record.get("commit", "?"),
         record.get("valgrind", "?")))
if record.get("valgrind") != env["VALGRIND_VERSION"]:
    print("note: recorded with %s, measured with %s: figures may differ for that reason alone"
          % (record.get("valgrind"), env["VALGRIND_VERSION"]))
print("%-27s %10s %10s %9s  %s" % ("case", "recorded", "now", "change", "verdict"))
grew, shrank, failed = [], [], []
for r in results:
    was = recorded.get(r["case"], {}).get("instructions_per_request")
    now = r["figure"]
    if now is None:
        skipped = r["note"].startswith("skipped")
        verdict = r["note"] if skipped else "FAILED: " + r["note"]
        if not skipped:
            failed.append(r["case"])
        print("%-27s %10s %10s %9s  %s" % (r["case"], was if was is not None else "-", "-", "-",
                                           verdict))
        continue
    if was is None:
        print("%-27s %10s %10d %9s  not recorded (make bench-record)" % (r["case"], "-", now, "-"))
        continue
    change = 100.0 * (now - was) / was
    verdict = "ok"
    if change > tolerance:
        verdict = "GREW more than %g %%" % tolerance
        grew.append(r["case"])
    elif change < -tolerance:
        verdict = "shrank more than %g %%: record it (make bench-record)" % tolerance
        shrank.append(r["case"])
    print("%-27s %10d %10d %+8.1f%%  %s" % (r["case"], was, now, change, verdict))
if shrank:
    print("%s: fewer instructions than recorded; if that is the change you meant, "
          "`make bench-record` records the new figures (commit bench/instructions.json)."
          % ", ".join(shrank))
if grew:
    print("FAILED: %s grew more than %g %% over the recorded figure" % (", ".join(grew), tolerance))
if failed:
    print("FAILED: %s could not be measured" % ", ".join(failed))
sys.exit(1 if grew or failed else 0)
PYTHON
