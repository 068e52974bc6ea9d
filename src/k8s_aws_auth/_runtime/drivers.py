"""Run generator flows over httpx: the only module that performs HTTP.

Policy the caller's client is not trusted with: requests are built here (no
client base headers, cookies or auth), redirects are never followed, response
bodies are read raw and capped, and every transport exception becomes a
`TransportFailure` value sent back into the flow.

Secrets: while a request is in flight it sits in ``log_guard.IN_FLIGHT``, so
the log guard scrubs its secrets from every httpx/httpcore record; a transport
exception reaches the flow only as a detached, scrubbed copy (its message may
quote an echoed request line, its ``request`` holds the URL, its chain repeats
both).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import nullcontext
from typing import TypeVar

import anyio
import httpx

from k8s_aws_auth._core.effects import (
    Flow,
    HttpRequest,
    HttpResponse,
    Outcome,
    Sleep,
    TransportFailure,
)
from k8s_aws_auth._core.redact import detached, request_secrets

from .log_guard import IN_FLIGHT, guard_logs

__all__ = ["run_async", "run_sync"]

T = TypeVar("T")

# Methods for which httpx adds "Content-Length: 0" to a request without a body.
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# An empty body stream holds no state (it yields b"" to every reader): one serves all.
_NO_BODY = httpx.ByteStream(b"")


def _remaining(deadline_at: float | None) -> float | None:
    return None if deadline_at is None else deadline_at - time.monotonic()


def _build(request: HttpRequest, remaining: float | None) -> httpx.Request:
    connect, read = request.connect_timeout, request.read_timeout
    if remaining is not None:
        connect, read = min(connect, remaining), min(read, remaining)
    # The dict httpx.Timeout(...).as_dict() would give, without building the Timeout.
    extensions = {"timeout": {"connect": connect, "read": read, "write": read, "pool": connect}}
    headers = [(name.encode("ascii"), value) for name, value in request.headers]
    if request.body or request.method.upper() in _BODY_METHODS:
        return httpx.Request(
            request.method,
            request.url,
            headers=headers,
            content=request.body if request.body else None,
            extensions=extensions,
        )
    # No body: hand httpx an empty stream, which skips its body encoding and header
    # merging; the only header that would have added is Host, added here instead.
    url = httpx.URL(request.url)
    for name, _ in headers:
        if name.lower() == b"host":
            break
    else:
        if url.host:
            headers.insert(0, (b"Host", url.netloc))
    built = httpx.Request(
        request.method, url, headers=headers, stream=_NO_BODY, extensions=extensions
    )
    built.read()  # as httpx does for content it encodes itself: handlers may read .content
    return built


def _failure(exc: BaseException, request: HttpRequest) -> TransportFailure:
    if isinstance(exc, httpx.TimeoutException):
        kind = "timeout"
    elif isinstance(exc, httpx.TransportError):
        kind = "network"
    else:
        kind = "error"
    cause = detached(exc, request_secrets(request))
    return TransportFailure(kind=kind, detail=type(exc).__name__, cause=cause)


def _deadline_passed(cause: BaseException | None = None) -> TransportFailure:
    return TransportFailure(kind="deadline", detail="deadline exceeded", cause=cause)


def _headers(raw: httpx.Response) -> tuple[tuple[str, str], ...]:
    return tuple([(k.decode("latin-1"), v.decode("latin-1")) for k, v in raw.headers.raw])


def _unstreamed(
    raw: httpx.Response, headers: tuple[tuple[str, str], ...], max_body: int
) -> HttpResponse | None:
    """The answer if it needs no (more) reading: declared too large, or already read.

    ``None`` means the body is still to be streamed (up to ``max_body`` bytes).
    """
    # A Content-Length beyond the cap: refuse without reading a byte. Repeated
    # headers are joined with ", " as httpx's Headers.get does, so two of them
    # never read as a number.
    declared = ", ".join([value for name, value in headers if name.lower() == "content-length"])
    if declared.isdigit() and int(declared) > max_body:
        return HttpResponse(status=raw.status_code, headers=headers, truncated=True)
    if raw.is_stream_consumed:  # an in-memory transport answered with a read body: same cap
        content = raw.content
        truncated = len(content) > max_body
        return HttpResponse(
            status=raw.status_code,
            headers=headers,
            body=content[:max_body] if truncated else content,
            truncated=truncated,
        )
    return None


def run_sync(
    flow: Flow[T],
    client: httpx.Client,
    *,
    deadline: float | None = None,
    on_request: Callable[[], object] | None = None,
) -> T:
    """Drive ``flow`` to completion over a sync client within ``deadline`` seconds.

    ``on_request`` is called before each request is sent (for counters).
    """
    guard_logs()
    deadline_at = None if deadline is None else time.monotonic() + deadline
    outcome: Outcome = None
    try:
        while True:
            effect = flow.send(outcome)
            if isinstance(effect, Sleep):
                remaining = _remaining(deadline_at)
                pause = effect.seconds if remaining is None else min(effect.seconds, remaining)
                if pause > 0:
                    time.sleep(pause)
                outcome = None
                continue
            if on_request is not None:
                on_request()
            outcome = _send_sync(client, effect, deadline_at)
    except StopIteration as stop:
        result: T = stop.value
        return result
    finally:
        flow.close()


def _send_sync(client: httpx.Client, request: HttpRequest, deadline_at: float | None) -> Outcome:
    remaining = _remaining(deadline_at)
    if remaining is not None and remaining <= 0:
        return _deadline_passed()
    in_flight = IN_FLIGHT.set(request)
    try:
        raw = client.send(
            _build(request, remaining), stream=True, follow_redirects=False, auth=None
        )
        try:
            headers = _headers(raw)
            answer = _unstreamed(raw, headers, request.max_body)
            if answer is not None:
                return answer
            chunks: list[bytes] = []
            size = 0
            truncated = False
            for chunk in raw.iter_raw():
                size += len(chunk)
                if size > request.max_body:
                    chunks.append(chunk[: request.max_body - (size - len(chunk))])
                    truncated = True
                    break
                chunks.append(chunk)
                # A server dripping bytes defeats per-read timeouts; keep the total.
                if deadline_at is not None and time.monotonic() >= deadline_at:
                    return _deadline_passed()
            return HttpResponse(
                status=raw.status_code,
                headers=headers,
                body=b"".join(chunks),
                truncated=truncated,
            )
        finally:
            raw.close()
    except Exception as exc:  # every transport problem is a value for the flow to judge
        return _failure(exc, request)
    finally:
        IN_FLIGHT.reset(in_flight)


async def run_async(
    flow: Flow[T],
    client: httpx.AsyncClient,
    *,
    deadline: float | None = None,
    on_request: Callable[[], object] | None = None,
) -> T:
    """Drive ``flow`` to completion over an async client (asyncio or trio) within ``deadline``.

    ``on_request`` is called before each request is sent (for counters).
    """
    guard_logs()
    deadline_at = None if deadline is None else time.monotonic() + deadline
    outcome: Outcome = None
    try:
        while True:
            effect = flow.send(outcome)
            if isinstance(effect, Sleep):
                remaining = _remaining(deadline_at)
                pause = effect.seconds if remaining is None else min(effect.seconds, remaining)
                if pause > 0:
                    await anyio.sleep(pause)
                outcome = None
                continue
            if on_request is not None:
                on_request()
            outcome = await _send_async(client, effect, _remaining(deadline_at))
    except StopIteration as stop:
        result: T = stop.value
        return result
    finally:
        flow.close()


async def _send_async(
    client: httpx.AsyncClient, request: HttpRequest, remaining: float | None
) -> Outcome:
    if remaining is not None and remaining <= 0:
        return _deadline_passed()
    in_flight = IN_FLIGHT.set(request)
    try:
        with anyio.fail_after(remaining) if remaining is not None else nullcontext():
            raw = await client.send(
                _build(request, remaining), stream=True, follow_redirects=False, auth=None
            )
            try:
                headers = _headers(raw)
                answer = _unstreamed(raw, headers, request.max_body)
                if answer is not None:
                    return answer
                body, truncated = await _read_capped_async(raw, request.max_body)
                return HttpResponse(
                    status=raw.status_code, headers=headers, body=body, truncated=truncated
                )
            finally:
                await raw.aclose()
    except TimeoutError as exc:
        return _deadline_passed(detached(exc, request_secrets(request)))
    except Exception as exc:  # every transport problem is a value for the flow to judge
        return _failure(exc, request)
    finally:
        IN_FLIGHT.reset(in_flight)


async def _read_capped_async(raw: httpx.Response, max_body: int) -> tuple[bytes, bool]:
    """Read at most ``max_body`` bytes; ``(body, truncated)``.

    Reading stops by cancelling a scope around the loop, not by ``break``: the
    next read then raises the cancellation inside httpx's stream generators,
    which unwinds and closes them all (a ``break`` would abandon them half-way,
    and trio warns about every abandoned async generator).
    """
    chunks: list[bytes] = []
    size = 0
    truncated = False
    with anyio.CancelScope() as reading:
        async for chunk in raw.aiter_raw():
            if truncated:
                continue  # already-buffered data arriving before the cancellation lands
            size += len(chunk)
            if size > max_body:
                chunks.append(chunk[: max_body - (size - len(chunk))])
                truncated = True
                reading.cancel()
                continue
            chunks.append(chunk)
    return b"".join(chunks), truncated
