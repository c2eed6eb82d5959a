#!/usr/bin/env bash
# `make build`: release builds of every function package (functions/*) for
# AWS Lambda on arm64 (Graviton), as target/lambda/<function>/bootstrap.
#
# cargo-lambda cross-compiles with zig as the linker; zig comes from the
# `ziglang` PyPI package in .local/venv (a dependency of cargo-lambda, pinned in
# requirements.txt), found as `python3 -m ziglang` through the venv's python.
# The Rust std for aarch64-unknown-linux-gnu is added with rustup when missing
# (cargo-lambda would do it too; doing it here gives a clearer error).
# Extra arguments go to `cargo lambda build`.
set -euo pipefail
# shellcheck source=infra/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

"$INFRA_LOCAL/setup.sh"
use_venv

TARGET=aarch64-unknown-linux-gnu
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$TARGET"; then
    log "rustup target add $TARGET"
    rustup target add "$TARGET" || die "could not add the Rust target $TARGET (needs access to the Rust toolchain server)"
fi

# Every package under functions/ (new functions are picked up as they appear).
mapfile -t PACKAGES < <(function_packages)
[ "${#PACKAGES[@]}" -gt 0 ] || die "no function packages under functions/"
pkg_args=()
for p in "${PACKAGES[@]}"; do pkg_args+=(-p "$p"); done

log "cargo lambda build --release --arm64 ${pkg_args[*]}"
cargo lambda build --release --arm64 "${pkg_args[@]}" "$@"

target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
for p in "${PACKAGES[@]}"; do
    ls -l "$target_dir/lambda/$p/bootstrap"
done
