#!/usr/bin/env bash
# Wall time per call with every variant in one process: the `instructions` bench binary's
# `interleave` mode times a block of CALLS calls of each variant, round after round (in an
# order shuffled each round), so all variants share the process's code and heap placement. Between
# processes that placement moves one variant's time by several per cent, more than the
# microsecond or so propagation adds (see `walltime.sh`, which runs each variant in processes
# of its own); within one process the difference of two variants is steady. Several processes
# are run, to sample placements: per process the median over rounds of each pair's added time,
# then the median over processes, with the lowest and highest, and the ratio to the first
# pair of the same family (`send-`, `receive-`): the hand-written baseline in the default list.
#
#   bash crates/baton-sqs/benches/interleave.sh
#   BATON_BENCH_CARRIERS=aws PAIRS="receive-raw:receive-hand receive-tower-bare:receive-tower" \
#       bash crates/baton-sqs/benches/interleave.sh
#
# PROCESSES (default 6), ROUNDS (200), CALLS (200) and SKIP (the first rounds left out, 20) set
# the effort; BIN=path times another build.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "${BASH_SOURCE[0]}")/../../.."
processes=${PROCESSES:-6}
rounds=${ROUNDS:-200}
calls=${CALLS:-200}
skip=${SKIP:-20}
if [[ -z ${BIN:-} ]]; then
    BIN=$(cargo bench -p baton-sqs --bench instructions --no-run 2>&1 |
        sed -n 's/.*Executable .*(\(.*\))$/\1/p' | tail -n 1) || true
    if [[ -z $BIN ]]; then
        echo "building the baton-sqs instructions bench failed:" >&2
        cargo bench -p baton-sqs --bench instructions --no-run >&2
        exit 1
    fi
fi
PAIRS=${PAIRS:-"send-raw:send-hand send-raw:send-hand-conventions send-raw:send-interceptor
    send-raw:send-interceptor-shared send-tower-bare:send-tower
    receive-raw:receive-hand receive-raw:receive-hand-carriers
    receive-raw:receive-hand-conventions receive-raw:receive-interceptor
    receive-raw:receive-interceptor-shared receive-tower-bare:receive-tower"}
if ((rounds <= skip)); then
    echo "ROUNDS ($rounds) must be more than SKIP ($skip), the rounds left out" >&2
    exit 1
fi
read -r -a pairs <<<"$(echo $PAIRS)"
variants=()
for pair in "${pairs[@]}"; do
    for v in "${pair%%:*}" "${pair##*:}"; do
        [[ " ${variants[*]} " == *" $v "* ]] || variants+=("$v")
    done
done
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for p in $(seq "$processes"); do
    if ! "$BIN" interleave "$rounds" "$calls" "${variants[@]}" >"$out/$p"; then
        echo "process $p failed (run \"$BIN interleave 2 2 ${variants[*]}\" to see why)" >&2
        exit 1
    fi
done
# Per process and pair: the median over rounds of (variant - base).
for p in $(seq "$processes"); do
    awk -v pairs="${pairs[*]}" -v skip="$skip" -v p="$p" '
        function median(a, n,    i, j, t) {
            for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
                t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
            }
            return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
        }
        NR == 1 { for (i = 2; i <= NF; i++) col[$i] = i; next }
        $1 >= skip { n++; for (i = 2; i <= NF; i++) t[n, i] = $i }
        END {
            if (n == 0) { print "no rounds timed in process " p > "/dev/stderr"; exit 1 }
            k = split(pairs, list, " ")
            for (q = 1; q <= k; q++) {
                split(list[q], bv, ":")
                if (!(bv[1] in col) || !(bv[2] in col)) {
                    print "unknown variant in " list[q] > "/dev/stderr"; exit 1
                }
                for (r = 1; r <= n; r++) d[r] = t[r, col[bv[2]]] - t[r, col[bv[1]]]
                printf "%s %s %.4f\n", p, list[q], median(d, n)
            }
        }' "$out/$p"
done | awk -v pairs="${pairs[*]}" '
    function median(a, n,    i, j, t) {
        for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
            t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
        }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    { n[$2]++; v[$2, n[$2]] = $3 }
    END {
        printf "%-46s %9s %8s %8s %8s\n", "variant vs base", "added µs", "lowest", "highest", "x first"
        k = split(pairs, list, " ")
        for (q = 1; q <= k; q++) {
            pair = list[q]; m = n[pair]
            lo = hi = v[pair, 1]
            for (i = 1; i <= m; i++) {
                a[i] = v[pair, i]
                if (a[i] < lo) lo = a[i]
                if (a[i] > hi) hi = a[i]
            }
            med = median(a, m)
            split(pair, bv, ":"); family = bv[2]; sub(/-.*/, "", family)
            if (!(family in first)) first[family] = med
            # A ratio to a baseline that adds next to nothing would mean nothing.
            if (first[family] > 0.05)
                printf "%-46s %+9.2f %+8.2f %+8.2f %7.2fx\n", bv[2] " vs " bv[1], med, lo, hi,
                    med / first[family]
            else
                printf "%-46s %+9.2f %+8.2f %+8.2f %8s\n", bv[2] " vs " bv[1], med, lo, hi, "n/a"
        }
    }'
