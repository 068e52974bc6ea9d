"""The drivers build requests as httpx would and cap in-memory answers like streamed ones.

httpx itself is the oracle for the request: what the driver sends must match what
``httpx.Request`` builds the ordinary way from the same method, URL, headers and body.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from k8s_aws_auth._core.effects import Flow, HttpRequest, HttpResponse, Outcome
from k8s_aws_auth._runtime.drivers import run_async, run_sync

URL = "https://sts.us-west-2.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15"


def _one(request: HttpRequest) -> Flow[Outcome]:
    outcome = yield request
    return outcome


class _Recorder:
    """A MockTransport handler that keeps what it was sent and answers ``answer``."""

    def __init__(self, answer: Callable[[], httpx.Response]) -> None:
        self.answer = answer
        self.requests: list[httpx.Request] = []
        self.contents: list[bytes] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.contents.append(request.content)  # raises if the driver left it unread
        return self.answer()


def _ok() -> httpx.Response:
    return httpx.Response(200, content=b"{}")


def _undeclared(body: bytes) -> httpx.Response:
    """An already-read in-memory answer that does not declare its length."""
    response = httpx.Response(200, content=body)
    del response.headers["Content-Length"]
    return response


def _send(
    request: HttpRequest, answer: Callable[[], httpx.Response] = _ok
) -> tuple[_Recorder, Outcome]:
    recorder = _Recorder(answer)
    with httpx.Client(transport=httpx.MockTransport(recorder)) as client:
        outcome = run_sync(_one(request), client, deadline=10.0)
    return recorder, outcome


@pytest.mark.parametrize(
    ("method", "headers", "body"),
    [
        ("GET", (("Accept", b"application/json"),), b""),
        ("GET", (("Host", b"sts.us-west-2.amazonaws.com"), ("x-k8s-aws-id", b"c")), b""),
        ("get", (("HOST", b"other.example"),), b""),
        ("POST", (("Accept", b"application/json"),), b""),
        ("POST", (("Content-Type", b"application/x-www-form-urlencoded"),), b"Action=X"),
        ("PUT", (), b""),
    ],
    ids=["get-no-host", "get-host", "get-host-upper-case", "post-empty", "post-body", "put-empty"],
)
def test_request_matches_what_httpx_builds(
    method: str, headers: tuple[tuple[str, bytes], ...], body: bytes
) -> None:
    recorder, _ = _send(HttpRequest(method=method, url=URL, headers=headers, body=body))
    expected = httpx.Request(
        method,
        URL,
        headers=[(name.encode("ascii"), value) for name, value in headers],
        content=body or None,
    )
    (sent,) = recorder.requests
    assert sent.method == expected.method
    assert sent.url == expected.url
    assert sent.headers.raw == expected.headers.raw
    assert recorder.contents == [body]


def test_timeouts_are_the_request_bounds_cut_to_the_deadline() -> None:
    request = HttpRequest(method="GET", url=URL, connect_timeout=2.0, read_timeout=5.0)
    recorder, _ = _send(request)
    # Waiting for a pooled connection is bounded like connecting; writing like reading.
    policy = httpx.Timeout(connect=2.0, read=5.0, write=5.0, pool=2.0)
    assert recorder.requests[0].extensions["timeout"] == policy.as_dict()

    recorder = _Recorder(_ok)
    with httpx.Client(transport=httpx.MockTransport(recorder)) as client:
        run_sync(_one(request), client, deadline=1.0)
    timeout = recorder.requests[0].extensions["timeout"]
    assert set(timeout) == {"connect", "read", "write", "pool"}
    assert all(0 < value <= 1.0 for value in timeout.values())


def test_in_memory_answer_over_the_cap_is_truncated() -> None:
    request = HttpRequest(method="GET", url=URL, max_body=10)
    _, outcome = _send(request, lambda: _undeclared(b"x" * 11))
    assert outcome == HttpResponse(status=200, headers=(), body=b"x" * 10, truncated=True)
    _, outcome = _send(request, lambda: _undeclared(b"x" * 10))
    assert isinstance(outcome, HttpResponse)
    assert (outcome.body, outcome.truncated) == (b"x" * 10, False)


@pytest.mark.parametrize(
    ("declared", "truncated"),
    [(["11"], True), (["10"], False), (["11", "11"], False), (["+11"], False)],
    ids=["over", "at-cap", "repeated", "signed"],
)
def test_declared_length_over_the_cap_refuses_without_the_body(
    declared: list[str], truncated: bool
) -> None:
    def answer() -> httpx.Response:
        headers = [("Content-Length", value) for value in declared]
        return httpx.Response(200, headers=headers, content=b"short")

    _, outcome = _send(HttpRequest(method="GET", url=URL, max_body=10), answer)
    assert isinstance(outcome, HttpResponse)
    assert outcome.truncated is truncated
    assert outcome.body == (b"" if truncated else b"short")


def test_on_request_is_called_once_per_request_sent() -> None:
    calls: list[None] = []
    with httpx.Client(transport=httpx.MockTransport(lambda _: _ok())) as client:
        run_sync(
            _one(HttpRequest(method="GET", url=URL)), client, on_request=lambda: calls.append(None)
        )
    assert len(calls) == 1


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_async_driver_builds_the_same_request(anyio_backend: str) -> None:
    recorder = _Recorder(lambda: _undeclared(b"x" * 11))
    calls: list[None] = []
    request = HttpRequest(method="GET", url=URL, headers=(("Accept", b"a"),), max_body=10)
    async with httpx.AsyncClient(transport=httpx.MockTransport(recorder)) as client:
        outcome = await run_async(_one(request), client, on_request=lambda: calls.append(None))
    expected = httpx.Request("GET", URL, headers=[(b"Accept", b"a")])
    assert recorder.requests[0].headers.raw == expected.headers.raw
    assert recorder.contents == [b""]
    assert isinstance(outcome, HttpResponse)
    assert (outcome.body, outcome.truncated) == (b"x" * 10, True)
    assert len(calls) == 1
