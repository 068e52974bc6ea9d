"""A bound on every phase of a client connection, for uvicorn's HTTP protocols.

On its own uvicorn bounds almost nothing: its keep-alive timer is cancelled by
any byte, so one byte of a next request holds a connection forever; a request
head is never timed; an answer such as 408 leaves the connection open. The
mixin that `guarded_protocol` puts in front of a uvicorn protocol keeps one
timer per connection and re-arms it at every phase:

* **head** — from the connection's start (after TLS) or from the first byte after
  an idle keep-alive, the complete request head within `header_timeout`, else
  the connection is aborted; and within `max_head_bytes`, else it is answered
  431 and closed (h11 has a cap of its own, httptools none);
* **body** — once the head arrived, the body within `body_timeout` (the app
  answers 408 itself; the connection is aborted shortly after if it did not);
* **handling** — not timed here: the app's own deadline bounds it;
* **idle** — after an answer, the next request's first byte within
  `idle_timeout`, else the connection is closed;
* **closing** — a closing connection is aborted if its close (TLS close_notify,
  unsent data) has not finished within `tls_handshake_timeout`.

An answer that leaves part of the request unread closes the connection (the rest
would only be discarded), and so does a client that stops reading an answer for
`body_timeout`. Every connection gets `TCP_NODELAY`, whatever created its socket,
and every answer's head and body leave in one write (`CoalescedWrites`: one TLS
record and one ``send()``, not two).

The mixin uses only what uvicorn's HTTP protocols share — `transport`, `loop`,
`cycle` (a new object per request, with `more_body`), `data_received`,
`on_response_complete`, `pause_writing`/`resume_writing`, `shutdown` and
`connection_made`/`connection_lost` — so `guarded_protocol(HttpToolsProtocol, ...)`
works like `guarded_protocol(H11Protocol, ...)`. With pipelined requests the
timers follow the newest request, which still bounds every phase.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import attrs

from ._coalesced_writes import CoalescedWrites

if TYPE_CHECKING:
    from uvicorn.protocols.http.h11_impl import H11Protocol as _ProtocolBase
else:
    _ProtocolBase = object

__all__ = [
    "ConnectionGuard",
    "ConnectionLimits",
    "ConnectionStats",
    "close_after_errors",
    "guarded_protocol",
]

_log = logging.getLogger("k8s_aws_auth.server")

#: How long past `body_timeout` the app gets to send its own 408 before the guard
#: drops the connection.
BODY_GRACE = 1.0

#: Answers after which a connection is not reused: the request could not be read
#: (or not completely), so whatever the client sends next is not a request.
CLOSING_STATUSES = frozenset({400, 408, 413})


@attrs.frozen(kw_only=True)
class ConnectionLimits:
    """The bounds of a client connection (seconds), and how many may be open at once."""

    tls_handshake_timeout: float = 5.0
    header_timeout: float = 10.0
    body_timeout: float = 10.0
    idle_timeout: float = 30.0
    max_connections: int = 1024
    max_head_bytes: int = 16 * 1024
    """Largest request head (request line and headers) read; h11's own cap is the same."""


@attrs.define
class ConnectionStats:
    """What happened to client connections; read by the metrics at scrape time."""

    open: int = 0
    """Connections holding a socket now (TLS handshakes included)."""
    limit: int = 0
    accepted: int = 0
    tls_handshake_failures: int = 0
    """Handshakes that failed or did not finish within `tls_handshake_timeout`."""
    header_timeouts: int = 0
    oversized_heads: int = 0
    """Request heads larger than `max_head_bytes` (answered 431)."""
    body_timeouts: int = 0
    write_timeouts: int = 0
    idle_closes: int = 0
    close_timeouts: int = 0
    limit_reached: int = 0
    """Times accepting paused because `max_connections` were open."""
    accept_failures: int = 0
    """Failed accepts (out of file descriptors, ...), each followed by a pause."""

    def counters(self) -> dict[str, float]:
        """The monotonic counters (``k8s_aws_auth_connections_<name>_total``)."""
        gauges = self.gauges()
        return {name: value for name, value in attrs.asdict(self).items() if name not in gauges}

    def gauges(self) -> dict[str, float]:
        """The current values (``k8s_aws_auth_connections_open`` and ``…_limit``)."""
        return {"open": self.open, "limit": self.limit}


