"""An httpx transport wrapper that counts STS answers per status and region for metrics.

It only observes: requests and responses pass through unchanged (the verifier's
driver still builds every request, refuses redirects and caps bodies). The
region is looked up from the ``Host`` header, which the verifier sets to the
token's validated STS host.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping

import httpx

__all__ = ["ObservingTransport"]

#: (status or None for "no answer", region, throttled) → None
StsObserver = Callable[[int | None, str, bool], None]
_THROTTLE_MARKERS = (b"Throttl", b"TooManyRequests", b"RequestLimitExceeded", b"SlowDown")


class _PeekingStream(httpx.AsyncByteStream):
    """Passes the body through, telling ``seen`` about a throttling code in it."""

    def __init__(self, stream: httpx.AsyncByteStream, seen: Callable[[bool], None]) -> None:
        self._stream = stream
        self._seen = seen
        self._reported = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            if not self._reported:
                self._reported = True
                self._seen(any(marker in chunk for marker in _THROTTLE_MARKERS))
            yield chunk
        if not self._reported:
            self._reported = True
            self._seen(False)

    async def aclose(self) -> None:
        await self._stream.aclose()


class ObservingTransport(httpx.AsyncBaseTransport):
    """Wrap ``inner`` and report each STS exchange to ``observe``."""

    def __init__(
        self, inner: httpx.AsyncBaseTransport, hosts: Mapping[str, str], observe: StsObserver
    ) -> None:
        self._inner = inner
        self._hosts = hosts
        self._observe = observe

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Forward ``request``; count the status (or the failure) by region."""
        region = self._hosts.get(request.headers.get("host", ""), "unknown")
        try:
            response = await self._inner.handle_async_request(request)
        except httpx.TransportError:
            self._observe(None, region, False)
            raise
        status = response.status_code
        if status == 429:
            self._observe(status, region, True)
        elif status == 400 and isinstance(response.stream, httpx.AsyncByteStream):
            # STS says Throttling in a 400 body; look at it as the driver reads it.
            response.stream = _PeekingStream(
                response.stream, lambda throttled: self._observe(status, region, throttled)
            )
        else:
            self._observe(status, region, False)
        return response

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self._inner.aclose()
