#!/usr/bin/env bash
# `make run`: the whole stack on this machine, in the foreground.
#
#   1. setup.sh (tools into .local/)
#   2. DynamoDB Local (in memory) on 127.0.0.1:${SCIMLINK_DYNAMODB_PORT:-8000}
#   3. the table, via `scimlink-local create-table`
#   4. every function behind `cargo lambda watch` on 127.0.0.1:${SCIMLINK_PORT:-9000},
#      routed per [workspace.metadata.lambda.watch.router] in Cargo.toml, each started
#      (one invocation of its own) before the stack says it is ready. Two modes:
#        default               debug builds, one instance per function, reloaded when
#                              the code changes (the edit-reload loop)
#        SCIMLINK_RELEASE=1    release builds, SCIMLINK_INSTANCES (default 2) instances
#                              per function so an IdP's parallel requests run in
#                              parallel; no reloading (a release rebuild takes minutes)
#   5. the stream pump (`scimlink-local pump`): reads the table's stream and invokes
#      the `events` function as Lambda's event source mapping would (E5 push)
#   6. a demo org + directory + SCIM token through the admin API, written to
#      .local/endpoint.env (SCIMLINK_ENDPOINT_ENV: another file), and the sample events
#      of functions/*/events/ filled with them into .local/sample-events/ (beside that
#      file), for `cargo lambda invoke`; the web console is at /console (docs/CONSOLE.md)
#
# Ctrl-C (or SIGTERM, also to the whole process group) stops everything it started.
# All data is in memory and the operator key is new on each run.
set -euo pipefail
# shellcheck source=infra/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

PORT="${SCIMLINK_PORT:-9000}"
DDB_PORT="${SCIMLINK_DYNAMODB_PORT:-8000}"
TABLE=scimlink
ENDPOINT_ENV="${SCIMLINK_ENDPOINT_ENV:-$LOCAL/endpoint.env}"
SAMPLE_EVENTS="$(dirname "$ENDPOINT_ENV")/sample-events"
LAMBDA_ENV="$RUNDIR/lambda-$PORT.env"
if [ "${SCIMLINK_RELEASE:-0}" = 1 ]; then
    MODE=release
    INSTANCES="${SCIMLINK_INSTANCES:-2}"
    BUILD_ARGS=(--release)
    TOOLS_PROFILE=(--release)
    WATCH_ARGS=(--release --ignore-changes --concurrency "$INSTANCES")
else
    MODE=debug
    INSTANCES="${SCIMLINK_INSTANCES:-1}"
    BUILD_ARGS=()
    WATCH_ARGS=(--concurrency "$INSTANCES")
fi
case "$INSTANCES" in '' | *[!0-9]* | 0) die "SCIMLINK_INSTANCES must be a positive number, got '$INSTANCES'" ;; esac

DDB_STARTED=0
# shellcheck disable=SC2317 # reached through the traps below
cleanup() {
    local rc=$?
    # A TERM to the process group reaches this script twice (GNU make forwards it to
    # its recipe too): the second one must not cut the clean-up short.
    trap '' INT TERM
    trap - EXIT
    if [ -n "$PUMP_PID" ]; then
        log "stopping the stream pump (pid $PUMP_PID)"
        kill_tree "$PUMP_PID" 5
    fi
    if [ -n "$WATCH_PID" ]; then
        log "stopping cargo lambda watch (pid $WATCH_PID)"
        kill_tree "$WATCH_PID" 15
    fi
    if [ "$DDB_STARTED" = 1 ]; then
        "$INFRA_LOCAL/dynamodb.sh" stop "$DDB_PORT" || true
    fi
    # The key and token in these files die with the in-memory table.
    rm -f "$LAMBDA_ENV" "$ENDPOINT_ENV"
    rm -rf "$SAMPLE_EVENTS"
    log "stopped"
    exit "$rc"
}
trap cleanup EXIT
# From the first signal on, further ones are ignored: a second TERM (make forwards the
# group's TERM to its recipe) must not run `exit` again inside the clean-up.
trap 'trap "" INT TERM; exit 130' INT
trap 'trap "" INT TERM; exit 143' TERM

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