_HEAD, _BODY, _HANDLING, _IDLE, _CLOSING = "head", "body", "handling", "idle", "closing"


class ConnectionGuard(_ProtocolBase):
    """Mixin for a uvicorn HTTP protocol class: see the module docstring.

    Use `guarded_protocol` to combine it with a protocol class; the class
    attributes `limits` and `stats` are set there.
    """

    limits: ClassVar[ConnectionLimits]
    stats: ClassVar[ConnectionStats]
    on_lost: Callable[[], None] | None = None
    """Called once when the connection is gone (the listener frees its slot)."""

    _phase = _HEAD
    _timer: asyncio.TimerHandle | None = None
    _write_timer: asyncio.TimerHandle | None = None
    _request: Any = None
    _head_bytes = 0
    _writes: CoalescedWrites

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Set `TCP_NODELAY`, then time the first request's head."""
        _set_nodelay(transport)
        super().connection_made(transport)
        self._writes = CoalescedWrites(transport, self.loop)
        self._arm(_HEAD, self.limits.header_timeout, self._head_too_slow)

    def data_received(self, data: bytes) -> None:
        """Start the head's clock at a next request's first byte; follow the parser."""
        # Anything the parser makes the protocol write itself (an error answer) goes
        # after what the last answer still holds.
        self._writes.release()
        phase = self._phase
        super().data_received(data)
        if (
            phase not in (_IDLE, _HEAD)
            or self.cycle is not self._request
            or self.transport.is_closing()
        ):
            self._follow()
            return
        # Still no complete head.
        if phase == _IDLE:
            # The start of a next request: the clock starts now, and later bytes of
            # the same head never extend it.
            self._arm(_HEAD, self.limits.header_timeout, self._head_too_slow)
        self._head_bytes += len(data)
        if self._head_bytes > self.limits.max_head_bytes:
            self._head_too_large()

    def on_response_complete(self) -> None:
        """After an answer: close if the request was not read completely, else wait idle."""
        finished = self.cycle
        self._writes.release()  # a head-only answer (HEAD) is complete without a body write
        super().on_response_complete()
        if self.transport.is_closing():
            self._closing()
        elif finished is not None and finished.more_body:
            self._close()
        elif self.cycle is not finished:
            self._follow()  # a pipelined request has started
        else:
            self._arm(_IDLE, self.limits.idle_timeout, self._idle_too_long)

    def pause_writing(self) -> None:
        """The client is not reading our answer: it gets `body_timeout` to start again."""
        super().pause_writing()
        if self._write_timer is None:
            self._write_timer = self.loop.call_later(
                self.limits.body_timeout, self._reader_too_slow
            )

    def resume_writing(self) -> None:
        """The client reads again."""
        super().resume_writing()
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None

    def shutdown(self) -> None:
        """Graceful shutdown (SIGTERM): a connection uvicorn closes still closes in time."""
        self._writes.release()
        super().shutdown()
        if self.transport.is_closing():
            self._closing()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the timers and tell the listener the socket is gone."""
        self._phase = _CLOSING
        for timer in (self._timer, self._write_timer):
            if timer is not None:
                timer.cancel()
        self._timer = self._write_timer = None
        super().connection_lost(exc)
        on_lost, self.on_lost = self.on_lost, None
        if on_lost is not None:
            on_lost()

    # --- phases -------------------------------------------------------------------------

    def _follow(self) -> None:
        if self.transport.is_closing():
            self._closing()
            return
        cycle: Any = self.cycle  # None until the first request head arrives
        if cycle is None:
            return
        if cycle is not self._request:
            self._request = cycle
            # The answer's head waits for its body: one TLS record and one send.
            cycle.transport = self._writes
            self._writes.hold_next()
            if cycle.more_body:
                self._arm(_BODY, self.limits.body_timeout + BODY_GRACE, self._body_too_slow)
            else:
                self._disarm(_HANDLING)
        elif self._phase == _BODY and not cycle.more_body:
            self._disarm(_HANDLING)

    def _arm(self, phase: str, seconds: float, callback: Callable[[], None]) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if phase == _HEAD:
            self._head_bytes = 0
        self._phase = phase
        self._timer = self.loop.call_later(seconds, callback)

    def _disarm(self, phase: str) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._phase = phase

    def _closing(self) -> None:
        # Whoever closed the transport, its close (TLS close_notify, unsent bytes to a
        # client that does not read) must not hold the socket for long either.
        if self._phase != _CLOSING:
            self._arm(_CLOSING, self.limits.tls_handshake_timeout, self._close_too_slow)

    def _close(self) -> None:
        self._writes.release()
        self.transport.close()
        self._closing()

    def _abort(self, reason: str) -> None:
        _log.debug("dropping a client connection", extra={"fields": {"reason": reason}})
        self._disarm(_CLOSING)
        self.transport.abort()

    def _head_too_slow(self) -> None:
        self.stats.header_timeouts += 1
        self._abort("request head not received in time")

    def _head_too_large(self) -> None:
        # Written here, not by the app: there is no request (and no cycle) to answer yet.
        self.stats.oversized_heads += 1
        self._writes.release()
        self.transport.write(_HEAD_TOO_LARGE)
        self._close()

    def _body_too_slow(self) -> None:
        self.stats.body_timeouts += 1
        self._abort("request body not received in time")

    def _reader_too_slow(self) -> None:
        self._write_timer = None
        self.stats.write_timeouts += 1
        self._abort("the client stopped reading the answer")

    def _idle_too_long(self) -> None:
        self.stats.idle_closes += 1
        self._close()

    def _close_too_slow(self) -> None:
        self.stats.close_timeouts += 1
        self._abort("the connection did not close in time")


_HEAD_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: text/plain; charset=utf-8\r\ncontent-length: 23\r\n"
    b"connection: close\r\n\r\nrequest head too large\n"
)


def _set_nodelay(transport: asyncio.BaseTransport) -> None:
    # Without it Nagle's algorithm holds the end of each answer until the client's
    # delayed ACK (~40 ms on Linux). asyncio sets it only on sockets created with
    # protocol IPPROTO_TCP; set it here whatever created the socket.
    sock = transport.get_extra_info("socket")
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    with contextlib.suppress(OSError):  # already closed by the peer: connection_lost follows
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


_P = TypeVar("_P")


def guarded_protocol(base: type[_P], limits: ConnectionLimits, stats: ConnectionStats) -> type[_P]:
    """``base`` (uvicorn's `H11Protocol` or `HttpToolsProtocol`) with the connection guard."""
    namespace = {"limits": limits, "stats": stats, "__module__": __name__}
    guarded: type[_P] = type(f"Guarded{base.__name__}", (ConnectionGuard, base), namespace)
    return guarded


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
    Awaitable[None],
]


def close_after_errors(app: ASGIApp) -> ASGIApp:
    """``app``, with ``Connection: close`` added to its 400, 408 and 413 answers.

    Both uvicorn protocols close the connection after an answer carrying that
    header, so a client whose request could not be read cannot go on sending.
    """

    async def wrapped(
        scope: Scope,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return

        async def send_closing(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] in CLOSING_STATUSES:
                headers = [*message.get("headers", ()), (b"connection", b"close")]
                message = {**message, "headers": headers}
            await send(message)

        await app(scope, receive, send_closing)

    return wrapped
