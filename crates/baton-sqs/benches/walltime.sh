#!/usr/bin/env bash
# Time per call, each variant in a process of its own: the `instructions` bench binaries run
# natively (no valgrind) at two counts and time their own loop, so set-up cancels out: per
# call = (T(HIGH) - T(LOW)) / (HIGH - LOW). Two clocks: wall time, and the time the thread was
# on a CPU (the wall time less what other processes of a shared machine took from it; see
# baton_test_support::LoopTimer). Each round runs every variant once, in an order rotated from
# round to round; a pair's added time is taken within a round (variant minus its base), so
# slow drift mostly cancels, and the median over ROUNDS rounds is printed with the
# interquartile range of the added time (one wall-time ratio can still move by half from one
# run of the script to the next: see docs/BENCHMARKS.md).
#
#   bash crates/baton-sqs/benches/walltime.sh                       # SQS
#   CRATE=baton-integration BENCH=service_instructions bash crates/baton-sqs/benches/walltime.sh
#
# PAIRS="base:variant ..." picks the comparisons (the SNS/EventBridge/Step Functions binary
# lists its own with `pairs`); ROUNDS (default 9), LOW (2000) and HIGH (12000) set the effort;
# BIN=path times another build. The binaries allocate through mimalloc, as for the instruction
# counts; `cargo bench --bench interleaved` times the same calls with glibc's allocator.
set -euo pipefail
# awk must print a decimal point.
export LC_ALL=C
cd "$(dirname "${BASH_SOURCE[0]}")/../../.."
crate=${CRATE:-baton-sqs}
bench=${BENCH:-instructions}
rounds=${ROUNDS:-9}
low=${LOW:-2000}
high=${HIGH:-12000}
if [[ -z ${BIN:-} ]]; then
    BIN=$(cargo bench -p "$crate" --bench "$bench" --no-run 2>&1 |
        sed -n 's/.*Executable .*(\(.*\))$/\1/p' | tail -n 1) || true
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
            receive-raw:receive-hand receive-raw:receive-hand-carriers receive-raw:receive-hand-conventions
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
# µs per call of one variant, in one process pair: "wall on-CPU". Each process times its own
# loop (BATON_BENCH_TIMES: wall and on-CPU nanoseconds, see baton_test_support::LoopTimer),
# so process start-up is left out and the two counts cancel what is left of set-up.
# A run that fails stops the script (a panicking or unknown variant would otherwise be timed).
per_call() {
    local lows highs
    lows=$(BATON_BENCH_TIMES=1 "$BIN" "$1" "$low") || return 1
    highs=$(BATON_BENCH_TIMES=1 "$BIN" "$1" "$high") || return 1
    awk -v l="$lows" -v h="$highs" -v n=$((high - low)) 'BEGIN {
        split(l, a, " "); split(h, b, " ")
        if (a[1] == "" || b[1] == "") exit 1
        cpu = (a[2] == "-" || b[2] == "-") ? "-" : sprintf("%.3f", (b[2] - a[2]) / n / 1e3)
        printf "%.3f %s", (b[1] - a[1]) / n / 1e3, cpu
    }'
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
printf '%-44s %9s %9s %7s %9s %7s\n' "variant vs base" "base µs" "wall +µs" spread "CPU +µs" spread
for pair in "${pairs[@]}"; do
    base=${pair%%:*}
    variant=${pair##*:}
    # Per round: base time, and variant minus base (wall, then on-CPU); medians over rounds,
    # and the interquartile range of each added time as its spread.
    awk -v b="$base" -v v="$variant" '
        function sort(a, n,    i, j, t) {
            for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
                t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
            }
        }
        function q(a, n, k) { return a[int((k * n + 3) / 4)] }
        $2 == b { base[$1] = $3; basec[$1] = $4 } $2 == v { with[$1] = $3; withc[$1] = $4 }
        END {
            n = 0; nocpu = 0
            for (r in base) if (r in with) {
                n++; bs[n] = base[r]; ds[n] = with[r] - base[r]
                # No on-CPU clock on this system ("-"): that column says so.
                if (withc[r] == "-" || basec[r] == "-") nocpu = 1; else cs[n] = withc[r] - basec[r]
            }
            sort(bs, n); sort(ds, n)
            printf "%-44s %9.2f %+9.2f %7.2f", v " vs " b, bs[int((n + 1) / 2)],
                ds[int((n + 1) / 2)], q(ds, n, 3) - q(ds, n, 1)
            if (nocpu) printf " %9s %7s\n", "n/a", "n/a"
            else {
                sort(cs, n)
                printf " %+9.2f %7.2f\n", cs[int((n + 1) / 2)], q(cs, n, 3) - q(cs, n, 1)
            }
        }' "$results"
done
