"""TokenAuth benchmark: the per-request cost of authenticating with a current token.

The peer is the same request on the same ``httpx.Client`` without auth, on an
in-memory transport that answers ``204`` (``httpx.MockTransport``): the ratio is
what ``TokenAuth`` adds to a request when its token needs no refresh (a clock
read, a comparison, one header; the auth-flow generator httpx drives).
Both sides run interleaved in one process and are measured as the minimum over
several ``timeit`` repeats after a warm-up, in microseconds per request. No
network and no server: nothing saturates but this process's one thread.
Run with ``python benchmarks/bench_token_auth.py`` or through ``run_all.py``.
"""

from __future__ import annotations

import platform
import sys
import timeit
from collections.abc import Callable

import httpx

from k8s_aws_auth import Credentials, TokenAuth, TokenSource

TARGET = 1.1
REPEATS = 7
CREDENTIALS = Credentials("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")


def _per_request_us(func: Callable[[], object], number: int = 2000) -> float:
    func()
    return min(timeit.repeat(func, number=number, repeat=REPEATS)) / number * 1e6


def _client(auth: httpx.Auth | None) -> httpx.Client:
    transport = httpx.MockTransport(lambda request: httpx.Response(204))
    return httpx.Client(transport=transport, auth=auth, base_url="http://service.internal")


def main() -> str:
    """Measure and return the Markdown section."""
    source = TokenSource("bench-cluster", credentials=CREDENTIALS, region="us-west-2")
    source.token()  # current for the whole run: no refresh is measured
    with _client(None) as bare, _client(TokenAuth(source)) as authed:
        bare_us = ours_us = float("inf")
        for _ in range(3):  # interleaved, so drift in machine load hits both sides
            bare_us = min(bare_us, _per_request_us(lambda: bare.get("/items")))
            ours_us = min(ours_us, _per_request_us(lambda: authed.get("/items")))
    ratio = ours_us / bare_us
    verdict = "meets" if ratio <= TARGET else "misses"
    return "\n".join(
        [
            "## TokenAuth per-request overhead (in-memory transport)",
            "",
            "| request | µs/request | ratio to bare | target |",
            "|---|---:|---:|---:|",
            f"| bare `httpx.Client.get` | {bare_us:.1f} | 1.00× | |",
            f"| with `TokenAuth` (current token) | {ours_us:.1f} | {ratio:.2f}× | ≤ {TARGET}× ({verdict}) |",
            "",
            f"Python {platform.python_version()}, httpx {httpx.__version__}, {sys.platform}; "
            "one process, both sides interleaved; the client thread is the only one working.",
        ]
    )


if __name__ == "__main__":
    print(main())
