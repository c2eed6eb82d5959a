#!/usr/bin/env bash
# `make test`: the workspace's tests against a DynamoDB Local of their own.
#
#   1. setup.sh
#   2. DynamoDB Local (in memory) on a free 127.0.0.1 port
#   3. SCIMLINK_TEST_DYNAMODB_ENDPOINT=http://127.0.0.1:PORT (+ dummy AWS
#      credentials/region), then `cargo test --workspace` (extra arguments are
#      passed to it, e.g. `infra/local/test.sh -- --nocapture`)
#   4. stops what it started; exits with the tests' status
set -euo pipefail
# shellcheck source=infra/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

DDB_PORT=""
# shellcheck disable=SC2317 # reached through the traps below
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$DDB_PORT" ]; then "$INFRA_LOCAL/dynamodb.sh" stop "$DDB_PORT" || true; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$INFRA_LOCAL/setup.sh"

DDB_PORT="$(free_port)"
"$INFRA_LOCAL/dynamodb.sh" start "$DDB_PORT" >/dev/null
export_local_aws_env "$DDB_PORT"
export SCIMLINK_TEST_DYNAMODB_ENDPOINT="http://127.0.0.1:$DDB_PORT"

# Plain `cargo test`: its "test result: ... passed; ... failed" lines are the
# summary CI reads. (cargo-nextest would work too but isn't on every machine.)
log "cargo test --workspace (DynamoDB Local at $SCIMLINK_TEST_DYNAMODB_ENDPOINT)"
set +e
cargo test --workspace "$@"
status=$?
set -e

# --- later: end-to-end SCIM compliance -----------------------------------------
# When the functions are complete and scim2-tester is in requirements.txt:
#   - create the table (cargo run -q -p scimlink-tools --bin scimlink-local -- create-table)
#   - start `cargo lambda watch -A 127.0.0.1 -P <free port> --ignore-changes
#     --env-file <file>` as run.sh does (own process group, stopped in cleanup)
#   - bootstrap org/directory/token through the admin API as run.sh does
#   - run scim2-tester from .local/venv against the SCIM base URL with the token
#   - fold its exit status into $status
# ---------------------------------------------------------------------------------

exit "$status"
