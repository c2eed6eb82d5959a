# scimlink developer entry points. Each target sets up what it needs itself
# (infra/local/setup.sh: fast when already done). See infra/README.md.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV := .local/venv

.PHONY: help setup run test lint build deploy bench

help:
	@echo "make setup   install local tools into .local/ (DynamoDB Local, cargo-lambda, cfn-lint)"
	@echo "make run     DynamoDB Local + all functions on http://127.0.0.1:\$${SCIMLINK_PORT:-9000}, demo data, foreground"
	@echo "            debug builds, reloaded on change; SCIMLINK_RELEASE=1 make run: release builds,"
	@echo "            \$${SCIMLINK_INSTANCES:-2} instances per function (parallel requests), no reloading"
	@echo "make test    cargo test --workspace against a private DynamoDB Local, then scim2-tester against the functions"
	@echo "            and make run twice: first requests, sample events, SIGTERM (SCIMLINK_SKIP_STACK=1: not)"
	@echo "make lint    rustfmt, clippy -D warnings, cfn-lint, table definition check"
	@echo "make build   release arm64 Lambda binaries (target/lambda/<fn>/bootstrap)"
	@echo "make deploy  sam build && sam deploy --guided (needs AWS credentials)"
	@echo "make bench   scimlink-local bench against a fresh DynamoDB Local"

setup:
	infra/local/setup.sh

run:
	infra/local/run.sh

test:
	infra/local/test.sh

lint: setup
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	$(VENV)/bin/cfn-lint infra/template.yaml
	$(VENV)/bin/python infra/local/check_table.py

build:
	infra/local/build.sh

deploy:
	infra/local/deploy.sh

bench:
	infra/local/bench.sh
