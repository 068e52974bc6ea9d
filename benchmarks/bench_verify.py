"""Verifier benchmark: the shells against raw httpx doing the same HTTP.

* (a) ``AsyncTokenVerifier.verify`` over 2,000 distinct tokens at concurrency 64
  against the loopback ``FakeSTS`` server, beside a raw ``httpx.AsyncClient``
  sending the same GETs (same URL, same headers) to the same server and parsing
  the JSON. Both sides share the emulator (a threaded Python HTTP server that
  also recomputes SigV4), which dominates; the ratio shows what we add.
* (b) ``TokenVerifier.verify`` with an in-memory transport against a raw
  ``httpx.Client`` GET + ``.json()`` of the same URL over the same transport:
  once with ``FakeSTS`` as the transport (it really checks the signature) and
  once with a canned ``httpx.MockTransport`` answer (the strictest view of our
  own per-verification work).
* (c) a cached re-verification (``cache_size`` on, same token), µs per token.

Targets: DESIGN.md "Performance targets" and issue 3 (a ≤ 1.15×, b ≤ 1.2×,
c < 10 µs). (b) reports the minimum and the median over paired rounds.
Run with ``python benchmarks/bench_verify.py`` or through ``run_all.py``.
"""

from __future__ import annotations

import contextlib
import pathlib
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime, timedelta, timezone

import anyio
import httpx

from k8s_aws_auth import (
    AsyncTokenVerifier,
    Credentials,
    TokenVerifier,
    VerifierConfig,
    presign_token,
    validate_token,
)
from k8s_aws_auth._core.verify_flow import build_http_request
from k8s_aws_auth.testing import FakeSTS

CLUSTER_ID = "bench-cluster"
ACCOUNT = "111122223333"
TOKENS = 2000
CONCURRENCY = 64
PRINCIPALS = 4
ASYNC_TARGET = 1.15
SYNC_TARGET = 1.2
CACHED_TARGET_US = 10.0
WARMUP = 200


def _principals(sts: FakeSTS) -> list[Credentials]:
    """Seeded (so the same in every process) IAM users registered with ``sts``."""
    creds = []
    for n in range(PRINCIPALS):
        arn = f"arn:aws:iam::{ACCOUNT}:user/bench-{n}"
        creds.append(sts.create_principal(arn, seed=f"bench-{n}").credentials)
    return creds


_SERVER = """
import sys
sys.path.insert(0, sys.argv[1])
from bench_verify import FakeSTS, _principals
sts = FakeSTS()
_principals(sts)
with sts.serve() as url:
    print(url, flush=True)
    sys.stdin.read()
"""


@contextlib.contextmanager
def _server_process() -> Iterator[str]:
    """FakeSTS served from its own process, as a remote STS would be.

    In-process, the emulator's threads would compete with the client for the
    GIL, charging every microsecond of client work twice.
    """
    here = str(pathlib.Path(__file__).resolve().parent)
    process = subprocess.Popen(
        [sys.executable, "-c", _SERVER, here],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        yield process.stdout.readline().strip()
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=10)


