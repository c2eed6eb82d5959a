#!/usr/bin/env bash
# `make test`: the workspace's tests against a DynamoDB Local of their own.
#
#   1. setup.sh
#   2. DynamoDB Local (in memory) on a free 127.0.0.1 port
#   3. SCIMLINK_TEST_DYNAMODB_ENDPOINT=http://127.0.0.1:PORT (+ dummy AWS
#      credentials/region), then `cargo test --workspace` (extra arguments are
#      passed to it, e.g. `infra/local/test.sh -- --nocapture`)
#   4. SCIM conformance: every function behind `cargo lambda watch` on a free
#      port (no reloading), a table on the same DynamoDB Local, a fresh
#      org/directory/token through the admin API, and scim2-tester's checks
#      against that directory (infra/local/scim_conformance.py): one line per
#      check, then `scim2-tester: N passed, N failed, N skipped`.
#      SCIMLINK_SKIP_CONFORMANCE=1 leaves this step out.
#   5. admin API fuzzing on the same functions: Schemathesis from the OpenAPI document
#      they serve (GET /admin/v1/openapi.json), as an org admin key of a fresh org
#      (infra/local/api_fuzz.py, infra/local/schemathesis.toml): one line per failed
#      operation, then `schemathesis: N operations, N passed, N failed`.
#      SCIMLINK_SKIP_API_FUZZ=1 leaves this step out.
#   6. the web console in headless Chromium on the same functions (Debian's chromium and
#      chromedriver, infra/local/console_browser.py): one line per case, then
#      `browser: N passed, N failed`; a failed case leaves .local/browser-failures/<case>.png.
#      SCIMLINK_SKIP_BROWSER=1 leaves this step out; SCIMLINK_DOCS_SCREENSHOTS=1 also
#      rewrites docs/console-conflicts.png and docs/console-diagnose.png.
#   7. the local stack as a user runs it (infra/local/stack_test.sh): `make run` twice on
#      free ports, the first request to every route, every sample event of
#      functions/*/events/ through `cargo lambda invoke`, and SIGTERM to make's process
#      group leaving nothing behind. SCIMLINK_SKIP_STACK=1 leaves this step out.
#   8. stops what it started; exits non-zero when the tests or a check failed
set -euo pipefail
# shellcheck source=infra/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

DDB_PORT=""
LAMBDA_ENV=""
# shellcheck disable=SC2317 # reached through the traps below
cleanup() {
    local rc=$?
    # A TERM to the process group reaches this script twice (GNU make forwards it to
    # its recipe too): the second one must not cut the clean-up short.
    trap '' INT TERM
    trap - EXIT
    if [ -n "$WATCH_PID" ]; then
        log "stopping cargo lambda watch (pid $WATCH_PID)"
        kill_tree "$WATCH_PID" 15
    fi
    if [ -n "$LAMBDA_ENV" ]; then rm -f "$LAMBDA_ENV"; fi
    if [ -n "$DDB_PORT" ]; then "$INFRA_LOCAL/dynamodb.sh" stop "$DDB_PORT" || true; fi
    exit "$rc"
}
trap cleanup EXIT
# From the first signal on, further ones are ignored: a second TERM (make forwards the
# group's TERM to its recipe) must not run `exit` again inside the clean-up.
trap 'trap "" INT TERM; exit 130' INT
trap 'trap "" INT TERM; exit 143' TERM

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

