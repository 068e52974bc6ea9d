"""The neutral effects a generator flow yields, and what it gets back (pure values).

A flow is ``Generator[Effect, Outcome, T]``: it yields an `HttpRequest`
and receives an `HttpResponse` or a `TransportFailure`, or yields
a `Sleep` and receives ``None``. The drivers in ``k8s_aws_auth._runtime.drivers`` run flows
over ``httpx.Client`` and ``httpx.AsyncClient``; tests step them by hand.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TypeVar

import attrs

__all__ = ["Effect", "Flow", "HttpRequest", "HttpResponse", "Outcome", "Sleep", "TransportFailure"]

T = TypeVar("T")


@attrs.frozen(kw_only=True)
class HttpRequest:
    """One HTTP request, sent exactly as described: no client headers, cookies, auth or redirects.

    ``connect_timeout``/``read_timeout`` are upper bounds (the driver shortens them
    to the remaining deadline); the response body is read up to ``max_body`` bytes.

    ``secrets`` names the values in the URL or body that must never be logged
    (a signature, a presigned query, a web-identity token, an OIDC refresh
    token); the values of credential headers (``Authorization``,
    ``x-amz-security-token``, ...) count without being listed. While the request
    is in flight the driver scrubs them from every record of the HTTP libraries'
    loggers and from the transport's exception (see ``k8s_aws_auth._runtime.log_guard``).
    """

    method: str
    url: str = attrs.field(repr=False)
    headers: tuple[tuple[str, bytes], ...] = attrs.field(default=(), repr=False)
    body: bytes = attrs.field(default=b"", repr=False)
    connect_timeout: float = 2.0
    read_timeout: float = 5.0
    max_body: int = 64 * 1024
    secrets: tuple[str, ...] = attrs.field(default=(), repr=False)


@attrs.frozen(kw_only=True)
class HttpResponse:
    """An HTTP response; ``body`` holds at most the request's ``max_body`` bytes.

    ``truncated`` is true when the server sent more than that.
    """

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = attrs.field(default=b"", repr=False)
    truncated: bool = False

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or ``None``."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None


@attrs.frozen(kw_only=True)
class TransportFailure:
    """The request got no HTTP response: ``kind`` is ``timeout``, ``network``, ``deadline`` or ``error``.

    ``detail`` names the exception class only (never a URL); ``cause`` keeps the
    exception for chaining.
    """

    kind: str
    detail: str
    cause: BaseException | None = attrs.field(default=None, repr=False, eq=False)


@attrs.frozen
class Sleep:
    """Pause the flow (backoff); the driver may cut it short at the deadline."""

    seconds: float


Effect = HttpRequest | Sleep
Outcome = HttpResponse | TransportFailure | None
Flow = Generator[Effect, Outcome, T]
