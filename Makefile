# The two commands a fresh machine needs:  `make report`  and  `make test`.
SHELL := /bin/bash
export REPORTQ_TEX_BUNDLE ?= $(HOME)/.cache/reportq/tex-bundle
BIN := target/release/reportq

.PHONY: deps build setup report test bench lint-infra smoke-readonly

deps:
	scripts/install-deps.sh

build: deps
	cargo build --release --locked

# The offline TeX bundle and its pre-built format (idempotent: quick when already done).
setup: build
	REPORTQ_BIN=$(BIN) scripts/tex-bundle.sh

# Renders the example DiAGRAM report to report.pdf.
report: setup
	$(BIN) render examples/diagram.json -o report.pdf

# The deployment files, checked without a Docker engine: cfn-lint, hadolint, template rules,
# and the Dockerfile's script and binaries against this tree (scripts/check-dockerfile.sh).
lint-infra: build
	scripts/check-dockerfile.sh

# A render as the worker image runs on Lambda: non-root, read-only filesystem, only /tmp
# writable, the bundle prepared as the Dockerfile does (skips where unshare -m is not allowed).
smoke-readonly: setup
	scripts/readonly-smoke.sh $(BIN)

test: setup lint-infra smoke-readonly
	@if cargo nextest --version >/dev/null 2>&1; then \
	  cargo nextest run --release --locked --no-fail-fast; \
	else \
	  cargo test --release --locked --no-fail-fast; \
	fi

bench: setup
	$(BIN) bench
	cargo run --release --locked --example score_bench
