#!/usr/bin/env bash
# Instructions per message of SqsWorker and of a plain loop against the in-process SQS stub,
# counted by callgrind (repeatable whatever else the machine does). Each side runs twice, with
# 1,000 and 3,000 messages; the difference divided by 2,000 is the cost per message, free of
# start-up costs.
#   bash integration/benches/worker_instructions.sh
# Modes: plain (the loop), noop (worker, no-op tracer), traced (spans recorded), and with spans
# recorded: facts (`with_delivery_facts(true)`), meter (`with_meter`), both. `MODES="plain
# traced"` picks some; `BIN=path` counts another build of the bench (an older commit's, say)
# without building (it must know the modes asked for).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
if [[ -z "${BIN:-}" ]]; then
    cargo bench -p baton-integration --bench worker_overhead --no-run 2>&1 | tail -1
    bin="$(ls -t target/release/deps/worker_overhead-* | grep -v '\.d$' | head -1)"
else
    bin="$BIN"
fi
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
for mode in ${MODES:-plain noop traced facts meter both}; do
    a="$(count "$mode" 1000)"
    b="$(count "$mode" 3000)"
    per[$mode]=$(((b - a) / 2000))
    printf '%-28s %14d\n' "$mode" "${per[$mode]}"
done
if [[ -n "${per[plain]:-}" && -n "${per[noop]:-}" && -n "${per[traced]:-}" ]]; then
    echo "worker over plain loop: no-op tracer +$((per[noop] - per[plain])), spans recorded +$((per[traced] - per[plain])) instructions/message"
fi
for mode in facts meter both; do
    if [[ -n "${per[$mode]:-}" && -n "${per[traced]:-}" ]]; then
        echo "$mode over traced: +$((per[$mode] - per[traced])) instructions/message"
    fi
done
