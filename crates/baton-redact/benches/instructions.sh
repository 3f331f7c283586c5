#!/usr/bin/env bash
# Instructions per redacted span, counted by callgrind: repeatable on a busy machine, unlike
# timings. Each case runs at two counts, and the difference in instructions over the
# difference in spans cancels set-up; the same is done for copying the spans alone, and
# subtracted, so that what remains is redaction (including dropping replaced values).
#
#   bash crates/baton-redact/benches/instructions.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
bin=$(cargo bench -p baton-redact --bench redact --no-run 2>&1 \
  | grep -o 'target/release/deps/redact-[0-9a-f]*' | head -1)
small=1000
large=11000
count() {
  BATON_REDACT_SPANS="$1:$2" valgrind --tool=callgrind --callgrind-out-file=/dev/null \
    "$bin" 2>&1 >/dev/null | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
per_span() {
  local a b
  a=$(count "$1" "$small")
  b=$(count "$1" "$large")
  echo $(( (b - a) / (large - small) ))
}
for kind in clean mixed; do
  with=$(per_span "$kind")
  copy=$(per_span "$kind-copy")
  printf '%-5s span, 20 attributes: %6d instructions/span\n' "$kind" $(( with - copy ))
done
