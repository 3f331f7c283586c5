#!/usr/bin/env bash
# Instructions per sampling decision, counted by callgrind: repeatable on a noisy machine,
# unlike timings. Each case runs at two counts; the difference in instructions over the
# difference in decisions cancels set-up (rule compilation, the stub, the runtime).
#
#   bash crates/baton-sampling/benches/instructions.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
bin=$(cargo bench -p baton-sampling --bench decision --no-run 2>&1 \
  | grep -o 'target/release/deps/decision-[0-9a-f]*' | head -1)
small=2000
large=22000
count() {
  BATON_SAMPLING_DECISIONS="$1:$2" valgrind --tool=callgrind --callgrind-out-file=/dev/null \
    "$bin" 2>&1 >/dev/null | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
for case in 0 1 2 3 4 5; do
  name=$(BATON_SAMPLING_DECISIONS="$case:1" "$bin")
  a=$(count "$case" "$small")
  b=$(count "$case" "$large")
  printf '%-52s %6d instructions/decision\n' "$name" $(( (b - a) / (large - small) ))
done
