#!/usr/bin/env bash
# Start the pinned LocalStack on 127.0.0.1:4566 without Docker, wait until it answers, and warm the
# services Baton uses. Installs LocalStack into localstack/.venv first if it is missing or stale.
# A second call while our LocalStack runs does nothing. Stop it with localstack/down.sh.
#
# Environment:
#   BATON_LOCALSTACK_PYTHON  CPython 3.13 interpreter to build the venv with (found under pyenv by default)
#   BATON_LOCALSTACK_TIMEOUT seconds to wait for readiness (default 180)
#   BATON_LOCALSTACK_PORT    port to listen on (default 4566); another port gets its own state
#                            directory, so a second, independent LocalStack can run beside the
#                            first (the worker's restart test stops and starts one of its own)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
lock="$here/localstack-core-2026.3.0.lock.txt"
venv="$here/.venv"
port="${BATON_LOCALSTACK_PORT:-4566}"
state="$here/.state"
[[ "$port" == 4566 ]] || state="$here/.state-$port"
pidfile="$state/localstack.pid"
log="$state/localstack.log"
host=127.0.0.1
url="http://$host:$port"
timeout="${BATON_LOCALSTACK_TIMEOUT:-180}"

say() { printf 'localstack/up.sh: %s\n' "$*" >&2; }

healthy() {
    curl -fsS --max-time 2 "$url/_localstack/health" >/dev/null 2>&1
}

# Is the recorded PID still our LocalStack? (A PID can be reused after a reboot: check what
# the process is, not only that one exists.)
ours_running() {
    [[ -f "$pidfile" ]] || return 1
    local pid
    pid="$(cat "$pidfile")"
    kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'localstack.runtime.main'
}

alive() {
    [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

wait_healthy() {
    local deadline=$((SECONDS + timeout))
    until healthy; do
        if ! alive; then
            return 1
        fi
        if ((SECONDS >= deadline)); then
            return 2
        fi
        sleep 0.5
    done
}

# One up.sh at a time: a second call waits for the first, then finds LocalStack running.
mkdir -p "$state"
exec 9>"$state/up.lock"
flock 9

if ours_running; then
    # Ours, maybe still starting: wait for it rather than start a second one.
    if wait_healthy; then
        say "already running (pid $(cat "$pidfile")) at $url"
        exit 0
    fi
    say "the recorded LocalStack (pid $(cat "$pidfile")) is not healthy; stopping it first"
    BATON_LOCALSTACK_PORT="$port" bash "$here/down.sh"
fi
if healthy; then
    say "a LocalStack started elsewhere already answers at $url; using it"
    exit 0
fi

find_python() {
    if [[ -n "${BATON_LOCALSTACK_PYTHON:-}" ]]; then
        echo "$BATON_LOCALSTACK_PYTHON"
        return
    fi
    local candidates=()
    if command -v pyenv >/dev/null 2>&1; then
        candidates+=("$(pyenv root)/versions/3.13.0/bin/python3.13")
        # any other 3.13.x under pyenv
        for p in "$(pyenv root)"/versions/3.13*/bin/python3.13; do candidates+=("$p"); done
    fi
    candidates+=("$HOME/.pyenv/versions/3.13.0/bin/python3.13" /usr/bin/python3.13 /usr/local/bin/python3.13)
    for p in "${candidates[@]}"; do
        if [[ -x "$p" ]] && "$p" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 13) else 1)' 2>/dev/null; then
            echo "$p"
            return
        fi
    done
    return 1
}

# Install (or re-install when the lock file changed) into a private venv.
stamp="$venv/.baton-lock.sha256"
want="$(sha256sum "$lock" | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/python" ]] || [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
    py="$(find_python)" || {
        say "CPython 3.13 is required (LocalStack 2026.3.0 fails on 3.11/3.12) and none was found."
        say "Install it (e.g. 'pyenv install 3.13.0') or point BATON_LOCALSTACK_PYTHON at one."
        exit 1
    }
    say "installing LocalStack 2026.3.0 into $venv with $py (about a minute)"
    rm -rf "$venv"
    "$py" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check 'pip>=26'
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -r "$lock"
    echo "$want" >"$stamp"
fi

mkdir -p "$state/fs"
rm -f "$pidfile"
say "starting LocalStack at $url (log: $log)"
# setsid: LocalStack gets its own process group, so down.sh can stop it and its children together.
(
    cd "$state"
    exec 9>&- # the lock is up.sh's, not LocalStack's
    exec env \
        GATEWAY_SERVER=hypercorn \
        GATEWAY_LISTEN="$host:$port" \
        OVERRIDE_IN_DOCKER=0 \
        SQS_ENDPOINT_STRATEGY=path \
        LOCALSTACK_HOST="$host:$port" \
        DNS_ADDRESS=0 \
        DISABLE_EVENTS=1 \
        SKIP_SSL_CERT_DOWNLOAD=1 \
        SERVICES=sqs,sns,events,stepfunctions,sts,iam,s3,kinesis \
        FILESYSTEM_ROOT="$state/fs" \
        setsid "$venv/bin/python" -m localstack.runtime.main
) >"$log" 2>&1 </dev/null &
echo $! >"$pidfile"

if ! wait_healthy; then
    say "LocalStack did not become healthy within ${timeout}s (or exited); last lines of $log:"
    tail -n 30 "$log" >&2 || true
    BATON_LOCALSTACK_PORT="$port" bash "$here/down.sh" || true
    exit 1
fi

# The first call to each service is slow (it loads the provider); pay that here, not in a test.
say "warming sqs, sns, events, stepfunctions, s3, kinesis"
AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 \
    "$venv/bin/python" - "$url" <<'PY'
import sys, time
import boto3
from botocore.config import Config
url = sys.argv[1]
# Kinesis runs kinesis-mock, which LocalStack installs from the npm registry on first use: allow
# it minutes on a fresh machine.
slow = Config(read_timeout=300, retries={"max_attempts": 0})
for service, call, attempts in [("sqs", "list_queues", 30), ("sns", "list_topics", 30),
                                ("events", "list_event_buses", 30),
                                ("stepfunctions", "list_state_machines", 30),
                                ("s3", "list_buckets", 30), ("kinesis", "list_streams", 300)]:
    start = time.monotonic()
    for attempt in range(attempts):
        try:
            getattr(boto3.client(service, endpoint_url=url, config=slow), call)()
            break
        except Exception as exc:  # the provider may still be loading
            if attempt == attempts - 1:
                raise SystemExit(f"warming {service} failed: {exc}")
            time.sleep(1)
    print(f"localstack/up.sh: {service} ready in {time.monotonic() - start:.1f}s", file=sys.stderr)
PY
say "ready at $url (pid $(cat "$pidfile"))"
