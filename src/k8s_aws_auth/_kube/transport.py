"""The httpx transport under lightkube: authentication, bounds, and watch requests made whole.

lightkube takes a ``transport=`` and nothing else of ours, so everything the
Kubernetes API access needs beyond lightkube 0.22 sits here, around httpx's own
transport (built with our TLS context, no environment proxies, no retries):

* **Authentication.** The ``Authorization`` header comes from a
  ``CredentialSource`` at each request (a token file re-read every minute, an
  exec plugin of any version); after a 401 the source is invalidated and the
  request sent once more when that can help. While the head is in flight the
  header sits in ``IN_FLIGHT``, so the log guard scrubs its exact value from
  httpx/httpcore records.
* **Bounds.** Responses are asked for without compression (``identity``) and
  refused when compressed anyway, so the bytes counted are the bytes parsed: a
  response body holds at most ``max_response_bytes``; one line of a watch
  stream (one event) at most ``max_event_bytes`` (``EventTooLarge``).
* **Watches.** ``allowWatchBookmarks=true`` is added (lightkube never asks);
  the read timeout lightkube turns off for watches is set back to
  ``watch_read_timeout`` so a silent connection ends; and the end of a stream
  is raised as ``WatchEnded`` instead of letting lightkube re-watch at once, so
  the watch loop owns every reconnection and its backoff.

The wrapper survives lightkube's ``dataclasses.asdict`` deep copy of its
connection parameters (0.22 deep-copies the transport, and an ``SSLContext``
cannot be copied) by returning itself from ``__deepcopy__``.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterator
from typing import Any

import attrs
import httpx

from k8s_aws_auth._core.effects import HttpRequest
from k8s_aws_auth._runtime.log_guard import IN_FLIGHT, guard_logs

from .credentials import CredentialSource

__all__ = [
    "AsyncKubeTransport",
    "EventTooLarge",
    "KubeStreamError",
    "KubeTransport",
    "ResponseTooLarge",
    "TransportSettings",
    "WatchEnded",
]


class KubeStreamError(httpx.TransportError):
    """A response stream broke one of the transport's rules."""


class EventTooLarge(KubeStreamError):
    """One line of a watch stream is longer than ``max_event_bytes``."""


class ResponseTooLarge(KubeStreamError):
    """A response body is longer than ``max_response_bytes`` (or compressed against our asking)."""


class WatchEnded(KubeStreamError):
    """A watch stream ended cleanly (the server's ``timeoutSeconds``, a proxy, a restart)."""


@attrs.frozen
class TransportSettings:
    """The bounds of a ``KubeTransport``.

    Attributes:
        max_response_bytes: The most bytes of one response body (a list, an object).
        max_event_bytes: The most bytes of one watch event (one line).
        watch_read_timeout: Seconds a watch stream may stay silent before it is
            dropped; longer than the server-side ``timeoutSeconds`` plus slack.
        tls_server_name: The name to verify the server's certificate against
            (kubeconfig ``tls-server-name``), if not the URL's host.
    """

    max_response_bytes: int = 32 * 1024 * 1024
    max_event_bytes: int = 4 * 1024 * 1024
    watch_read_timeout: float = 360.0
    tls_server_name: str | None = None


def _is_watch(request: httpx.Request) -> bool:
    return request.url.params.get("watch", "").lower() in ("1", "true", "t")


class _Limiter:
    """Counts a body's bytes (and, for a watch, the bytes of the current line)."""

    __slots__ = ("_line", "_total", "max_line", "max_total")

    def __init__(self, *, max_total: int | None, max_line: int | None) -> None:
        self.max_total, self.max_line = max_total, max_line
        self._total = self._line = 0

    def feed(self, chunk: bytes) -> None:
        self._total += len(chunk)
        if self.max_total is not None and self._total > self.max_total:
            raise ResponseTooLarge(f"the response body is longer than {self.max_total} bytes")
        if self.max_line is None:
            return
        start = 0
        while (newline := chunk.find(b"\n", start)) >= 0:
            if self._line + newline - start > self.max_line:
                raise EventTooLarge(f"a watch event is longer than {self.max_line} bytes")
            self._line, start = 0, newline + 1
        self._line += len(chunk) - start
        if self._line > self.max_line:
            raise EventTooLarge(f"a watch event is longer than {self.max_line} bytes")


class _SyncStream(httpx.SyncByteStream):
    def __init__(self, inner: httpx.SyncByteStream, limiter: _Limiter, watch: bool) -> None:
        self._inner, self._limiter, self._watch = inner, limiter, watch

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            self._limiter.feed(chunk)
            yield chunk
        if self._watch:
            raise WatchEnded("the watch stream ended")

    def close(self) -> None:
        self._inner.close()


class _AsyncStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, limiter: _Limiter, watch: bool) -> None:
        self._inner, self._limiter, self._watch = inner, limiter, watch

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            self._limiter.feed(chunk)
            yield chunk
        if self._watch:
            raise WatchEnded("the watch stream ended")

    async def aclose(self) -> None:
        await self._inner.aclose()