create_table

# --- functions ----------------------------------------------------------------
if [ "$MODE" = release ]; then
    log "mode: release builds, $INSTANCES instance(s) per function, no reloading (SCIMLINK_RELEASE=1)"
else
    log "mode: debug builds, $INSTANCES instance(s) per function, reloading on change (SCIMLINK_RELEASE=1 for release builds)"
fi
build_functions "${BUILD_ARGS[@]}"

OPERATOR_KEY="$(new_secret)"
write_lambda_env "$LAMBDA_ENV" "$TABLE" "$OPERATOR_KEY"
start_functions "$PORT" "$LAMBDA_ENV" "" "${WATCH_ARGS[@]}"
warm_functions "$PORT" "$INSTANCES"
# Events: the stream pump invokes the events function (its lines start with [pump]).
start_pump "$PORT"

# --- demo bootstrap through the admin API --------------------------------------
ADMIN="http://127.0.0.1:$PORT/admin/v1"

log "bootstrapping demo org, directory and SCIM token"
bootstrap_directory "$ADMIN" '{"name":"Demo","verifiedDomains":["example.com"]}' '{"name":"Demo IdP","idp":"okta"}'
# The demo org's admin key, for the admin API of that org only.
admin_api POST "$ADMIN/orgs/$ORG_ID/admin-keys"
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
python3 "$INFRA_LOCAL/sample_events.py" render "$ENDPOINT_ENV" >&2

if [ "$MODE" = release ]; then
    MODE_LINE="release builds, $INSTANCES instance(s) per function (restart to pick up code changes)"
else
    MODE_LINE="debug builds, $INSTANCES instance(s) per function (reloaded when the code changes)"
fi
cat >&2 <<EOF

  scimlink is running: $MODE_LINE
    SCIM base URL : $SCIM_BASE_URL
    SCIM token    : $SCIM_TOKEN
    Admin API     : $ADMIN   (Authorization: Bearer \$ADMIN_KEY for org $ORG_ID)
    Console       : http://127.0.0.1:$PORT/console   (sign in with org $ORG_ID and ADMIN_KEY
                    from ${ENDPOINT_ENV#"$ROOT"/}; the key stays in that browser tab)
    DynamoDB Local: $AWS_ENDPOINT_URL_DYNAMODB  table $TABLE (in memory)
    Events        : the stream pump invokes the events function, which pushes signed SETs
                    to each push subscription (loopback http allowed here); dead letters are
                    warning lines of the events function. See a receiver's webhooks with
                      cargo run -q -p scimlink-tools --bin scimlink-local -- receive --port 9100
                    and a subscription to http://127.0.0.1:9100/events (README, "Events locally")
  All of it, plus the operator key, is in ${ENDPOINT_ENV#"$ROOT"/}, e.g.
    set -a; . ${ENDPOINT_ENV#"$ROOT"/}; set +a
    curl -H "Authorization: Bearer \$SCIM_TOKEN" "\$SCIM_BASE_URL/Users"
  Sample events for this stack (functions/*/events/, filled in) are in ${SAMPLE_EVENTS#"$ROOT"/}:
    source .local/venv/bin/activate
    cargo lambda invoke scim-users --invoke-address 127.0.0.1 --invoke-port $PORT \\
      --data-file ${SAMPLE_EVENTS#"$ROOT"/}/scim-users/create-user.json
  Ctrl-C stops everything.

EOF

# Stay in the foreground until cargo lambda watch exits or we are signalled.
set +e
wait "$WATCH_PID"
rc=$?
set -e
WATCH_PID=""
die "cargo lambda watch exited (status $rc)"
