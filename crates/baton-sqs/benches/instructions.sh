#!/usr/bin/env bash
# Instructions per SQS call, raw SDK client against Baton's interceptor and Tower form, counted
# with callgrind (repeatable whatever else the machine is doing). Each variant runs at 20 and
# 120 calls; per call = (I(120) - I(20)) / 100, so start-up and warm-up cancel out.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../../.."
cargo bench -p baton-sqs --bench instructions --no-run 2>/dev/null
bin=$(ls -t target/release/deps/instructions-* | grep -v '\.d$' | head -n 1)
count() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" 2>&1 |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
printf '%-22s %14s\n' variant instructions/call
for variant in send-raw send-noop-interceptor send-interceptor send-tower-bare send-tower receive-raw receive-interceptor receive-tower; do
    low=$(count "$variant" 20)
    high=$(count "$variant" 120)
    printf '%-22s %14d\n' "$variant" $(((high - low) / 100))
done
