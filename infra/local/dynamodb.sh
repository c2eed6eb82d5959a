#!/usr/bin/env bash
# DynamoDB Local helper (in-memory, one instance per port).
#
#   infra/local/dynamodb.sh start [PORT]   start on 127.0.0.1:PORT (default 8000), wait until it
#                                          answers, print its endpoint URL on stdout
#   infra/local/dynamodb.sh stop [PORT]    stop the instance on PORT (all started ones if omitted)
#   infra/local/dynamodb.sh status         list the instances started from this checkout
#   infra/local/dynamodb.sh free-port      print a port that is free on 127.0.0.1
#
# pid file and log: .local/run/dynamodb-PORT.{pid,log}. Data is in memory:
# stopping an instance drops every table.
#
# Binding: DynamoDBLocal.jar has no host option and listens on all interfaces.
# We therefore start it through DynamoDBLocalLoopback.java, which builds the
# same server and binds it to 127.0.0.1 (override with SCIMLINK_DYNAMODB_HOST).
# If this Java lacks the jdk.compiler module, it falls back to the plain jar
# (all interfaces) with a warning.
set -euo pipefail
# shellcheck source=infra/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

pidfile() { echo "$RUNDIR/dynamodb-$1.pid"; }
logfile() { echo "$RUNDIR/dynamodb-$1.log"; }

is_ours() { # pid -> true if it is a live DynamoDB Local java process
    kill -0 "$1" 2>/dev/null && grep -qa DynamoDBLocal "/proc/$1/cmdline" 2>/dev/null
}

start() {
    local port="${1:-8000}" dir host pid pf lf
    case "$port" in '' | *[!0-9]*) die "port must be a number, got '$port'" ;; esac
    host="${SCIMLINK_DYNAMODB_HOST:-127.0.0.1}"
    dir="$(ddb_dir)" || die "DynamoDB Local is not installed: run infra/local/setup.sh"
    mkdir -p "$RUNDIR"
    pf="$(pidfile "$port")"
    lf="$(logfile "$port")"

    if [ -f "$pf" ] && is_ours "$(cat "$pf")"; then
        die "DynamoDB Local already running on port $port (pid $(cat "$pf")); stop it with: $0 stop $port"
    fi
    rm -f "$pf"
    if port_in_use "$port"; then
        die "port $port on 127.0.0.1 is already in use (set another port, e.g. SCIMLINK_DYNAMODB_PORT=$(free_port))"
    fi

    # -disableTelemetry: otherwise DynamoDB Local tries to send usage
    # telemetry to AWS on start-up.
    local args=(-inMemory -port "$port" -disableTelemetry)
    local cmd
    if java --list-modules 2>/dev/null | grep -q '^jdk.compiler@'; then
        cmd=(java "-Dddblocal.host=$host" "-Djava.library.path=$dir/DynamoDBLocal_lib"
            -cp "$dir/DynamoDBLocal.jar" "$INFRA_LOCAL/DynamoDBLocalLoopback.java" "${args[@]}")
    else
        warn "no jdk.compiler module in this Java: DynamoDB Local will listen on ALL interfaces (port $port)"
        cmd=(java "-Djava.library.path=$dir/DynamoDBLocal_lib" -jar "$dir/DynamoDBLocal.jar" "${args[@]}")
    fi

    log "starting DynamoDB Local on $host:$port (log: ${lf#"$ROOT"/})"
    # set -m: run it in a process group of its own, so a Ctrl-C in the
    # terminal reaches the calling script (which stops it cleanly) and not the JVM.
    set -m
    (cd "$RUNDIR" && exec "${cmd[@]}") </dev/null >"$lf" 2>&1 &
    pid=$!
    set +m
    echo "$pid" >"$pf"

    # Any HTTP answer (it's a 400 without a signed request) means it is up.
    if ! wait_http "http://127.0.0.1:$port/" 60 "$pid"; then
        cat "$lf" >&2 || true
        kill_tree "$pid" 5
        rm -f "$pf"
        die "DynamoDB Local did not come up on port $port"
    fi
    log "DynamoDB Local up: http://127.0.0.1:$port (pid $pid)"
    echo "http://127.0.0.1:$port"
}

stop_one() {
    local pf="$1" port pid
    port="$(basename "$pf" .pid)"
    port="${port#dynamodb-}"
    pid="$(cat "$pf" 2>/dev/null || true)"
    if [ -n "$pid" ] && is_ours "$pid"; then
        log "stopping DynamoDB Local on port $port (pid $pid)"
        kill_tree "$pid" 10
    fi
    rm -f "$pf"
}

stop() {
    local pf
    if [ -n "${1:-}" ]; then
        stop_one "$(pidfile "$1")"
    else
        for pf in "$RUNDIR"/dynamodb-*.pid; do
            [ -e "$pf" ] && stop_one "$pf"
        done
    fi
    return 0
}

status() {
    local pf pid port found=0
    for pf in "$RUNDIR"/dynamodb-*.pid; do
        [ -e "$pf" ] || continue
        pid="$(cat "$pf")"
        port="$(basename "$pf" .pid)"
        port="${port#dynamodb-}"
        if is_ours "$pid"; then
            echo "port $port: running (pid $pid)"
            found=1
        else
            echo "port $port: stale pid file (pid $pid not running)"
        fi
    done
    [ "$found" = 1 ] || echo "no DynamoDB Local started from this checkout is running"
}

case "${1:-}" in
start) start "${2:-8000}" ;;
stop) stop "${2:-}" ;;
status) status ;;
free-port) free_port ;;
*)
    sed -n '2,16p' "$0" >&2
    exit 2
    ;;
esac
