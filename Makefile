# The two commands a fresh machine needs:  `make report`  and  `make test`.
SHELL := /bin/bash
export REPORTQ_TEX_BUNDLE ?= $(HOME)/.cache/reportq/tex-bundle
# CARGO_TARGET_DIR (a build cache kept outside the clone) is honoured everywhere.
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
BIN := $(TARGET_DIR)/release/reportq
# Each long step says when it starts (seconds since 1970): CI's phases can be timed from its log.
STAMP = @echo "make: $@ starts at $$(date +%s)" >&2

.PHONY: deps build setup report test test-fast fmt-check lint bench localstack dev bench-pipeline lint-infra smoke-readonly fuzz-api browser-test bench-lanes bench-telemetry podman base-images image image-test

deps:
	scripts/install-deps.sh

# The binaries and the tests in one go: the heaviest crates (tectonic, the AWS SDK, reqwest)
# are compiled once, with one feature set (see Cargo.toml), for everything that follows. The
# integration tests are one binary (tests/it). Examples (benchmarks, the long soak) build on
# demand with the same features: `cargo build --release --examples`.
build: deps
	$(STAMP)
	cargo build --release --locked --bins --lib --tests

# The offline TeX bundle and its pre-built format (idempotent: quick when already done).
setup: build
	$(STAMP)
	REPORTQ_BIN=$(BIN) scripts/tex-bundle.sh

# Renders the example DiAGRAM report to report.pdf.
report: setup
	$(BIN) render examples/diagram.json -o report.pdf

# LocalStack on the host (a venv under ~/.cache/reportq; quick when already installed).
localstack:
	scripts/install-localstack.sh

# The deployment files, checked without a Docker engine: cfn-lint, hadolint, template rules,
# and the Dockerfile's script and binaries against this tree (scripts/check-dockerfile.sh).
# The Lambda binaries must exist: `build` made them.
lint-infra: build
	$(STAMP)
	REPORTQ_REQUIRE_LAMBDA_BINS=1 scripts/check-dockerfile.sh
	scripts/check-layout.py --self-test

# A render as the worker image runs on Lambda: non-root, read-only filesystem, only /tmp
# writable, the bundle prepared as the Dockerfile does (skips where unshare -m is not allowed).
smoke-readonly: setup
	$(STAMP)
	scripts/readonly-smoke.sh $(BIN)

# schemathesis against `reportq serve`, driven by its own OpenAPI document: no 5xx, every
# answer as documented. The examples and coverage phases run whole; the random fuzzing phase
# runs for FUZZ_SECONDS (about 78 cases a second here; `make fuzz-api FUZZ_SECONDS=300` for
# the longer run CI did before).
FUZZ_SECONDS ?= 150
fuzz-api: setup localstack
	$(STAMP)
	REPORTQ_BIN=$(BIN) scripts/fuzz-api.sh 25 --max-time $(FUZZ_SECONDS)

# Headless Debian Chromium (selenium) against the page, its client module and DiAGRAM's
# frontend calls, with the page, the API and S3 on three loopback origins (tests/browser).
# Screenshots of failed tests land in target/browser-artifacts/.
browser-test: setup localstack
	$(STAMP)
	REPORTQ_BIN=$(abspath $(BIN)) scripts/browser-tests.sh

# The two Lambda images, built with podman (no Docker engine, no registry): the Dockerfile's
# bases are local stand-ins (scripts/base-images.sh: Debian 12 from Debian's archive, Rust 1.95.0
# from this machine's toolchain), podman's settings this repository's (infra/podman, never
# /etc). Cached: a second run with nothing changed takes seconds; a source change recompiles
# reportq in the Rust stage (its target dir is a cache mount), then the formats. Both builds
# hold the cargo lock other builds on this machine take (one compile at a time on 2 cores).
export CONTAINERS_CONF ?= $(CURDIR)/infra/podman/containers.conf
export CONTAINERS_STORAGE_CONF ?= $(CURDIR)/infra/podman/storage.conf
IMAGE_WORKER ?= localhost/reportq-worker:dev
IMAGE_API ?= localhost/reportq-api:dev
DEBIAN_BASE ?= localhost/reportq-base/debian:12-slim
RUST_BASE ?= localhost/reportq-base/rust:1.95.0-slim-bookworm
GIT_COMMIT := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
IMAGE_BUILD = podman build --network host --build-arg DEBIAN_BASE=$(DEBIAN_BASE) \
  --build-arg RUST_BASE=$(RUST_BASE) --build-arg REPORTQ_GIT_COMMIT=$(GIT_COMMIT)

