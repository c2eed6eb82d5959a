#!/usr/bin/env bash
# `make bench`: `scimlink-local bench` (release build) against a fresh,
# in-memory DynamoDB Local on a free port, stopped afterwards.
# Extra arguments go to the bench command (e.g. `infra/local/bench.sh 1000`
# for a smaller member count than its default).
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

# Build before starting DynamoDB Local, so compile time doesn't count against it. The
# functions' release binaries are measured through the Lambda runtime path
# ("Per request, through the Lambda runtime" in BENCHMARKS.md); `build_functions` builds
# them as `SCIMLINK_RELEASE=1 make run` serves them (one variant of the shared crates).
build_functions --release
cargo build --release -q --bin scimlink-local

DDB_PORT="$(free_port)"
"$INFRA_LOCAL/dynamodb.sh" start "$DDB_PORT" >/dev/null
export_local_aws_env "$DDB_PORT"
export SCIMLINK_TABLE=scimlink

# `bench` creates the table itself and writes BENCHMARKS.md in the repo root.
cargo run --release -q --bin scimlink-local -- bench "$@"
