#!/usr/bin/env bash
# Stop the LocalStack that localstack/up.sh started (by its recorded PID, never by name).
# BATON_LOCALSTACK_PORT picks which one (default 4566).
# SIGTERM first; SIGKILL to the whole process group after BATON_LOCALSTACK_STOP_TIMEOUT seconds (default 15).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
port="${BATON_LOCALSTACK_PORT:-4566}" # as in up.sh
state="$here/.state"
[[ "$port" == 4566 ]] || state="$here/.state-$port"
pidfile="$state/localstack.pid"
grace="${BATON_LOCALSTACK_STOP_TIMEOUT:-15}"

say() { printf 'localstack/down.sh: %s\n' "$*" >&2; }

if [[ ! -f "$pidfile" ]]; then
    say "no LocalStack started by up.sh is recorded; nothing to stop"
    exit 0
fi
pid="$(cat "$pidfile")"
if ! kill -0 "$pid" 2>/dev/null; then
    say "pid $pid is gone already"
    rm -f "$pidfile"
    exit 0
fi
# Never signal a process that merely reuses the recorded PID.
if ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'localstack.runtime.main'; then
    say "pid $pid is no longer LocalStack; forgetting it"
    rm -f "$pidfile"
    exit 0
fi

# up.sh starts LocalStack with setsid, so its PID is also its process group id.
kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
deadline=$((SECONDS + grace))
while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
        say "pid $pid still running after ${grace}s; sending SIGKILL"
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
        break
    fi
    sleep 0.2
done
# Reap stragglers of the group (e.g. helper processes) once the leader is gone, and wait until
# none is left, so the port is free for the next start.
kill -KILL -- "-$pid" 2>/dev/null || true
for _ in $(seq 50); do
    pgrep -g "$pid" >/dev/null 2>&1 || break
    sleep 0.1
done
rm -f "$pidfile"
say "stopped pid $pid"