def _tokens(creds: list[Credentials], now: datetime, count: int) -> list[str]:
    """``count`` distinct tokens: each principal signs at distinct seconds within the window."""
    per = -(-count // len(creds))
    return [
        presign_token(
            c, cluster_id=CLUSTER_ID, now=now - timedelta(seconds=s), region="us-west-2"
        ).value
        for s in range(per)
        for c in creds
    ][:count]


def _raw_request(token: str, config: VerifierConfig, now: datetime) -> tuple[str, dict[str, str]]:
    """The URL and headers the verifier sends for ``token`` (computed once, outside the timing)."""
    request = build_http_request(validate_token(token, config, now=now), config)
    return request.url, {name: value.decode() for name, value in request.headers}


async def _pool(jobs: list[str], worker: Callable[[str], Awaitable[object]]) -> None:
    iterator: Iterator[str] = iter(jobs)

    async def run() -> None:
        for job in iterator:
            await worker(job)

    async with anyio.create_task_group() as group:
        for _ in range(CONCURRENCY):
            group.start_soon(run)


def _async_round(
    config: VerifierConfig, tokens: list[str], requests: dict[str, tuple[str, dict[str, str]]]
) -> tuple[float, float]:
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)

    async def ours() -> float:
        async with AsyncTokenVerifier(config) as verifier:
            await _pool(tokens[:64], verifier.verify)  # warm the pool
            start = time.perf_counter()
            await _pool(tokens, verifier.verify)
            return time.perf_counter() - start

    async def raw() -> float:
        async with httpx.AsyncClient(limits=limits, trust_env=False) as client:

            async def get(token: str) -> object:
                url, headers = requests[token]
                response = await client.get(url, headers=headers)
                return response.json()

            await _pool(tokens[:64], get)
            start = time.perf_counter()
            await _pool(tokens, get)
            return time.perf_counter() - start

    return anyio.run(ours), anyio.run(raw)


def _sync_rounds(
    config: VerifierConfig,
    tokens: list[str],
    requests: dict[str, tuple[str, dict[str, str]]],
    transport: httpx.BaseTransport,
    rounds: int,
) -> tuple[list[float], list[float]]:
    """µs per call for each side, ``rounds`` paired rounds over the same tokens.

    Both sides share one client over ``transport``: the verifier borrows it and
    the raw side calls ``client.get(url, headers=...)`` + ``.json()`` with the
    URL and headers the verifier sends. The sides alternate which goes first,
    so a change in machine load hits both.
    """
    with (
        httpx.Client(transport=transport) as client,
        TokenVerifier(config, client=client) as verifier,
    ):

        def raw(token: str) -> object:
            url, headers = requests[token]
            return client.get(url, headers=headers).json()

        sides = {"ours": verifier.verify, "raw": raw}
        for call in sides.values():  # warm-up
            for token in tokens[:WARMUP]:
                call(token)
        times: dict[str, list[float]] = {"ours": [], "raw": []}
        for n in range(rounds):
            for name in ("ours", "raw") if n % 2 == 0 else ("raw", "ours"):
                call = sides[name]
                start = time.perf_counter()
                for token in tokens:
                    call(token)
                times[name].append((time.perf_counter() - start) / len(tokens) * 1e6)
    return times["ours"], times["raw"]


def _canned_transport() -> httpx.MockTransport:
    body = (
        b'{"GetCallerIdentityResponse":{"GetCallerIdentityResult":{"Account":"111122223333",'
        b'"Arn":"arn:aws:iam::111122223333:user/bench-0","UserId":"AIDABENCHEXAMPLE0001"},'
        b'"ResponseMetadata":{"RequestId":"00000000-0000-4000-8000-000000000000"}}}'
    )

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Type": "application/json"}, content=body)

    return httpx.MockTransport(answer)


