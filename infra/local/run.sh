#!/usr/bin/env bash
# `make run`: the whole stack on this machine, in the foreground.
#
#   1. setup.sh (tools into .local/)
#   2. DynamoDB Local (in memory) on 127.0.0.1:${SCIMLINK_DYNAMODB_PORT:-8000}
#   3. the table, via `scimlink-local create-table`
#   4. every function behind `cargo lambda watch` on 127.0.0.1:${SCIMLINK_PORT:-9000},
#      routed per [workspace.metadata.lambda.watch.router] in Cargo.toml
#   5. a demo org + directory + SCIM token through the admin API, written to
#      .local/endpoint.env
#
# Ctrl-C (or SIGTERM) stops everything it started. All data is in memory and
# the operator key is new on each run.
set -euo pipefail
# shellcheck source=infra/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

PORT="${SCIMLINK_PORT:-9000}"
DDB_PORT="${SCIMLINK_DYNAMODB_PORT:-8000}"
TABLE=scimlink
ENDPOINT_ENV="$LOCAL/endpoint.env"
LAMBDA_ENV="$RUNDIR/lambda.env"

WATCH_PID=""
DDB_STARTED=0
# shellcheck disable=SC2317 # reached through the traps below
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$WATCH_PID" ]; then
        log "stopping cargo lambda watch (pid $WATCH_PID)"
        kill_tree "$WATCH_PID" 15
    fi
    if [ "$DDB_STARTED" = 1 ]; then
        "$INFRA_LOCAL/dynamodb.sh" stop "$DDB_PORT" || true
    fi
    # The key and token in these files die with the in-memory table.
    rm -f "$LAMBDA_ENV" "$ENDPOINT_ENV"
    log "stopped"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$INFRA_LOCAL/setup.sh"
use_venv

if port_in_use "$PORT"; then
    die "port $PORT on 127.0.0.1 is in use; pick another with SCIMLINK_PORT=$(free_port)"
fi

# --- DynamoDB Local + table ---------------------------------------------------
"$INFRA_LOCAL/dynamodb.sh" start "$DDB_PORT" >/dev/null
DDB_STARTED=1
export_local_aws_env "$DDB_PORT"
export SCIMLINK_TABLE="$TABLE"

log "creating table $TABLE"
cargo run -q -p scimlink-tools --bin scimlink-local -- create-table

# --- functions ----------------------------------------------------------------
# Build first so compile errors show up here, not as a hanging first request
# (cargo lambda watch would otherwise compile each function on first use).
mapfile -t FUNCTIONS < <(function_packages) # every package under functions/
log "building ${FUNCTIONS[*]}"
pkg_args=()
for f in "${FUNCTIONS[@]}"; do pkg_args+=(-p "$f"); done
cargo build -q --bins "${pkg_args[@]}"

OPERATOR_KEY="$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"

# The functions get their environment from this file (--env-file): explicit
# values override whatever the watch process inherited, and the operator key
# stays out of `ps` output (an --env-var argument would not).
mkdir -p "$RUNDIR"
(
    umask 077
    cat >"$LAMBDA_ENV" <<EOF
SCIMLINK_TABLE=$TABLE
AWS_ENDPOINT_URL_DYNAMODB=$AWS_ENDPOINT_URL_DYNAMODB
AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID
AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
AWS_REGION=$AWS_REGION
SCIMLINK_OPERATOR_KEY=$OPERATOR_KEY
RUST_LOG=info
EOF
)

log "starting cargo lambda watch on 127.0.0.1:$PORT"
# -A/--invoke-address: cargo-lambda listens on [::] (all interfaces) by default.
# -P/--invoke-port: one port for both the HTTP routes and the Lambda runtime API.
# set -m: own process group, so Ctrl-C reaches this script, which then stops it
# (and its function instances) in order.
set -m
cargo lambda watch -A 127.0.0.1 -P "$PORT" --env-file "$LAMBDA_ENV" </dev/null &
WATCH_PID=$!
set +m

# The port opens once cargo-lambda's router is up; functions start on first use.
wait_port "$PORT" 120 "$WATCH_PID" || die "cargo lambda watch did not start"

# --- demo bootstrap through the admin API --------------------------------------
ADMIN="http://127.0.0.1:$PORT/admin/v1"

# api METHOD URL [JSON]: sets RESP to the response body; dies unless the status
# is 201. -m 300: the first call to each function waits for its process to start.
RESP=""
api() {
    local method="$1" url="$2" body="${3:-}" code
    local args=(-sS -m 300 -o "$RUNDIR/api-response" -w '%{http_code}' -X "$method" "$url"
        -H "Authorization: Bearer $OPERATOR_KEY")
    if [ -n "$body" ]; then args+=(-H 'Content-Type: application/json' --data "$body"); fi
    code="$(curl "${args[@]}")" || code="no response (curl failed)"
    RESP="$(cat "$RUNDIR/api-response" 2>/dev/null || true)"
    rm -f "$RUNDIR/api-response"
    [ "$code" = 201 ] || die "$method $url -> $code (expected 201): $RESP"
}
# json_field NAME: reads JSON on stdin, prints that top-level field.
json_field() {
    python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1" ||
        die "no field '$1' in the response: $RESP"
}

log "bootstrapping demo org, directory and SCIM token"
api POST "$ADMIN/orgs" '{"name":"Demo","verifiedDomains":["example.com"]}'
ORG_ID="$(json_field id <<<"$RESP")"
api POST "$ADMIN/orgs/$ORG_ID/directories" '{"name":"Demo IdP","idp":"okta"}'
DIRECTORY_ID="$(json_field id <<<"$RESP")"
SCIM_PATH="$(json_field scimBaseUrl <<<"$RESP")"
api POST "$ADMIN/orgs/$ORG_ID/directories/$DIRECTORY_ID/tokens"
SCIM_TOKEN="$(json_field token <<<"$RESP")"
# The demo org's admin key, for the admin API of that org only.
api POST "$ADMIN/orgs/$ORG_ID/admin-keys"
ADMIN_KEY="$(json_field key <<<"$RESP")"

SCIM_BASE_URL="http://127.0.0.1:$PORT$SCIM_PATH"
(
    umask 077
    cat >"$ENDPOINT_ENV" <<EOF
SCIM_BASE_URL=$SCIM_BASE_URL
SCIM_TOKEN=$SCIM_TOKEN
ADMIN_BASE_URL=$ADMIN
OPERATOR_KEY=$OPERATOR_KEY
ADMIN_KEY=$ADMIN_KEY
ORG_ID=$ORG_ID
DIRECTORY_ID=$DIRECTORY_ID
EOF
)

cat >&2 <<EOF

  scimlink is running (functions reload when the code changes)
    SCIM base URL : $SCIM_BASE_URL
    SCIM token    : $SCIM_TOKEN
    Admin API     : $ADMIN   (Authorization: Bearer \$ADMIN_KEY for org $ORG_ID)
    DynamoDB Local: $AWS_ENDPOINT_URL_DYNAMODB  table $TABLE (in memory)
  All of it, plus the operator key, is in ${ENDPOINT_ENV#"$ROOT"/}, e.g.
    set -a; . ${ENDPOINT_ENV#"$ROOT"/}; set +a
    curl -H "Authorization: Bearer \$SCIM_TOKEN" "\$SCIM_BASE_URL/Users"
  Ctrl-C stops everything.

EOF

# Stay in the foreground until cargo lambda watch exits or we are signalled.
set +e
wait "$WATCH_PID"
rc=$?
set -e
WATCH_PID=""
die "cargo lambda watch exited (status $rc)"
