#!/usr/bin/env bash
# The trace view's page in a real browser. Installs what it needs (Debian's chromium when
# /usr/bin/chromium is missing, playwright-core from npm), builds baton-trace, starts
# `baton-trace serve` on free ports, feeds it demo-like traces through the real X-Ray
# exporter (examples/feed_demo.rs: SNS, SQS, EventBridge and Step Functions hops, one fault,
# one throttle, one 4xx error, one linked trace), runs page.test.mjs in headless Chromium,
# and stops the server. The screenshot goes to $BATON_TRACE_SCREENSHOT, by default
# target/trace-view.png under the repository.
#
#   bash crates/baton-trace/browser-test/run.sh
#
# Honours CARGO_TARGET_DIR.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
screenshot="${BATON_TRACE_SCREENSHOT:-$root/target/trace-view.png}"

if [ ! -x /usr/bin/chromium ]; then
    echo "run.sh: installing Debian's chromium"
    sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q chromium
fi

cd "$here"
if [ -f package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
else
    npm install --no-audit --no-fund --loglevel=error
fi

cd "$root"
cargo build -q --locked -p baton-trace --bin baton-trace --example feed_demo

log="$(mktemp)"
server=""
cleanup() {
    if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then
        kill -INT "$server" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$server" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$server" 2>/dev/null || true
    fi
    rm -f "$log"
}
trap cleanup EXIT

"$target/debug/baton-trace" serve --listen 127.0.0.1:0 --http 127.0.0.1:0 2>"$log" &
server=$!

udp="" page=""
for _ in $(seq 100); do
    udp="$(sed -n 's/.*listening on udp \([0-9.:]*\).*/\1/p' "$log" | head -n 1)"
    page="$(sed -n 's/.*trace view at \(http:[^ ]*\).*/\1/p' "$log" | head -n 1)"
    if [ -n "$udp" ] && [ -n "$page" ]; then break; fi
    if ! kill -0 "$server" 2>/dev/null; then
        cat "$log" >&2
        echo "run.sh: baton-trace serve stopped" >&2
        exit 1
    fi
    sleep 0.1
done
if [ -z "$udp" ] || [ -z "$page" ]; then
    cat "$log" >&2
    echo "run.sh: baton-trace serve did not say where it listens" >&2
    exit 1
fi
echo "run.sh: baton-trace serve on udp $udp, page $page"

"$target/debug/examples/feed_demo" "$udp"

BATON_TRACE_URL="$page" BATON_TRACE_SCREENSHOT="$screenshot" node "$here/page.test.mjs"
