#!/usr/bin/env bash
# `make deploy`: `sam build` + `sam deploy --guided` of infra/template.yaml.
#
# Needs AWS credentials in the environment (or a profile) and asks for the
# stack name, region and the OperatorKey parameter (NoEcho) on first use; the
# answers go to infra/samconfig.toml (commit it without secrets if you like).
# The SAM CLI is installed lazily into .local/venv-deploy; `sam build` calls
# cargo-lambda from .local/venv, which must be on PATH.
set -euo pipefail
# shellcheck source=infra/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT/infra"

"$INFRA_LOCAL/setup.sh" --deploy
use_venv
export PATH="$LOCAL/venv-deploy/bin:$PATH"
# SAM's rust-cargolambda build method is a beta feature in some SAM CLI releases.
export SAM_CLI_BETA_RUST_CARGO_LAMBDA=1
# sam copies target/lambda/<bin>/bootstrap from the workspace root: a custom
# CARGO_TARGET_DIR would move it elsewhere.
unset CARGO_TARGET_DIR

log "sam build (cargo lambda build --release --arm64 per function)"
sam build --template-file template.yaml
log "sam deploy --guided"
sam deploy --guided "$@"
