#!/usr/bin/env bash
# Autobahn TestSuite conformance run: the fuzzing-client cases 1.* to 10.*
# against `wshub --mode echo`, driven by kosoku (the Autobahn case files
# under Python 3). Usage, from anywhere:
#
#   bash tests/conformance/run.sh
#
# Settings (environment):
#   CONFORMANCE_CASES         case ids or globs, space separated
#                             (default: "1.* 2.* 3.* 4.* 5.* 6.* 7.* 9.* 10.*";
#                             the suite has no 8.*, 11.*; 12.*/13.* are compression)
#   CONFORMANCE_CASE_TIMEOUT  seconds one case may take (default 30)
#   CONFORMANCE_BUDGET        seconds all cases together may take (default 600);
#                             cases not started by then are reported NOT RUN
#   PYTHON                    interpreter for the venv (default python3)
#   RUST_LOG                  wshub's log filter (default info)
#   CONFORMANCE_BIN           run this server binary instead of building
#                             target/release/wshub (for debugging the suite)
#
# Output, all under target/conformance/: report/index.html and index.json
# (the merged Autobahn report, one JSON and HTML file per case), runs/ (each
# case's own kosoku run and log), server.log, summary.txt.
# Exit status: 0 when no case FAILED, timed out, errored or was not run and
# the server never crashed or stopped answering; 1 otherwise.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$ROOT/tests/conformance"
OUT="$ROOT/target/conformance"
VENV="$OUT/venv"
RUNS="$OUT/runs"
STATUS="$OUT/status.tsv"
SERVER_LOG="$OUT/server.log"
SERVER_OUT="$OUT/server.out"
CASE_TIMEOUT=${CONFORMANCE_CASE_TIMEOUT:-30}
BUDGET=${CONFORMANCE_BUDGET:-600}
PATTERNS=${CONFORMANCE_CASES:-"1.* 2.* 3.* 4.* 5.* 6.* 7.* 9.* 10.*"}
PYTHON=${PYTHON:-python3}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
[[ $TARGET_DIR == /* ]] || TARGET_DIR="$ROOT/$TARGET_DIR"
BIN="$TARGET_DIR/release/wshub"

cd "$ROOT"
mkdir -p "$OUT"
export PYTHONDONTWRITEBYTECODE=1 # no __pycache__ in tests/conformance
log() { printf 'conformance: %s\n' "$*" >&2; }

# --- kosoku, pinned, in a venv that is reused while requirements.txt is unchanged
if ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    log "creating venv $VENV"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
fi
if ! cmp -s "$HERE/requirements.txt" "$VENV/.requirements.txt" \
    || ! "$VENV/bin/python" -c 'import kosoku.cases' >/dev/null 2>&1; then
    log "installing $(grep -v '^#' "$HERE/requirements.txt" | tr '\n' ' ')"
    "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q \
        -r "$HERE/requirements.txt"
    cp "$HERE/requirements.txt" "$VENV/.requirements.txt"
fi
# kosoku's command line, through a wrapper that skips the interpreter's
# finalization, where kosoku 0.1.0 now and then aborts (see kosoku_run.py).
KOSOKU=("$VENV/bin/python" "$HERE/kosoku_run.py")

# --- the server
if [[ -n ${CONFORMANCE_BIN:-} ]]; then
    BIN=$CONFORMANCE_BIN
    log "using $BIN as it is (CONFORMANCE_BIN), no build"
else
    log "cargo build --release"
    ${CARGO:-cargo} build --release
fi
[[ -x $BIN ]] || { log "no binary at $BIN"; exit 1; }

SERVER_PID=
PORT=
start_server() {
    : >"$SERVER_OUT"
    RUST_LOG=${RUST_LOG:-info} "$BIN" --mode echo --addr "127.0.0.1:0" --max-message 16M \
        >"$SERVER_OUT" 2>>"$SERVER_LOG" </dev/null &
    SERVER_PID=$!
    local line="" i
    for ((i = 0; i < 100; i++)); do
        IFS= read -r line <"$SERVER_OUT" || true
        if [[ $line =~ ^wshub\ listening\ on\ http://127\.0\.0\.1:([0-9]+)/ ]]; then
            PORT=${BASH_REMATCH[1]}
            log "wshub (pid $SERVER_PID) listening on port $PORT"
            return 0
        fi
        server_alive || break
        sleep 0.1
    done
    log "wshub did not start; its output: ${line:-none} (log: $SERVER_LOG)"
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
    return 1
}
# True while the server process runs (a reaped or zombie process does not).
server_alive() {
    [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null \
        && ! grep -qs '^[0-9]* (.*) Z' "/proc/$SERVER_PID/stat"
}
stop_server() {
    [[ -n $SERVER_PID ]] || return 0
    if server_alive; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        local i
        for ((i = 0; i < 50; i++)); do server_alive || break; sleep 0.1; done
        server_alive && kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
}
trap stop_server EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the cases, each in its own kosoku process under a timeout
rm -rf "$RUNS" "$OUT/report" "$STATUS" "$OUT/summary.txt"
mkdir -p "$RUNS"
: >"$SERVER_LOG"
read -r -a patterns <<<"$PATTERNS"
mapfile -t CASES < <("$VENV/bin/python" - "${patterns[@]}" <<'EOF'
import fnmatch, sys
from kosoku.cases import CASES  # the suite's case ids, in suite order
for pattern in sys.argv[1:]:
    if not any(fnmatch.fnmatchcase(c, pattern) for c in CASES):
        sys.exit(f"conformance: no case matches {pattern!r}")
for case in CASES:
    if any(fnmatch.fnmatchcase(case, p) for p in sys.argv[1:]):
        print(case)
EOF
)
((${#CASES[@]} > 0)) || { log "no cases selected"; exit 1; }
printf '%s\n' "${CASES[@]}" >"$OUT/cases.txt"

# Records that the server died ($1: "during ID" or "after ID") and restarts it.
server_died() {
    local src=0
    wait "$SERVER_PID" 2>/dev/null || src=$?
    SERVER_PID=
    log "wshub died $1 (exit status $src); restarting it"
    printf '%s\tcrash\t%s\t%s\n' "${1#* }" "$src" "$1" >>"$STATUS"
    start_server || SERVER_PID=
}

# Runs one case in its own kosoku process; sets rc (124/137: timed out) and ms.
run_case() {
    local t0
    rc=0
    t0=$(date +%s%N)
    rm -rf "${RUNS:?}/$1"
    # The braces take bash's own "Aborted"/"Killed" notice into the log too.
    { timeout -k 5 "$CASE_TIMEOUT" "${KOSOKU[@]}" "ws://127.0.0.1:$PORT/ws" -i "$1" -o "$RUNS/$1" \
        >"$RUNS/$1.log" 2>&1 </dev/null; } 2>>"$RUNS/$1.log" || rc=$?
    ms=$((($(date +%s%N) - t0) / 1000000))
    # A one-case master page of 400 KB: summary.py writes the merged one.
    rm -f "$RUNS/$1/index.html"
}

start_server
log "running ${#CASES[@]} cases ($PATTERNS), ${CASE_TIMEOUT}s each at most, ${BUDGET}s in all"
started=$SECONDS
for id in "${CASES[@]}"; do
    if ((SECONDS - started >= BUDGET)); then
        printf '%s\tnot-run\tthe time budget (%ss) was spent\n' "$id" "$BUDGET" >>"$STATUS"
        continue
    fi
    if [[ -n $SERVER_PID ]] && ! server_alive; then
        # Died after the previous case's verdict (or, first time, at start).
        server_died "after ${prev:-startup}"
    fi
    if [[ -z $SERVER_PID ]]; then
        printf '%s\tnot-run\twshub could not be restarted\n' "$id" >>"$STATUS"
        continue
    fi
    prev=$id
    run_case "$id"
    case $rc in
    0 | 1) printf '%s\tdone\t%s\n' "$id" "$ms" >>"$STATUS" ;;
    124 | 137)
        log "case $id: no verdict after ${CASE_TIMEOUT}s, kosoku stopped"
        printf '%s\ttimeout\t%s\n' "$id" "$ms" >>"$STATUS"
        ;;
    *)
        # Should kosoku still crash after writing its report, the report
        # holds the verdict. Without a report, the case runs once more.
        if [[ ! -s $RUNS/$id/index.json ]]; then
            log "case $id: kosoku exited with status $rc and no report; running it again"
            mv "$RUNS/$id.log" "$RUNS/$id.first.log"
            run_case "$id"
        fi
        if [[ -s $RUNS/$id/index.json ]] && ((rc != 124 && rc != 137)); then
            printf '%s\tdone\t%s\t%s\n' "$id" "$ms" "$rc" >>"$STATUS"
        elif ((rc == 124 || rc == 137)); then
            log "case $id: no verdict after ${CASE_TIMEOUT}s, kosoku stopped"
            printf '%s\ttimeout\t%s\n' "$id" "$ms" >>"$STATUS"
        else
            log "case $id: kosoku exited with status $rc and wrote no report (see $RUNS/$id.log)"
            printf '%s\terror\t%s\t%s\n' "$id" "$ms" "$rc" >>"$STATUS"
        fi
        ;;
    esac
    if ! server_alive; then
        server_died "during $id"
    elif ((rc == 124 || rc == 137)) \
        && ! timeout 10 "$VENV/bin/python" "$HERE/probe.py" "127.0.0.1" "$PORT"; then
        log "wshub stops answering after case $id; restarting it"
        printf '%s\thung\n' "$id" >>"$STATUS"
        stop_server
        start_server || SERVER_PID=
    fi
done
log "cases took $((SECONDS - started))s"
stop_server

label="autobahn ${PATTERNS// /,}"
[[ -n ${CONFORMANCE_CASES:-} ]] || label="autobahn 1.*-10.*"
"$VENV/bin/python" "$HERE/summary.py" --out "$OUT" --label "$label" \
    | tee "$OUT/summary.txt"
