#!/usr/bin/env bash
# The whole flow on one machine, one command: LocalStack (S3 + SQS, on the host, no Docker),
# its bucket and its two queues (interactive and bulk lanes), `reportq serve` on
# http://127.0.0.1:8080 (the page to try it is at /) and `reportq worker` (polling both lanes).
# Ctrl-C stops everything. Then, in another terminal:
#
#   target/release/reportq submit examples/diagram.json --wait -o report.pdf
#
# Settings: REPORTQ_LISTEN (127.0.0.1:8080), REPORTQ_CORS_ORIGINS (http://localhost:3000),
# REPORTQ_DIAGRAM_MODEL (tests/fixtures/diagram-like.bif: a made-up network of DiAGRAM's shape),
# REPORTQ_TEX_BUNDLE (~/.cache/reportq/tex-bundle; `make setup` builds it).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${REPORTQ_BIN:-target/release/reportq}
STATE=${REPORTQ_LOCALSTACK_STATE:-$HOME/.cache/reportq/localstack-dev}
[ -x "$BIN" ] || cargo build --release --locked

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait "${pids[@]}" 2>/dev/null || true
  scripts/localstack.sh stop "$STATE"
}
trap cleanup EXIT INT TERM

eval "export $(scripts/localstack.sh start "$STATE")"
export AWS_REGION=${AWS_REGION:-us-east-1} AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
# The origins go to the API and, through the init script, to the bucket's CORS rule.
export REPORTQ_CORS_ORIGINS=${REPORTQ_CORS_ORIGINS:-http://localhost:3000}
while IFS= read -r line; do export "$line"; done < <(scripts/localstack.sh init "$STATE")
export REPORTQ_LISTEN=${REPORTQ_LISTEN:-127.0.0.1:8080}
export REPORTQ_DIAGRAM_MODEL=${REPORTQ_DIAGRAM_MODEL:-$PWD/tests/fixtures/diagram-like.bif}
# Webhooks: a fresh signing secret per run (printed, for your receiver), and receivers on this
# machine allowed (a deployment allows public https addresses only).
export REPORTQ_WEBHOOK_SECRETS=${REPORTQ_WEBHOOK_SECRETS:-$("$BIN" webhook secret)}
export REPORTQ_WEBHOOK_ALLOW_NETS=${REPORTQ_WEBHOOK_ALLOW_NETS:-127.0.0.0/8,::1}
echo "dev: webhooks signed with $REPORTQ_WEBHOOK_SECRETS (check one: $BIN webhook verify --help)" >&2
echo "dev: LocalStack at $AWS_ENDPOINT_URL, bucket $REPORTQ_BUCKET, queues $REPORTQ_INTERACTIVE_QUEUE_URL (interactive) and $REPORTQ_QUEUE_URL (bulk)" >&2

"$BIN" serve & pids+=($!)
"$BIN" worker & pids+=($!)
echo "dev: API and its page on http://$REPORTQ_LISTEN/ — or try: $BIN submit examples/diagram.json --wait -o report.pdf --url http://$REPORTQ_LISTEN" >&2
wait -n "${pids[@]}"
