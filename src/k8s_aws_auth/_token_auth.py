"""``TokenAuth``: an ``httpx.Auth`` that sends a current ``k8s-aws-v1.`` token, for sync and async clients.

Per request: the held token's ``Authorization`` value when it needs no refresh
(a clock read and a comparison), else one refresh through the token source.
A ``401`` is answered by exactly one retry with a freshly signed token, when the
request body can be sent again (no body, or bytes, JSON, form data: httpx keeps
them in memory); a streamed body (a generator, a file) is sent once, and its
``401`` is returned as it is.

The token is only ever put in the ``Authorization`` header: httpx and httpcore
log request lines and URLs, never headers, and nothing here logs or raises with it.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator, Mapping
from typing import Any

import httpx

from ._core.models import Token
from ._token_source import AsyncTokenSource, TokenSource
from .errors import ConfigurationError

__all__ = ["TokenAuth"]


def _replayable(request: httpx.Request) -> bool:
    # httpx keeps bytes, JSON and urlencoded bodies (and no body) as one ByteStream.
    return isinstance(request.stream, httpx.ByteStream)


class TokenAuth(httpx.Auth):
    """Authenticate httpx requests with a current token (``Authorization: Bearer k8s-aws-v1.…``).

    Args:
        source: a cluster id (a [`TokenSource`][k8s_aws_auth.TokenSource] and an
            [`AsyncTokenSource`][k8s_aws_auth.AsyncTokenSource] are then built from
            ``options`` as each kind of client first needs one), or a ready
            ``TokenSource`` (sync clients; async clients refresh it in a worker
            thread) or ``AsyncTokenSource`` (async clients only).
        **options: the token sources' options (``region``, ``role_arn``,
            ``resolver``, ``clock``, ``refresh_before``, ...), with a cluster id only.

    Example::

        auth = TokenAuth("my-cluster", region="eu-west-1")
        with httpx.Client(auth=auth, base_url="https://service.internal") as client:
            client.get("/items")
    """

    def __init__(self, source: str | TokenSource | AsyncTokenSource, **options: Any) -> None:
        from ._runtime.log_guard import guard_logs

        # httpcore's DEBUG traces quote response headers, which a server may fill with
        # our Authorization header: the guard scrubs token shapes out of those records.
        guard_logs()
        self._sync: TokenSource | None = None
        self._async: AsyncTokenSource | None = None
        self._options: Mapping[str, Any] = options
        self._cluster_id: str | None = None
        # Whether an async client may get an AsyncTokenSource built from the options
        # (with a sync resolver, or a ready TokenSource, it uses the sync source instead).
        self._build_async = False
        if isinstance(source, str):
            from .credentials import AsyncCredentialResolver

            self._cluster_id = source
            if isinstance(options.get("resolver"), AsyncCredentialResolver):
                self._async = AsyncTokenSource(source, **options)
            else:
                self._sync = TokenSource(source, **options)  # bad options fail now
                self._build_async = "resolver" not in options
        elif options:
            raise ConfigurationError(
                "options go to the token source: give them with a cluster id only",
                reason="token-auth",
            )
        elif isinstance(source, TokenSource):
            self._sync = source
        elif isinstance(source, AsyncTokenSource):
            self._async = source
        else:
            raise ConfigurationError(
                "source must be a cluster id, a TokenSource or an AsyncTokenSource",
                reason="token-auth",
            )

    def _sync_source(self) -> TokenSource:
        if self._sync is None:
            raise ConfigurationError(
                "an AsyncTokenSource (or an AsyncCredentialResolver) serves only "
                "httpx.AsyncClient: give a TokenSource or a cluster id for a sync client",
                reason="token-auth",
            )
        return self._sync

    def _async_source(self) -> TokenSource | AsyncTokenSource:
        if self._async is None and self._build_async:
            assert self._cluster_id is not None
            self._async = AsyncTokenSource(self._cluster_id, **self._options)
        if self._async is not None:
            return self._async
        assert self._sync is not None
        return self._sync  # refreshed in a worker thread

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """Send the request with the current token; on 401, once more with a new one."""
        source = self._sync_source()
        held = source._held_at(source._now())
        token = source.token() if held is None else held.token
        request.headers["Authorization"] = "Bearer " + token.value if held is None else held.header
        replayable = _replayable(request)  # before sending: a transport may buffer the stream
        response = yield request
        if response.status_code != 401 or not replayable:
            return
        source.invalidate(token)
        request.headers["Authorization"] = "Bearer " + source.token().value
        yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """The async twin of [`sync_auth_flow()`][k8s_aws_auth.TokenAuth.sync_auth_flow]."""
        source = self._async_source()
        held = source._held_at(source._now())
        token = await _token(source) if held is None else held.token
        request.headers["Authorization"] = "Bearer " + token.value if held is None else held.header
        replayable = _replayable(request)  # before sending: a transport may buffer the stream
        response = yield request
        if response.status_code != 401 or not replayable:
            return
        source.invalidate(token)
        request.headers["Authorization"] = "Bearer " + (await _token(source)).value
        yield request


async def _token(source: TokenSource | AsyncTokenSource) -> Token:
    if isinstance(source, AsyncTokenSource):
        return await source.token()
    import anyio.to_thread

    return await anyio.to_thread.run_sync(source.token)