podman:
	scripts/install-podman.sh

base-images: podman
	$(STAMP)
	scripts/base-images.sh

image: base-images
	$(STAMP)
	flock /tmp/cargo.lock sh -c '$(IMAGE_BUILD) -t $(IMAGE_WORKER) . && $(IMAGE_BUILD) --target api -t $(IMAGE_API) .'
	@podman image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E '^localhost/reportq-(worker|api):' >&2

# The built images run as Lambda runs them (tests/it/image.rs through
# scripts/lambda-container.sh: read-only root, uid 65534, no capabilities, prctl refused, no
# Landlock), against the Runtime API emulator and LocalStack.
image-test: image localstack
	$(STAMP)
	@state=$$(mktemp -d); trap 'scripts/localstack.sh stop "$$state"; rm -rf "$$state"' EXIT; \
	eval "export $$(scripts/localstack.sh start "$$state")"; \
	export REPORTQ_TEST_LOCALSTACK=$$AWS_ENDPOINT_URL REPORTQ_IMAGE_TEST=1; unset AWS_ENDPOINT_URL; \
	if cargo nextest --version >/dev/null 2>&1; then \
	  flock /tmp/cargo.lock cargo nextest run --release --locked --no-fail-fast --test it -E 'test(/^image(_[a-z]+)?::/)'; \
	else \
	  flock /tmp/cargo.lock cargo test --release --locked --no-fail-fast --test it -- image; \
	fi

# The fast lane: formatting, the library's unit tests and the in-memory tests (submission,
# claims, leases, races, the one-model property test, the router): no TeX, no LocalStack.
fmt-check:
	cargo fmt --check

# Formatting and clippy with warnings as errors (the GitHub workflow's lint job). Clippy
# type-checks every crate again, so it is not part of `make test`.
lint:
	cargo fmt --check
	cargo clippy --release --locked --all-targets -- -D warnings

test-fast: build
	$(STAMP)
	cargo test --release --locked --lib
	cargo test --release --locked --test it -- domain:: model_routes:: api:: scoring:: access::

# The rest, after the fast lane (whose tests nextest leaves out rather than run twice).
# One LocalStack for the whole run (each test makes its own bucket and queues in it), on a
# free loopback port, stopped afterwards whatever happens. Without REPORTQ_TEST_LOCALSTACK
# each test process starts its own.
# The image tests (image::) run in it, against the images `image` built.
test: fmt-check test-fast setup localstack lint-infra smoke-readonly browser-test fuzz-api image
	$(STAMP)
	@state=$$(mktemp -d); trap 'scripts/localstack.sh stop "$$state"; rm -rf "$$state"' EXIT; \
	eval "export $$(scripts/localstack.sh start "$$state")"; \
	export REPORTQ_TEST_LOCALSTACK=$$AWS_ENDPOINT_URL REPORTQ_IMAGE_TEST=1; unset AWS_ENDPOINT_URL; \
	if cargo nextest --version >/dev/null 2>&1; then \
	  cargo nextest run --release --locked --no-fail-fast -E 'not (kind(lib) | test(/^(domain|model_routes|api|scoring|access)::/))'; \
	else \
	  cargo test --release --locked --no-fail-fast; \
	fi

# LocalStack + bucket and queues + `reportq serve` + `reportq worker`, until Ctrl-C.
dev: setup localstack
	REPORTQ_BIN=$(BIN) scripts/dev.sh

# API submit latency, bulk submit throughput and end-to-end jobs/minute against LocalStack.
bench-pipeline: setup localstack
	cargo run --release --locked --example pipeline_bench

# An interactive report's submit -> PDF time while a 1,000-report batch renders, 2 workers
# (BENCH_LANES=0: the same with one shared queue, for comparison).
bench-lanes: setup localstack
	cargo run --release --locked --example lanes_bench

# API latency and worker throughput with telemetry (JSON logs, metrics, EMF) on vs off.
bench-telemetry: build
	cargo run --release --locked --example telemetry_bench >/dev/null

bench: setup localstack
	$(BIN) bench
	cargo run --release --locked --example score_bench
	cargo run --release --locked --example pipeline_bench
