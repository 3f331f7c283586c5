#!/usr/bin/env bash
# Wall time per call, each variant in a process of its own: the `instructions` bench binaries
# run natively (no valgrind), at two counts, so start-up cancels out: per call =
# (T(HIGH) - T(LOW)) / (HIGH - LOW). Each round runs every variant once, in an order rotated
# from round to round; a pair's added time is taken within a round (variant minus its base),
# so slow drift on a shared machine mostly cancels, and the median over ROUNDS rounds is
# printed with the interquartile range of the added time (one wall-time ratio can still move
# by half from one run of the script to the next: see docs/BENCHMARKS.md).
#
#   bash crates/baton-sqs/benches/walltime.sh                       # SQS
#   CRATE=baton-integration BENCH=service_instructions bash crates/baton-sqs/benches/walltime.sh
#
# PAIRS="base:variant ..." picks the comparisons (the SNS/EventBridge/Step Functions binary
# lists its own with `pairs`); ROUNDS (default 9), LOW (2000) and HIGH (12000) set the effort;
# BIN=path times another build. The binaries allocate through mimalloc, as for the instruction
# counts; `cargo bench --bench interleaved` times the same calls with glibc's allocator.
set -euo pipefail
# EPOCHREALTIME and awk must agree on the decimal point.
export LC_ALL=C
cd "$(dirname "${BASH_SOURCE[0]}")/../../.."
crate=${CRATE:-baton-sqs}
bench=${BENCH:-instructions}
rounds=${ROUNDS:-9}
low=${LOW:-2000}
high=${HIGH:-12000}
if [[ -z ${BIN:-} ]]; then
    BIN=$(cargo bench -p "$crate" --bench "$bench" --no-run 2>&1 |
        sed -n 's/.*Executable .*(\(.*\))$/\1/p' | tail -n 1)
    if [[ -z $BIN ]]; then
        echo "building the $crate $bench bench failed:" >&2
        cargo bench -p "$crate" --bench "$bench" --no-run >&2
        exit 1
    fi
fi
if [[ -z ${PAIRS:-} ]]; then
    if [[ $crate == baton-sqs ]]; then
        PAIRS="send-raw:send-raw-header send-raw:send-hand send-raw:send-hand-conventions
            send-raw:send-interceptor send-raw:send-interceptor-shared
            send-tower-bare:send-tower send-tower-bare:send-tower-service
            receive-raw:receive-hand receive-raw:receive-hand-conventions
            receive-raw:receive-interceptor receive-raw:receive-interceptor-shared
            receive-tower-bare:receive-tower"
    else
        PAIRS=$("$BIN" pairs 2>/dev/null || true)
    fi
fi
if [[ -z ${PAIRS// /} ]]; then
    echo "no pairs to compare: this bench lists none; give PAIRS=\"base:variant ...\"" >&2
    exit 1
fi
read -r -a pairs <<<"$(echo $PAIRS)"
# Every variant named by a pair, once.
variants=()
for pair in "${pairs[@]}"; do
    for v in "${pair%%:*}" "${pair##*:}"; do
        [[ " ${variants[*]} " == *" $v "* ]] || variants+=("$v")
    done
done
# µs per call of one variant, in one process pair.
# A run that fails stops the script (a panicking or unknown variant would otherwise be timed).
per_call() {
    local start mid end
    start=$EPOCHREALTIME
    "$BIN" "$1" "$low" >/dev/null || return 1
    mid=$EPOCHREALTIME
    "$BIN" "$1" "$high" >/dev/null || return 1
    end=$EPOCHREALTIME
    awk -v a="$start" -v b="$mid" -v c="$end" -v n=$((high - low)) \
        'BEGIN { printf "%.3f", ((c - b) - (b - a)) * 1e6 / n }'
}
results=$(mktemp)
trap 'rm -f "$results"' EXIT
count=${#variants[@]}
for round in $(seq 0 $((rounds - 1))); do
    for i in $(seq 0 $((count - 1))); do
        v=${variants[$(((i + round) % count))]}
        if ! t=$(per_call "$v"); then
            echo "variant $v failed (run \"$BIN $v 1\" to see why)" >&2
            exit 1
        fi
        echo "$round $v $t" >>"$results"
    done
done
printf '%-48s %10s %10s %8s\n' "variant vs base" "base µs" "added µs" "spread"
for pair in "${pairs[@]}"; do
    base=${pair%%:*}
    variant=${pair##*:}
    # Per round: base time, and variant minus base; medians over rounds, and the
    # interquartile range of the added time as its spread.
    awk -v b="$base" -v v="$variant" '
        function sort(a, n,    i, j, t) {
            for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
                t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
            }
        }
        $2 == b { base[$1] = $3 } $2 == v { with[$1] = $3 }
        END {
            n = 0
            for (r in base) if (r in with) { n++; bs[n] = base[r]; ds[n] = with[r] - base[r] }
            sort(bs, n); sort(ds, n)
            q1 = ds[int((n + 3) / 4)]; q3 = ds[int((3 * n + 3) / 4)]
            printf "%-48s %10.2f %+10.2f %8.2f\n", v " vs " b, bs[int((n + 1) / 2)], ds[int((n + 1) / 2)], q3 - q1
        }' "$results"
done
