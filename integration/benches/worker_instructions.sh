#!/usr/bin/env bash
# Instructions per message of SqsWorker and of a plain loop against the in-process SQS stub,
# counted by callgrind (repeatable whatever else the machine does). Each side runs twice, with
# 1,000 and 3,000 messages; the difference divided by 2,000 is the cost per message, free of
# start-up costs.
#   bash integration/benches/worker_instructions.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
cargo bench -p baton-integration --bench worker_overhead --no-run 2>&1 | tail -1
bin="$(ls -t target/release/deps/worker_overhead-* | grep -v '\.d$' | head -1)"
count() {
    local out
    out="$(mktemp)"
    BATON_WORKER_BENCH_MODE="$1" BATON_WORKER_BENCH_N="$2" \
        valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" >/dev/null 2>&1
    grep '^summary:' "$out" | awk '{print $2}'
    rm -f "$out"
}
printf '%-28s %14s\n' "side" "instructions/message"
declare -A per
for mode in plain noop traced; do
    a="$(count "$mode" 1000)"
    b="$(count "$mode" 3000)"
    per[$mode]=$(((b - a) / 2000))
    printf '%-28s %14d\n' "$mode" "${per[$mode]}"
done
echo "worker over plain loop: no-op tracer +$((per[noop] - per[plain])), spans recorded +$((per[traced] - per[plain])) instructions/message"