# --- end-to-end SCIM conformance (scim2-tester) ---------------------------------
# The functions as `make run` serves them, but with --ignore-changes: a file
# saved during the run must not rebuild and restart a function mid-check.
if [ "${SCIMLINK_SKIP_CONFORMANCE:-0}" != 1 ] || [ "${SCIMLINK_SKIP_API_FUZZ:-0}" != 1 ] ||
    [ "${SCIMLINK_SKIP_BROWSER:-0}" != 1 ]; then
    use_venv
    export SCIMLINK_TABLE=scimlink-conformance # beside the tests' scimlink-test
    create_table
    # Compile errors surface here; cargo lambda watch then finds the binaries fresh.
    build_functions

    PORT="$(free_port)"
    OPERATOR_KEY="$(new_secret)"
    LAMBDA_ENV="$RUNDIR/conformance-$PORT.env"
    WATCH_LOG="$RUNDIR/conformance-functions-$PORT.log"
    write_lambda_env "$LAMBDA_ENV" "$SCIMLINK_TABLE" "$OPERATOR_KEY"
    start_functions "$PORT" "$LAMBDA_ENV" "$WATCH_LOG" --ignore-changes
    warm_functions "$PORT"

    # The first call to the admin function waits for it to start (curl -m 300);
    # scim_conformance.py waits the same way for each SCIM function.
    bootstrap_directory "http://127.0.0.1:$PORT/admin/v1" \
        '{"name":"scim2-tester","verifiedDomains":["example.com"]}' \
        '{"name":"scim2-tester","idp":"generic"}'
    # G8: roles an IdP may assign to its users (scim_conformance.py assigns them).
    admin_api POST "http://127.0.0.1:$PORT/admin/v1/orgs/$ORG_ID/sites" '{"id":"acme","name":"acme.example.net"}'
    admin_api POST "http://127.0.0.1:$PORT/admin/v1/orgs/$ORG_ID/products" \
        '{"id":"jira","name":"Jira","siteId":"acme","roles":["user","admin"]}'

    # end_to_end NAME COMMAND...: runs one end-to-end check against the functions; a
    # failure keeps their log and becomes the script's status (unless one failed before).
    # Secrets go in as assignments before the call (environment), never as arguments.
    failed_checks=0
    end_to_end() {
        local name="$1" started=$SECONDS rc=0
        shift
        "$@" || rc=$?
        if [ "$rc" != 0 ]; then
            warn "$name failed (status $rc); the functions' log: ${WATCH_LOG#"$ROOT"/}"
            failed_checks=1
            if [ "$status" = 0 ]; then status=$rc; fi
        fi
        log "$name step: $((SECONDS - started))s"
    }
    if [ "${SCIMLINK_SKIP_CONFORMANCE:-0}" != 1 ]; then
        log "scim2-tester against http://127.0.0.1:$PORT$SCIM_PATH"
        SCIM_TOKEN="$SCIM_TOKEN" end_to_end "scim2-tester" \
            python "$INFRA_LOCAL/scim_conformance.py" "http://127.0.0.1:$PORT$SCIM_PATH"
    fi
    # --- admin API fuzzing: Schemathesis from the document the functions serve ------
    if [ "${SCIMLINK_SKIP_API_FUZZ:-0}" != 1 ]; then
        log "schemathesis against http://127.0.0.1:$PORT/admin/v1 (docs/openapi.json as served)"
        OPERATOR_KEY="$OPERATOR_KEY" end_to_end "schemathesis" \
            python "$INFRA_LOCAL/api_fuzz.py" "http://127.0.0.1:$PORT/admin/v1"
    fi
    # --- the web console in a real browser ------------------------------------------
    if [ "${SCIMLINK_SKIP_BROWSER:-0}" != 1 ]; then
        log "headless chromium against http://127.0.0.1:$PORT/console"
        browser_args=()
        if [ "${SCIMLINK_DOCS_SCREENSHOTS:-0}" = 1 ]; then browser_args+=(--docs-screenshots "$ROOT/docs"); fi
        OPERATOR_KEY="$OPERATOR_KEY" end_to_end "browser" \
            python "$INFRA_LOCAL/console_browser.py" "http://127.0.0.1:$PORT" "${browser_args[@]}"
    fi
    if [ "$failed_checks" = 0 ]; then rm -f "$WATCH_LOG"; fi
fi

# --- the local stack as `make run` serves it --------------------------------------
if [ "${SCIMLINK_SKIP_STACK:-0}" != 1 ]; then
    started=$SECONDS
    rc=0
    "$INFRA_LOCAL/stack_test.sh" || rc=$?
    if [ "$rc" != 0 ] && [ "$status" = 0 ]; then status=$rc; fi
    log "stack step: $((SECONDS - started))s"
fi

exit "$status"
