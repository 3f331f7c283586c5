#!/usr/bin/env bash
# The Baton demo in one command: start LocalStack (installing it on first use), then run the
# checkout demo: one order through SNS, an SQS worker, EventBridge, an EventConsumer, Step
# Functions and a second worker, exported through Baton's X-Ray daemon exporter to a local trace
# view, which prints the one trace as a waterfall with its service map and serves it as a web
# page (http://127.0.0.1:2080/). Billing fails once and one EventBridge call is throttled, so
# the map shows more than green. In a terminal the page stays up until Ctrl-C; in CI (CI set,
# or stdout not a terminal) the demo exits at once. BATON_DEMO_KEEP_VIEW=1 or 0 overrides.
# LocalStack keeps running afterwards, so a second run is quick; stop it with localstack/down.sh.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

bash localstack/up.sh
echo
cargo run -q -p checkout-demo
echo
echo "LocalStack is still running at ${BATON_LOCALSTACK_ENDPOINT:-http://127.0.0.1:4566}; stop it with: bash localstack/down.sh"