class _Common:
    """What the sync and async transports share: request preparation and response wrapping."""

    _credentials: CredentialSource
    _settings: TransportSettings

    def _init(self, credentials: CredentialSource, settings: TransportSettings | None) -> None:
        self._credentials = credentials
        self._settings = settings or TransportSettings()
        guard_logs()

    @property
    def credentials(self) -> CredentialSource:
        """Where this transport's bearer tokens come from."""
        return self._credentials

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        # lightkube 0.22 deep-copies its connection parameters, transport included.
        return self

    def _prepare(self, request: httpx.Request) -> bool:
        watch = _is_watch(request)
        request.headers["Accept-Encoding"] = "identity"
        if self._settings.tls_server_name:
            request.extensions = {
                **request.extensions,
                "sni_hostname": self._settings.tls_server_name,
            }
        if watch:
            request.url = request.url.copy_merge_params({"allowWatchBookmarks": "true"})
            timeout = dict(request.extensions.get("timeout") or {})
            timeout["read"] = self._settings.watch_read_timeout
            request.extensions = {**request.extensions, "timeout": timeout}
        return watch

    @staticmethod
    def _authorize(request: httpx.Request, token: str | None) -> HttpRequest | None:
        if token is None:
            request.headers.pop("Authorization", None)
            return None
        value = f"Bearer {token}"
        request.headers["Authorization"] = value
        return HttpRequest(
            method=request.method,
            url=str(request.url),
            headers=(("authorization", value.encode("latin-1", "replace")),),
        )

    def _limiter(self, response: httpx.Response, watch: bool) -> _Limiter:
        encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise ResponseTooLarge("the response is compressed although identity was asked for")
        if watch:
            return _Limiter(max_total=None, max_line=self._settings.max_event_bytes)
        return _Limiter(max_total=self._settings.max_response_bytes, max_line=None)


class KubeTransport(_Common, httpx.BaseTransport):
    """The sync transport (lightkube ``Client``, the CLI).

    Args:
        verify: The TLS context that checks the API server (and holds a client certificate).
        credentials: Where the bearer token comes from.
        settings: The bounds.
        proxy: A proxy URL, only when configured (environment proxies are never used).
    """

    def __init__(
        self,
        verify: ssl.SSLContext,
        credentials: CredentialSource,
        settings: TransportSettings | None = None,
        *,
        proxy: str | None = None,
    ) -> None:
        self._init(credentials, settings)
        self._inner = httpx.HTTPTransport(verify=verify, trust_env=False, proxy=proxy, retries=0)

    def _send(self, request: httpx.Request, token: str | None) -> httpx.Response:
        flight = IN_FLIGHT.set(self._authorize(request, token))
        try:
            return self._inner.handle_request(request)
        finally:
            IN_FLIGHT.reset(flight)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` authenticated; wrap the response body in the bounds."""
        watch = self._prepare(request)
        token = self._credentials.bearer()
        response = self._send(request, token)
        if response.status_code == 401 and self._credentials.invalidate(token):
            fresh = self._credentials.bearer()
            if fresh is not None and fresh != token:
                response.close()
                request.read()
                response = self._send(request, fresh)
        try:
            limiter = self._limiter(response, watch)
        except BaseException:
            response.close()
            raise
        assert isinstance(response.stream, httpx.SyncByteStream)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_SyncStream(response.stream, limiter, watch),
            extensions=response.extensions,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._inner.close()


class AsyncKubeTransport(_Common, httpx.AsyncBaseTransport):
    """The asyncio transport (lightkube ``AsyncClient``, the server's watches); see ``KubeTransport``."""

    def __init__(
        self,
        verify: ssl.SSLContext,
        credentials: CredentialSource,
        settings: TransportSettings | None = None,
        *,
        proxy: str | None = None,
    ) -> None:
        self._init(credentials, settings)
        self._inner = httpx.AsyncHTTPTransport(
            verify=verify, trust_env=False, proxy=proxy, retries=0
        )

    async def _send(self, request: httpx.Request, token: str | None) -> httpx.Response:
        flight = IN_FLIGHT.set(self._authorize(request, token))
        try:
            return await self._inner.handle_async_request(request)
        finally:
            IN_FLIGHT.reset(flight)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` authenticated; wrap the response body in the bounds."""
        watch = self._prepare(request)
        token = await self._credentials.abearer()
        response = await self._send(request, token)
        if response.status_code == 401 and self._credentials.invalidate(token):
            fresh = await self._credentials.abearer()
            if fresh is not None and fresh != token:
                await response.aclose()
                await request.aread()
                response = await self._send(request, fresh)
        try:
            limiter = self._limiter(response, watch)
        except BaseException:
            await response.aclose()
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_AsyncStream(response.stream, limiter, watch),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._inner.aclose()
