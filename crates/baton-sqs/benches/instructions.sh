#!/usr/bin/env bash
# Instructions per SQS call, raw SDK client against Baton's interceptor and Tower form, counted
# with callgrind (repeatable whatever else the machine is doing). Each variant runs at 20 and
# 120 calls; per call = (I(120) - I(20)) / 100, so start-up and warm-up cancel out.
#
# The benches count under mimalloc (glibc's allocator moved a call by up to ±4,000 from one
# process to the next); processes of one binary then agree within about ±100, and two builds
# of the same bench code within about ±450 on rows whose code did not change (code layout).
# Each variant is run REPEAT times (default 5) and the median of the per-call figures printed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../../.."
repeat=${REPEAT:-5}
# BIN=path runs another build of the bench (an older commit's, to compare); VARIANTS=".." picks
# the variants (an older build may not know the newer ones).
# CRATE=baton-kinesis (or baton-lambda) counts that crate's `instructions` bench instead; its
# binary lists its own variants.
crate=${CRATE:-baton-sqs}
# BENCH=service_instructions (with CRATE=baton-integration) counts SNS, EventBridge and Step
# Functions calls.
bench=${BENCH:-instructions}
if [[ -z ${BIN:-} ]]; then
    # The binary cargo names (each crate's bench is called `instructions`).
    BIN=$(cargo bench -p "$crate" --bench "$bench" --no-run 2>&1 |
        sed -n 's/.*Executable .*(\(.*\))$/\1/p' | tail -n 1)
    if [[ -z $BIN ]]; then
        echo "building the $crate $bench bench failed:" >&2
        cargo bench -p "$crate" --bench "$bench" --no-run >&2
        exit 1
    fi
fi
bin=$BIN
if [[ $crate != baton-sqs && -z ${VARIANTS:-} ]]; then
    VARIANTS=$("$bin" variants)
fi
count() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" 2>&1 |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
printf '%-22s %14s\n' variant instructions/call
for variant in ${VARIANTS:-send-raw send-raw-header send-hand send-hand-conventions send-noop-interceptor send-interceptor send-interceptor-shared send-tower-bare send-tower send-tower-service receive-raw receive-hand receive-hand-conventions receive-interceptor receive-interceptor-shared receive-tower}; do
    for _ in $(seq "$repeat"); do
        low=$(count "$variant" 20)
        high=$(count "$variant" 120)
        echo $(((high - low) / 100))
    done | sort -n | awk -v v="$variant" '{a[NR] = $1} END {printf "%-22s %14d\n", v, a[int((NR + 1) / 2)]}'
done
