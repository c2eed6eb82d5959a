#!/usr/bin/env bash
# The local stack as a user runs it: `make run`, twice, on free ports (make test's
# stack step; SCIMLINK_SKIP_STACK=1 there leaves it out).
#
#   round 1: `make run` in a process group of its own (as in a terminal or under a
#            supervisor); once it is ready (and cargo-lambda compiled nothing on the
#            functions' first invocations: make run's build is what it runs):
#              - first_requests.py: one request to every route at once, each with its
#                expected status, never cargo-lambda's own 500
#              - sample_events.py check: every sample event of functions/*/events/
#                through `cargo lambda invoke`, each answer's status and body checked
#              - SIGTERM to the whole process group (what `timeout`, a supervisor or a
#                CI runner sends), and again 1 s later, during the clean-up (where the
#                copy make forwards can arrive): make exits, and nothing it started is left: no
#                cargo-lambda, no function process, no stream pump, no DynamoDB Local,
#                both ports free, the endpoint file and the sample events deleted
#   round 2: `make run` again on the same ports (the restart), first_requests.py, and
#            the SIGTERM check again.
#
# Uses the debug build (what `make run` serves by default). Output of each `make run`:
# .local/run/stack-test-PORT.log, kept when a check failed.
# SCIMLINK_RELEASE / SCIMLINK_INSTANCES are passed on: SCIMLINK_RELEASE=1 runs the same
# checks against release builds.
set -euo pipefail
# shellcheck source=infra/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
use_venv

PORT="$(free_port)"
DDB_PORT="$(free_port)"
[ "$PORT" != "$DDB_PORT" ] || DDB_PORT="$(free_port)"
STATE="$(mktemp -d "$RUNDIR/stack-test.XXXXXX")"
ENDPOINT_ENV="$STATE/endpoint.env"
RUN_LOG="$RUNDIR/stack-test-$PORT.log"
RUN_PID=""
RUN_LOG_FROM=1
failed=0

# shellcheck disable=SC2317 # reached through the traps below
cleanup() {
    local rc=$?
    trap '' INT TERM
    trap - EXIT
    if [ -n "$RUN_PID" ]; then kill_tree "$RUN_PID" 30; fi
    "$INFRA_LOCAL/dynamodb.sh" stop "$DDB_PORT" >/dev/null 2>&1 || true
    rm -rf "$STATE"
    exit "$rc"
}
trap cleanup EXIT
# From the first signal on, further ones are ignored: a second TERM (make forwards the
# group's TERM to its recipe) must not run `exit` again inside the clean-up.
trap 'trap "" INT TERM; exit 130' INT
trap 'trap "" INT TERM; exit 143' TERM

fail() {
    warn "stack test: $*"
    failed=1
}

# start_stack: `make run` on $PORT/$DDB_PORT in a process group of its own; returns when
# it wrote the endpoint file (it is ready), dies if it exits first or takes over 15 min.
start_stack() {
    local started=$SECONDS
    log "stack test: make run on 127.0.0.1:$PORT (DynamoDB Local :$DDB_PORT; log ${RUN_LOG#"$ROOT"/})"
    RUN_LOG_FROM=$(($(wc -l <"$RUN_LOG") + 1))
    SCIMLINK_PORT="$PORT" SCIMLINK_DYNAMODB_PORT="$DDB_PORT" SCIMLINK_ENDPOINT_ENV="$ENDPOINT_ENV" \
        setsid make -s run </dev/null >>"$RUN_LOG" 2>&1 &
    RUN_PID=$!
    while [ ! -s "$STATE/sample-events/scim-users/create-user.json" ]; do
        if ! kill -0 "$RUN_PID" 2>/dev/null; then
            tail -n 40 "$RUN_LOG" >&2
            die "stack test: make run exited before it was ready"
        fi
        [ $((SECONDS - started)) -lt 900 ] || die "stack test: make run not ready after 15 min"
        sleep 0.5
    done
    log "stack test: ready after $((SECONDS - started))s"
    # build_functions builds what `cargo lambda watch` runs: its `cargo run --bin <function>`
    # must find every binary fresh, not compile or relink it on the first request.
    if sed -n "$RUN_LOG_FROM,\$p" "$RUN_LOG" | sed -n '/starting cargo lambda watch/,$p' | grep -q '^ *Compiling '; then
        fail "cargo lambda watch compiled a function on its first invocation (build_functions built another variant)"
    fi
}

# stop_stack: SIGTERM to make's process group, then checks that everything is gone.
stop_stack() {
    local pgid pids ddb_pid p left="" left_pids="" i
    pgid="$(ps -o pgid= -p "$RUN_PID" | tr -d ' ')"
    # Everything `make run` started, before the signal: its process tree (cargo-lambda,
    # the function instances, the pump) and DynamoDB Local (a process group of its own).
    pids="$(descendants "$RUN_PID" | tr '\n' ' ')"
    ddb_pid="$(cat "$RUNDIR/dynamodb-$DDB_PORT.pid" 2>/dev/null || true)"
    log "stack test: SIGTERM to process group $pgid ($(wc -w <<<"$pids") processes under make, DynamoDB Local pid ${ddb_pid:-?})"
    kill -TERM -- "-$pgid"
    # Once more while it cleans up: make forwards the TERM to run.sh, and that copy can
    # arrive after run.sh's clean-up began (as can a supervisor's second TERM).
    sleep 1
    kill -TERM -- "-$pgid" 2>/dev/null || true
    for ((i = 0; i < 600; i++)); do
        kill -0 "$RUN_PID" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$RUN_PID" 2>/dev/null; then
        fail "make run still running 60 s after SIGTERM"
        kill_tree "$RUN_PID" 5
    fi
    wait "$RUN_PID" 2>/dev/null || true
    RUN_PID=""
    for p in $pids $ddb_pid; do
        if kill -0 "$p" 2>/dev/null; then
            left="$left $p:$(ps -o comm= -p "$p" 2>/dev/null)"
            left_pids="$left_pids $p"
        fi
    done
    if [ -n "$left" ]; then
        fail "left running after SIGTERM:$left"
        # shellcheck disable=SC2086
        kill -KILL $left_pids 2>/dev/null || true
    fi
    for p in "$PORT" "$DDB_PORT"; do
        if port_in_use "$p"; then fail "port $p still taken after SIGTERM"; fi
    done
    if [ -e "$ENDPOINT_ENV" ]; then fail "${ENDPOINT_ENV#"$ROOT"/} not removed"; fi
    if [ -e "$STATE/sample-events" ]; then fail "the sample events not removed"; fi
    if [ -n "$left" ] || port_in_use "$PORT" || port_in_use "$DDB_PORT"; then
        return
    fi
    log "stack test: after SIGTERM nothing is left ($(wc -w <<<"$pids $ddb_pid") processes gone, ports $PORT and $DDB_PORT free, files removed)"
}

: >"$RUN_LOG"
for round in 1 2; do
    start_stack
    python3 "$INFRA_LOCAL/first_requests.py" "$ENDPOINT_ENV" || fail "round $round: first requests"
    if [ "$round" = 1 ]; then
        python3 "$INFRA_LOCAL/sample_events.py" check "$ENDPOINT_ENV" "$PORT" || fail "sample events"
    fi
    stop_stack
    # A stack that did not stop cleanly holds the ports and files the next round needs.
    if [ "$failed" != 0 ]; then break; fi
done

if [ "$failed" = 0 ]; then
    rm -f "$RUN_LOG"
    log "stack test: passed"
else
    warn "stack test: failed; the stacks' output: ${RUN_LOG#"$ROOT"/}"
fi
exit "$failed"
