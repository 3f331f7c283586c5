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
        sed -n 's/.*Executable .*(\(.*\))$/\1/p' | tail -n 1) || true
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
# SHA=exclude: leave SHA-256 out of the count. Valgrind cannot run the x86 SHA extensions, so
# under it the `sha2` crate signs requests with its software fallback, about twenty times the
# instructions of the SHA-NI code a native run uses (checked with gdb on this machine): a
# larger request (a trace header, more attribute names) then looks far dearer than it is.
# Counted twice, once in all and once inside `sha2::sha256::soft` only, and the second taken
# from the first. (The instruction count only: `SIM=cache` counts the fallback as it runs.)
if [[ ${SHA:-} == exclude ]]; then
    count() {
        local all sha
        all=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" 2>&1 |
            sed -n 's/.*Collected : \([0-9]*\).*/\1/p')
        sha=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null \
            '--toggle-collect=sha2::sha256::soft::*' "$bin" "$1" "$2" 2>&1 |
            sed -n 's/.*Collected : \([0-9]*\).*/\1/p')
        if [[ -z $all || -z $sha || $sha == 0 ]]; then
            echo "SHA=exclude: no SHA-256 fallback counted in $1 (was sha2::sha256::soft renamed?)" >&2
            return 1
        fi
        echo $((all - sha))
    }
fi
# SIM=cache: cachegrind instead, with caches like this machine's (AMD EPYC: 32 KiB 8-way L1s,
# 512 KiB 8-way L2 simulated as the last level). Prints, per call, the instructions, the
# instruction fetches that miss L1 and those that miss L2. The SDK's code touched in one call
# is larger than L2, so every line of code a call adds evicts others: wall time follows the L2
# misses much more than the instruction count (see docs/BENCHMARKS.md).
sim() {
    local out line
    out=$(mktemp)
    if ! valgrind --tool=cachegrind --cache-sim=yes --I1=32768,8,64 --D1=32768,8,64 \
        --LL=524288,8,64 --error-exitcode=3 --cachegrind-out-file="$out" \
        "$bin" "$1" "$2" >/dev/null 2>"$out.log"; then
        echo "cachegrind of $1 failed:" >&2
        tail -n 5 "$out.log" >&2
        rm -f "$out" "$out.log"
        return 1
    fi
    line=$(awk '/^events:/ { for (i = 2; i <= NF; i++) e[$i] = i - 1 }
         /^summary:/ { print $(e["Ir"] + 1), $(e["I1mr"] + 1), $(e["ILmr"] + 1) }' "$out")
    rm -f "$out" "$out.log"
    [[ -n $line ]] || { echo "no cachegrind summary for $1" >&2; return 1; }
    echo "$line"
}
default="send-raw send-raw-header send-hand send-hand-conventions send-noop-interceptor send-interceptor send-interceptor-shared send-tower-bare send-tower send-tower-service receive-raw receive-hand receive-hand-carriers receive-hand-conventions receive-interceptor receive-interceptor-shared receive-tower-bare receive-tower"
if [[ ${SIM:-} == cache ]]; then
    printf '%-22s %14s %10s %10s\n' variant instructions "L1i miss" "L2i miss"
    for variant in ${VARIANTS:-$default}; do
        for _ in $(seq "$repeat"); do
            lows=$(sim "$variant" 20) || exit 1
            highs=$(sim "$variant" 120) || exit 1
            read -r -a low <<<"$lows"
            read -r -a high <<<"$highs"
            echo $(((high[0] - low[0]) / 100)) $(((high[1] - low[1]) / 100)) $(((high[2] - low[2]) / 100))
        done | awk -v v="$variant" '
            function median(a, n,    i, j, t) {
                for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
                    t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
                }
                return a[int((n + 1) / 2)]
            }
            { ir[NR] = $1; i1[NR] = $2; il[NR] = $3 }
            END { printf "%-22s %14d %10d %10d\n", v, median(ir, NR), median(i1, NR), median(il, NR) }'
    done
    exit 0
fi
printf '%-22s %14s\n' variant instructions/call
for variant in ${VARIANTS:-$default}; do
    for _ in $(seq "$repeat"); do
        low=$(count "$variant" 20)
        high=$(count "$variant" 120)
        echo $(((high - low) / 100))
    done | sort -n | awk -v v="$variant" '{a[NR] = $1} END {printf "%-22s %14d\n", v, a[int((NR + 1) / 2)]}'
done
