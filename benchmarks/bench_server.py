"""The webhook under wrk: ``k8s-aws-auth serve`` vs a trivial ASGI app, same TLS and settings.

Load generator: wrk (Debian package ``wrk``), a C program, over TLS with
keep-alive, at fixed connection counts, one thread, POSTing TokenReviews from a
pool of distinct tokens (a Lua script written here). Pinned with ``taskset``:

* CPU 0: the server under test, alone;
* CPU 1: wrk, FakeSTS (its own process) and this script (idle while wrk runs).

Servers, one after the other, each one uvicorn process on one of two stacks —
h11 on asyncio (the fallback) or httptools on uvloop (``uvicorn[standard]``'s,
what ``serve`` picks when they are installed):

* ``serve`` with the verifier cache off — every TokenReview is a real STS
  exchange with FakeSTS over loopback HTTP;
* ``serve`` with the cache on (reviews repeat a pool of tokens, as kube-apiserver
  resends a client's token for its 15-minute life), on both stacks;
* a trivial ASGI app under the very same uvicorn settings, listener, connection
  guard and certificate (``WebhookServer``), answering a fixed TokenReview after
  reading the body, on both stacks: the trivial app on httptools and uvloop is
  the ceiling every ratio is taken against;
* the "before" of this round's two changes, in the same rounds: ``serve`` (cache
  on, httptools + uvloop) with its start-up objects left in the collector's
  walks, and with each answer's head and body written apart (the same build,
  one change patched out in that process: ``--serve-without``).

``python benchmarks/bench_server.py --row TEXT --connections 16 --rounds 3
--seconds 5`` measures only the servers whose name contains TEXT (repeatable;
the ceiling always runs), for iterating on one row.

While wrk runs, the CPU time of the server, of wrk and of FakeSTS is read from
``/proc/<pid>/stat`` (wrk's from ``wait4``): a side near 100% of its CPU is the
one that saturated. Targets (design brief): cache on ≥ 50% of the trivial app's
requests/s, p99 ≤ 5 ms at 16 connections.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import attrs
import httpx
import yaml

CLUSTER_ID = "bench-cluster"
ACCOUNT = "111122223333"
CONNECTIONS = (1, 16)
WARMUP_S = 2
DURATION_S = 8
ROUNDS = 2
TOKENS = 64
TARGET_RATIO = 0.5
TARGET_P99_MS = 5.0
SERVER_CPU, LOAD_CPU = 0, 1
SATURATED = 0.9
CEILING = "trivial ASGI app, httptools + uvloop"
#: The trivial app under uvicorn's own server and protocol (no listener, no guard):
#: the issue's "trivial ASGI app under uvicorn[standard]" read literally.
PLAIN_UVICORN = "trivial ASGI app, plain uvicorn, httptools + uvloop"
CACHE_ON = "`serve`, cache on, httptools + uvloop"
WORKERS_2 = "`serve --workers 2`, cache on, httptools + uvloop"
H11_CACHE_ON = "`serve`, cache on, h11 + asyncio"
#: The same build with one change of issue 15 undone, measured in the same rounds
#: (the "before" of that change): its start-up objects left in the collector's
#: walks, or each answer's head and body written apart (two TLS records).
UNFROZEN = "`serve`, cache on, httptools + uvloop, collector not frozen"
APART = "`serve`, cache on, httptools + uvloop, head and body written apart"
_TICKS = os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime


def _tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of ``pid`` and its live descendants (``serve --workers``: the workers)."""
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        try:
            total += _cpu_seconds(current)
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except FileNotFoundError:  # ended meanwhile
            continue
    return total


def _cpu_busy() -> dict[int, tuple[float, float]]:
    """Per CPU: (busy, total) clock ticks since boot, from ``/proc/stat``."""
    times = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *values = line.split()
        if name.startswith("cpu") and name != "cpu":
            ticks = [float(v) for v in values[:8]]
            idle = ticks[3] + ticks[4]  # idle + iowait
            times[int(name[3:])] = (sum(ticks) - idle, sum(ticks))
    return times


def _busy_between(before: dict[int, tuple[float, float]], cpu: int) -> float:
    after = _cpu_busy()[cpu]
    busy, total = after[0] - before[cpu][0], after[1] - before[cpu][1]
    return busy / total if total else 0.0