def _cached_us(
    config: VerifierConfig, token: str, transport: httpx.BaseTransport
) -> tuple[float, float]:
    cached = VerifierConfig(CLUSTER_ID, cache_size=1000)
    with (
        httpx.Client(transport=transport) as client,
        TokenVerifier(cached, client=client) as verifier,
    ):
        verifier.verify(token)
        rounds = []
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(20000):
                verifier.verify(token)
            rounds.append((time.perf_counter() - start) / 20000 * 1e6)
        assert verifier.stats.sts_requests == 1
    now = datetime.now(timezone.utc)
    validate_rounds = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(5000):
            validate_token(token, config, now=now)
        validate_rounds.append((time.perf_counter() - start) / 5000 * 1e6)
    return min(rounds), min(validate_rounds)


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def main() -> str:
    """Run the verifier benchmark and return a Markdown section."""
    sts = FakeSTS()
    creds = _principals(sts)
    now = datetime.now(timezone.utc)
    tokens = _tokens(creds, now, TOKENS)
    assert len(set(tokens)) == TOKENS
    rows: list[str] = []
    with _server_process() as url:
        config = VerifierConfig(CLUSTER_ID, sts_endpoint_url=url, max_connections=CONCURRENCY)
        requests = {t: _raw_request(t, config, now) for t in tokens}
        # One round per side: the emulator makes each take seconds (budget: ~60 s in all).
        best_ours, best_raw = _async_round(config, tokens, requests)
    ratio_a = best_ours / best_raw
    rows.append(
        f"| (a) async verify, loopback FakeSTS (own process), {TOKENS} tokens @ {CONCURRENCY} | "
        f"{TOKENS / best_ours:,.0f} tokens/s ({best_ours / TOKENS * 1e6:,.0f} µs/token) | "
        f"{TOKENS / best_raw:,.0f} tokens/s ({best_raw / TOKENS * 1e6:,.0f} µs/token) | "
        f"{ratio_a:.2f}× | ≤ {ASYNC_TARGET}× ({_verdict(ratio_a <= ASYNC_TARGET)}) |"
    )

    memory_config = VerifierConfig(CLUSTER_ID)
    memory_requests = {t: _raw_request(t, memory_config, now) for t in tokens}
    for label, transport, rounds in (
        ("FakeSTS transport (SigV4 checked)", sts, 4),
        ("canned MockTransport answer", _canned_transport(), 12),
    ):
        ours, raw = _sync_rounds(memory_config, tokens, memory_requests, transport, rounds)
        ratio_min = min(ours) / min(raw)
        ratio_median = statistics.median(ours) / statistics.median(raw)
        verdict = _verdict(max(ratio_min, ratio_median) <= SYNC_TARGET)
        rows.append(
            f"| (b) sync verify, {label} | {min(ours):,.1f} µs "
            f"(median {statistics.median(ours):,.1f}) | {min(raw):,.1f} µs "
            f"(median {statistics.median(raw):,.1f}) | {ratio_min:.2f}× "
            f"(medians {ratio_median:.2f}×) | ≤ {SYNC_TARGET}× ({verdict}) |"
        )

    cached, validate = _cached_us(memory_config, tokens[0], _canned_transport())
    rows.append(
        f"| (c) cached re-verification (same token) | {cached:.2f} µs | "
        f"{validate:.1f} µs (full `validate_token`, for scale) | — | "
        f"< {CACHED_TARGET_US:.0f} µs ({_verdict(cached < CACHED_TARGET_US)}) |"
    )
    env = f"Python {platform.python_version()}, httpx {httpx.__version__}, {platform.machine()}"
    return "\n".join(
        [
            "### Verifier (`TokenVerifier` / `AsyncTokenVerifier`)",
            "",
            f"{env}; (a) one round per side after a warm-up; (b) {TOKENS:,} distinct tokens "
            "per round after a warm-up, rounds alternating between the sides, minimum and "
            "median over the rounds (met only if both ratios are); (c) best of 5 batches "
            "of 20,000.",
            "",
            "| case | k8s_aws_auth | raw httpx, same requests | ratio | target |",
            "|---|---|---|---|---|",
            *rows,
            "",
            "Notes: in (a) both sides wait on the same threaded Python emulator (in its own "
            "process, like a remote STS), which recomputes SigV4 per request and dominates "
            "the time. In (b) both sides pay httpx's URL parsing and send (about 30 + 35 µs "
            "here); the verifier's own work per call is the local validation (~14 µs), "
            "building the request, reading the capped body and the strict JSON/ARN checks "
            "(~7 µs), while the raw side does only the GET and `json()` (its "
            "`build_request` merging costs it ~20 µs that the verifier does not pay). "
            "(c) skips validation on a hit: the entry's time window repeats the "
            "token's expiry and not-yet-valid checks, the only parts that change over time.",
        ]
    )


if __name__ == "__main__":
    sys.stdout.write(main() + "\n")
