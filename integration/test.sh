#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, clippy, docs, every unit / doc / integration
# test against a LocalStack this script starts (installing it on first use) and stops again,
# and the quickstart demo. Prints the time of each phase at the end.
#
# Usage: bash integration/test.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"
# A clean clone gains nothing from incremental artifacts; they only take disk.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

timings=()
phase_start=0
phase() {
    phase_name="$1"
    phase_start=$SECONDS
    printf '\n==> %s\n' "$phase_name"
}
phase_done() {
    timings+=("$(printf '%-28s %5ds' "$phase_name" $((SECONDS - phase_start)))")
}
report() {
    local status=$?
    printf '\n==> phase timings\n'
    for line in "${timings[@]}"; do printf '  %s\n' "$line"; done
    printf '  %-28s %5ds\n' "total" "$SECONDS"
    if [[ -d target ]]; then
        printf '  %-28s %s\n' "target/ size" "$(du -sh target 2>/dev/null | cut -f1)"
    fi
    return $status
}

# Start LocalStack in the background while the code compiles; stop it at the end only if this
# script started it.
started_localstack=0
localstack_log="$(mktemp)"
stop_localstack() {
    local status=$?
    # If we stop early, let up.sh finish first (it is bounded by its own timeout), so the
    # LocalStack it may be starting is recorded and can be stopped, not orphaned.
    if [[ -n "${localstack_pid:-}" ]]; then
        wait "$localstack_pid" 2>/dev/null || true
    fi
    if [[ $started_localstack == 1 ]]; then
        bash localstack/down.sh || true
    fi
    rm -f "$localstack_log"
    report || true
    exit $status
}
trap stop_localstack EXIT

if [[ -f localstack/.state/localstack.pid ]] &&
    tr '\0' ' ' <"/proc/$(cat localstack/.state/localstack.pid)/cmdline" 2>/dev/null | grep -q 'localstack.runtime.main'; then
    echo "LocalStack already running (started earlier by localstack/up.sh); leaving it running afterwards"
else
    started_localstack=1
fi
ls_start=$SECONDS
bash localstack/up.sh >"$localstack_log" 2>&1 &
localstack_pid=$!

phase "cargo fmt --check"
cargo fmt --all --check
phase_done

phase "cargo clippy"
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings
phase_done

phase "without SDKs (baton-sns / baton-eventbridge / baton-kinesis as baton-worker uses them)"
cargo clippy -p baton-sns -p baton-eventbridge -p baton-kinesis -p baton-worker --no-default-features --locked -- -D warnings
# baton-export with OTLP/HTTP only (no gRPC, SigV4 or AWS detectors).
cargo clippy -p baton-export --no-default-features --all-targets --locked -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc -p baton-sns -p baton-eventbridge -p baton-kinesis --no-default-features --no-deps --locked
phase_done

phase "build tests"
cargo test --workspace --all-features --locked --no-run
phase_done

phase "wait for LocalStack"
up_pid=$localstack_pid
localstack_pid=""
if ! wait "$up_pid"; then
    cat "$localstack_log" >&2
    echo "LocalStack did not start; see above" >&2
    exit 1
fi
cat "$localstack_log"
timings+=("$(printf '%-28s %5ds' "(LocalStack start, overlapped)" $((SECONDS - ls_start)))")
phase_done

phase "cargo test"
cargo test --workspace --all-features --locked
phase_done

phase "cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --all-features --no-deps --locked
phase_done

phase "demo (the README's command, and quickstart)"
BATON_DEMO_KEEP_VIEW=0 bash examples/demo.sh
cargo run -q -p quickstart --locked
phase_done

phase "trace view page in headless Chromium"
bash crates/baton-trace/browser-test/run.sh
phase_done

phase "examples (sqs-worker, eventbridge-consumer, wrap-clients, lambda-sqs)"
cargo run -q -p sqs-worker --locked
cargo run -q -p eventbridge-consumer --locked
cargo run -q -p wrap-clients --locked
cargo run -q -p lambda-sqs --locked
phase_done