def _principals(sts: Any) -> list[Any]:
    return [
        sts.create_principal(f"arn:aws:iam::{ACCOUNT}:user/u{n}", seed=f"bench-{n}")
        for n in range(TOKENS)
    ]


def start_fake_sts(prefix: list[str]) -> tuple[subprocess.Popen[str], str]:
    """FakeSTS with the benchmark's principals in a child process (run under ``prefix``), and its URL.

    It serves until its stdin is closed.
    """
    process = subprocess.Popen(
        [*prefix, sys.executable, __file__, "--fake-sts"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


def _fake_sts_main() -> None:
    """Serve FakeSTS with the benchmark's principals until stdin closes (child process)."""
    from k8s_aws_auth.testing import FakeSTS

    sts = FakeSTS()
    _principals(sts)
    with sts.serve() as url:
        print(url, flush=True)
        sys.stdin.read()


def _trivial_main(state_dir: str, port: int, http: str, loop: str, *, plain: bool) -> None:
    """Run the trivial app under the same server machinery as ``serve`` (child process).

    ``plain``: under uvicorn's own server and protocol instead, with the same
    settings and TLS but without our listener and connection guard.
    """
    from datetime import datetime, timezone

    from k8s_aws_auth.server._certs import ensure_certificates
    from k8s_aws_auth.server._config import load_server_config
    from k8s_aws_auth.server._serve import WebhookServer, _bind

    body = json.dumps(
        {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "status": {
                "authenticated": True,
                "user": {
                    "username": "alice",
                    "uid": f"aws-iam-authenticator:{ACCOUNT}:AIDAEXAMPLE",
                    "groups": ["devs"],
                },
            },
        },
        separators=(",", ":"),
    ).encode()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                while True:
                    message = await receive()
                    await send({"type": message["type"] + ".complete"})
                    if message["type"] == "lifespan.shutdown":
                        return
            return
        more = True
        while more:  # read the request body, as any real handler must
            message = await receive()
            more = message.get("more_body", False)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    config = load_server_config(
        None,
        {
            "cluster_id": CLUSTER_ID,
            "state_dir": state_dir,
            "port": port,
            "http": http,
            "loop": loop,
        },
    )
    certificates = ensure_certificates(config.state_dir, now=datetime.now(timezone.utc))
    sock = _bind(config.address, port)
    if plain:
        import uvicorn

        from k8s_aws_auth.server._serve import uvicorn_config
        from k8s_aws_auth.server._stack import resolve_stack

        stack = resolve_stack(http, loop)
        settings = uvicorn_config(config, app, certificates, stack=stack)
        settings.app, settings.http = app, stack.protocol_class  # no wrapper, no guard
        uvicorn.Server(settings).run(sockets=[sock])
        return
    WebhookServer(config, app, certificates).run(sockets=[sock])


def _serve_without_main(change: str, argv: list[str]) -> None:
    """``k8s-aws-auth ARGV`` with ``change`` undone: ``freeze`` or ``coalescing`` (child process)."""
    from k8s_aws_auth.cli import main as cli_main
    from k8s_aws_auth.server import _coalesced_writes, _serve

    # Patched in this process only, for this run.
    if change == "freeze":
        setattr(_serve, "settle_collector", lambda: 0)  # noqa: B010
    elif change == "coalescing":
        setattr(_coalesced_writes.CoalescedWrites, "hold_next", lambda self: None)  # noqa: B010
    else:
        raise SystemExit(f"unknown change {change!r}")
    sys.exit(cli_main(argv))


_LUA = """
local bodies = {%(bodies)s}
local requests = {}
local next_one = 0

function init(args)
  local headers = {["Host"] = "localhost", ["Content-Type"] = "application/json"}
  for n, body in ipairs(bodies) do
    requests[n] = wrk.format("POST", "/authenticate", headers, body)
  end
end

function request()
  next_one = next_one %% #requests + 1
  return requests[next_one]
end

function done(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    "RESULT {\\"requests\\":%%d,\\"duration_us\\":%%d,\\"p50_us\\":%%d,\\"p99_us\\":%%d," ..
    "\\"socket_errors\\":%%d,\\"non_2xx\\":%%d}\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
"""


@attrs.frozen
class Run:
    """One wrk run against one server."""

    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    server_cpu: float
    wrk_cpu: float
    sts_cpu: float | None
    server_cpu_busy: float
    """How busy the server's CPU was, whoever used it (other processes included)."""
    load_cpu_busy: float
    shares_load_cpu: bool = False
    """The server ran on both CPUs (``--workers 2``), the load generator's included."""

    def per_cpu_second(self) -> float:
        """Requests per second of server CPU (the figure least disturbed by other work)."""
        return self.requests_per_s / self.server_cpu if self.server_cpu else 0.0

    def saturated(self) -> str:
        """Which side ran out of CPU, and which CPU other processes kept busy meanwhile."""
        load_side = self.wrk_cpu + (self.sts_cpu or 0.0)
        if self.shares_load_cpu:
            if self.server_cpu + load_side >= 2 * SATURATED:
                return "both CPUs (the workers and wrk share them)"
            if self.server_cpu_busy >= SATURATED and self.load_cpu_busy >= SATURATED:
                return "both CPUs, partly with other work"
            return "neither (round trips)"
        if self.server_cpu >= SATURATED:
            verdict = "server"
        elif load_side >= SATURATED:
            sts_busier = self.sts_cpu is not None and self.sts_cpu > self.wrk_cpu
            verdict = "FakeSTS" if sts_busier else "wrk"
        else:
            verdict = "neither (round trips)"
        shared = [
            str(cpu)
            for cpu, ours, busy in (
                (SERVER_CPU, self.server_cpu, self.server_cpu_busy),
                (LOAD_CPU, load_side, self.load_cpu_busy),
            )
            if busy >= SATURATED and ours < SATURATED
        ]
        if shared:
            verdict += f"; CPU {' and '.join(shared)} busy with other work"
        return verdict


def _wrk(url: str, script: Path, connections: int, seconds: int) -> tuple[dict[str, int], float]:
    argv = ["taskset", "-c", str(LOAD_CPU), "wrk", "-t1", f"-c{connections}", f"-d{seconds}s"]
    argv += ["--latency", "-s", str(script), url]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0 or "RESULT " not in output:
        raise RuntimeError(f"wrk failed:\n{output}")
    result: dict[str, int] = json.loads(output.split("RESULT ", 1)[1].splitlines()[0])
    return result, usage.ru_utime + usage.ru_stime


def _measure(
    url: str,
    script: Path,
    connections: int,
    server: int,
    sts: int | None,
    *,
    shared: bool,
    seconds: int,
) -> Run:
    _wrk(url, script, connections, WARMUP_S)
    started = time.monotonic()
    cpus = _cpu_busy()
    server_before = _tree_cpu_seconds(server)
    sts_before = _cpu_seconds(sts) if sts is not None else 0.0
    result, wrk_cpu = _wrk(url, script, connections, seconds)
    wall = time.monotonic() - started
    return Run(
        requests_per_s=result["requests"] / (result["duration_us"] / 1e6),
        p50_ms=result["p50_us"] / 1000,
        p99_ms=result["p99_us"] / 1000,
        errors=result["socket_errors"] + result["non_2xx"],
        server_cpu=(_tree_cpu_seconds(server) - server_before) / wall,
        wrk_cpu=wrk_cpu / wall,
        sts_cpu=(_cpu_seconds(sts) - sts_before) / wall if sts is not None else None,
        server_cpu_busy=_busy_between(cpus, SERVER_CPU),
        load_cpu_busy=_busy_between(cpus, LOAD_CPU),
        shares_load_cpu=shared,
    )


def _wait_ready(url: str, ca_file: Path, process: subprocess.Popen[bytes]) -> None:
    context = ssl.create_default_context(cafile=str(ca_file))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("server process exited during start-up")
        try:
            if httpx.get(url + "/healthz", verify=context, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError("server did not start")


def _check_answers(url: str, ca_file: Path, bodies: list[bytes]) -> None:
    """Every review in the pool is answered ``authenticated: true`` (before timing)."""
    context = ssl.create_default_context(cafile=str(ca_file))
    with httpx.Client(verify=context, timeout=30) as client:
        for body in bodies:
            answer = client.post(url + "/authenticate", content=body)
            if answer.status_code != 200 or b'"authenticated":true' not in answer.content:
                raise RuntimeError(f"unexpected answer {answer.status_code}: {answer.text}")


def _lua_script(path: Path, bodies: list[bytes]) -> Path:
    quoted = ",\n".join("[==[" + body.decode() + "]==]" for body in bodies)
    path.write_text(_LUA % {"bodies": quoted})
    return path


@attrs.frozen
class Selection:
    """Which rows to measure, and how long (the default: every row, the published settings).

    A subset is for iterating on one server (``--row TEXT``, repeatable): only the
    servers whose name contains one of ``rows`` run, and the ceiling (the trivial
    app on httptools + uvloop) always does, so every ratio stays within one run.
    """

    rows: tuple[str, ...] = ()
    connections: tuple[int, ...] = CONNECTIONS
    rounds: int = ROUNDS
    seconds: int = DURATION_S

    def keeps(self, name: str) -> bool:
        """Whether the server ``name`` is measured."""
        return name == CEILING or not self.rows or any(word in name for word in self.rows)


def main(selection: Selection | None = None) -> str:
    """Run the measurements and return the Markdown section."""
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"the webhook benchmark needs {tool} (Debian package {tool})")
    if (os.cpu_count() or 1) < 2:
        raise RuntimeError("the webhook benchmark needs two CPUs (server and load apart)")
    from k8s_aws_auth.testing import FakeSTS

    affinity = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {LOAD_CPU})
    try:
        return _run(FakeSTS(), selection or Selection())
    finally:
        os.sched_setaffinity(0, affinity)


def _run(sts: Any, selection: Selection) -> str:
    python = sys.executable
    tokens = [sts.make_token(p, cluster_id=CLUSTER_ID) for p in _principals(sts)]
    bodies = [
        json.dumps(
            {
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenReview",
                "spec": {"token": token},
            }
        ).encode()
        for token in tokens
    ]
    fake_sts, sts_url = start_fake_sts(["taskset", "-c", str(LOAD_CPU)])
    assert fake_sts.stdin is not None
    results: dict[tuple[str, int], Run] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            state = root / "state"
            config = root / "config.yaml"
            config.write_text(
                yaml.safe_dump(
                    {
                        "clusterID": CLUSTER_ID,
                        "server": {
                            "mapAccounts": [ACCOUNT],
                            "logLevel": "warning",
                            "stsEndpointURL": sts_url,
                        },
                    }
                )
            )
            from datetime import datetime, timezone

            from k8s_aws_auth.server._certs import ensure_certificates

            ensure_certificates(state, now=datetime.now(timezone.utc))
            script = _lua_script(root / "reviews.lua", bodies)
            serve = [python, "-m", "k8s_aws_auth", "serve", "-c", str(config)]
            serve += ["--state-dir", str(state)]
            # name → (argv, less the port that ends it; FakeSTS's pid when the server calls it)
            slow, fast = (
                ["--http", "h11", "--loop", "asyncio"],
                ["--http", "httptools", "--loop", "uvloop"],
            )
            trivial = [python, __file__, "--trivial", str(state)]
            undone = [python, __file__, "--serve-without"]
            servers: dict[str, tuple[list[str], int | None]] = {
                CEILING: ([*trivial, "httptools", "uvloop"], None),
                PLAIN_UVICORN: (
                    [python, __file__, "--trivial-plain", str(state), "httptools", "uvloop"],
                    None,
                ),
                "trivial ASGI app, h11 + asyncio": ([*trivial, "h11", "asyncio"], None),
                CACHE_ON: (
                    [*serve, *fast, "--cache-ttl", "5m", "--port"],
                    None,
                ),
                UNFROZEN: (
                    [*undone, "freeze", *serve[3:], *fast, "--cache-ttl", "5m", "--port"],
                    None,
                ),
                APART: (
                    [*undone, "coalescing", *serve[3:], *fast, "--cache-ttl", "5m", "--port"],
                    None,
                ),
                H11_CACHE_ON: (
                    [*serve, *slow, "--cache-ttl", "5m", "--port"],
                    None,
                ),
                "`serve`, cache off, httptools + uvloop": (
                    [*serve, *fast, "--cache-ttl", "0", "--port"],
                    fake_sts.pid,
                ),
                WORKERS_2: ([*serve, *fast, "--cache-ttl", "5m", "--workers", "2", "--port"], None),
            }
            # Interleaved rounds, best of each: the machine may be shared, so a burst of
            # someone else's work should not decide a ratio.
            for _ in range(selection.rounds):
                for name, (argv, sts_pid) in servers.items():
                    if not selection.keeps(name):
                        continue
                    shared = name == WORKERS_2
                    cpus = f"{SERVER_CPU},{LOAD_CPU}" if shared else str(SERVER_CPU)
                    port = _free_port()
                    server = subprocess.Popen(
                        ["taskset", "-c", cpus, *argv, str(port)],
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                    try:
                        url = f"https://localhost:{port}"
                        _wait_ready(url, state / "ca.pem", server)
                        _check_answers(url, state / "ca.pem", bodies)
                        for connections in selection.connections:
                            run = _measure(
                                url,
                                script,
                                connections,
                                server.pid,
                                sts_pid,
                                shared=shared,
                                seconds=selection.seconds,
                            )
                            key = (name, connections)
                            if (
                                key not in results
                                or run.requests_per_s > results[key].requests_per_s
                            ):
                                results[key] = run
                    finally:
                        server.terminate()
                        server.wait(timeout=30)
    finally:
        fake_sts.stdin.close()
        fake_sts.wait(timeout=30)
    return _report(results, selection)


def _report(results: dict[tuple[str, int], Run], selection: Selection) -> str:
    rows = []
    for (name, connections), run in results.items():
        base = results[(CEILING, connections)].requests_per_s
        sts = f"{run.sts_cpu:.0%}" if run.sts_cpu is not None else "—"
        rows.append(
            f"| {name} | {connections} | {run.requests_per_s:,.0f} | {run.p50_ms:.2f} |"
            f" {run.p99_ms:.2f} | {run.requests_per_s / base:.2f}× |"
            f" {run.per_cpu_second():,.0f} | {run.errors} |"
            f" {run.server_cpu:.0%} ({run.server_cpu_busy:.0%}) | {run.wrk_cpu:.0%} | {sts} |"
            f" ({run.load_cpu_busy:.0%}) | {run.saturated()} |"
        )
    top = max(selection.connections)
    return "\n".join(
        [
            "## Webhook server: TokenReviews under wrk over loopback TLS",
            "",
            "| server | connections | requests/s | p50 ms | p99 ms | vs trivial app (httptools + uvloop) | per server CPU-second | errors |"
            f" server (CPU {SERVER_CPU} busy) | wrk | FakeSTS | (CPU {LOAD_CPU} busy) | saturated |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
            *rows,
            "",
            _summary(results, top),
            "",
            "`--workers 2` runs on both CPUs (`taskset -c 0,1`), the one wrk and FakeSTS use"
            " included: on this 2-core machine its workers share a core with the load"
            " generator, so its row says what one replica gains from a second core it must"
            " share, not what it would do on a node with a core per worker; its server CPU is"
            " the sum over the supervisor and both workers (up to 200%).",
            "",
            f"Load: wrk {_wrk_version()}, one thread, keep-alive, {WARMUP_S} s warm-up then"
            f" {selection.seconds} s measured per row, best of {selection.rounds} interleaved"
            f" rounds, {TOKENS}"
            " distinct tokens in rotation (a Lua script). `taskset`: the server alone on"
            f" CPU {SERVER_CPU}; wrk, FakeSTS (its own process) and the driver on CPU"
            f" {LOAD_CPU}. CPU columns: share of one CPU each process used during the measured"
            " run (server and FakeSTS from `/proc/<pid>/stat`, wrk from `wait4`), in brackets"
            " how busy that CPU was with every process on the machine (`/proc/stat`); requests"
            " per server CPU-second is the figure least disturbed by other work on a shared"
            " machine; a side at"
            f" ≥ {SATURATED:.0%} saturated, a CPU that was busy while our side was not was"
            " shared with other work and the row is not a capacity figure. Each server is one"
            " uvicorn process with the same settings, listener, connection guard and"
            " certificate, on the stack its row names (the plain uvicorn row: the same"
            " settings and certificate under uvicorn's own server and protocol, without our"
            " listener and guard); the trivial app reads the"
            " body and returns a fixed TokenReview. Cache off: every review is an STS call to"
            f" FakeSTS. Machine: {platform.machine()}, {os.cpu_count()} CPUs,"
            f" {platform.system()} {platform.release()}; Python {platform.python_version()},"
            f" uvicorn {_version('uvicorn')}, h11 {_version('h11')},"
            f" httptools {_version('httptools')}, uvloop {_version('uvloop')}.",
        ]
    )


def _summary(results: dict[tuple[str, int], Run], top: int) -> str:
    """The targets' verdict and the stack and worker ratios, for the rows measured."""
    ceiling, cache_on = results[(CEILING, top)], results.get((CACHE_ON, top))
    if cache_on is None:
        return f"Targets at {top} connections: not measured (the cache-on row was not selected)."
    ratio = cache_on.requests_per_s / ceiling.requests_per_s
    met = ratio >= TARGET_RATIO and cache_on.p99_ms <= TARGET_P99_MS
    text = (
        f"Targets at {top} connections: `serve` with the cache on (httptools + uvloop) ≥"
        f" {TARGET_RATIO:.0%} of the trivial app's requests/s under httptools + uvloop"
        f" (measured {ratio:.0%}) and p99 ≤ {TARGET_P99_MS:g} ms"
        f" (measured {cache_on.p99_ms:.2f} ms) — met: **{'yes' if met else 'no'}**."
    )
    for label, faster, slower in (
        ("`serve` (cache on) vs the trivial app under plain uvicorn", CACHE_ON, PLAIN_UVICORN),
        ("httptools + uvloop vs h11 + asyncio (cache on)", CACHE_ON, H11_CACHE_ON),
        ("`--workers 2` vs one worker", WORKERS_2, CACHE_ON),
    ):
        if (faster, top) in results and (slower, top) in results:
            ratio = results[(faster, top)].requests_per_s / results[(slower, top)].requests_per_s
            text += f" {label}: {ratio:.2f}×."
    for name, change in (
        (UNFROZEN, "start-up objects frozen vs not"),
        (APART, "head and body in one write vs two"),
    ):
        before = results.get((name, top))
        if before is not None:
            text += (
                f" {change.capitalize()} (the same build, the same rounds): p99"
                f" {cache_on.p99_ms:.2f} vs {before.p99_ms:.2f} ms, requests/s"
                f" {cache_on.requests_per_s / before.requests_per_s:.2f}×, per server"
                f" CPU-second {cache_on.per_cpu_second() / before.per_cpu_second():.2f}×."
            )
    return text


def _selection(argv: list[str]) -> Selection:
    import argparse

    parser = argparse.ArgumentParser(description="The webhook under wrk (all rows by default).")
    parser.add_argument(
        "--row",
        action="append",
        default=[],
        metavar="TEXT",
        help="measure only the servers whose name contains TEXT (repeatable; the ceiling"
        " is always measured), e.g. --row 'cache on, httptools'",
    )
    parser.add_argument(
        "--connections", default=",".join(map(str, CONNECTIONS)), help="e.g. 16 or 1,16"
    )
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--seconds", type=int, default=DURATION_S, help="measured per row")
    options = parser.parse_args(argv)
    return Selection(
        rows=tuple(options.row),
        connections=tuple(int(n) for n in options.connections.split(",")),
        rounds=options.rounds,
        seconds=options.seconds,
    )


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


def _wrk_version() -> str:
    output = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    words = (output.stdout + output.stderr).split()
    return words[1] if len(words) > 1 else "?"


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] in ("--trivial", "--trivial-plain"):
        # argv: --trivial STATE_DIR HTTP LOOP PORT (the port last, as for `serve`)
        _trivial_main(
            sys.argv[2],
            int(sys.argv[5]),
            sys.argv[3],
            sys.argv[4],
            plain=sys.argv[1] == "--trivial-plain",
        )
    elif sys.argv[1:2] == ["--serve-without"]:
        # argv: --serve-without CHANGE serve ARGS... (a "before" row)
        _serve_without_main(sys.argv[2], sys.argv[3:])
    elif sys.argv[1:] == ["--fake-sts"]:
        _fake_sts_main()
    else:
        print(main(_selection(sys.argv[1:])))
