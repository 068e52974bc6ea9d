"""The webhook's accept loop: a connection limit, a TLS handshake timeout, calm at the fd limit.

asyncio's own server (what uvicorn uses) cannot do three things a public-facing
authentication service needs:

* **bound the TLS handshake** below asyncio's 60 s default (uvicorn does not pass
  `ssl_handshake_timeout` through);
* **cap the open connections**: at `max_connections` this listener stops accepting
  until a connection ends. New clients wait in the kernel's listen backlog and
  are served as soon as a slot frees — hostile connections hold a slot only for
  the guard's short timeouts — instead of being refused with a reset that
  kube-apiserver would turn into a failed authentication;
* **stay calm out of file descriptors**: asyncio logs a traceback for every failed
  `accept()` and retries the whole backlog in a loop, hundreds of lines per
  tick. Here an `EMFILE` (or `ENFILE`, `ENOBUFS`, `ENOMEM`) pauses accepting for a
  short, growing delay (or until a connection ends), is logged once per
  `REPORT_INTERVAL` without a traceback, and the server carries on answering
  the connections it has.

`Listener` has the two methods uvicorn's shutdown calls on its servers, `close()`
and `wait_closed()`, so `uvicorn.Server` drives it like its own.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import ssl
import sys
from collections.abc import Callable
from typing import Any

from ._connection_guard import ConnectionLimits, ConnectionStats

__all__ = ["REPORT_INTERVAL", "Listener", "default_max_connections"]

_log = logging.getLogger("k8s_aws_auth.server")

#: Seconds between two log lines about the same accept trouble.
REPORT_INTERVAL = 10.0
#: Connections accepted per wake-up, so one busy listener cannot starve the loop.
_BATCH = 64
_FIRST_PAUSE = 0.05
_LONGEST_PAUSE = 1.0
_OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
#: Errors of one pending connection (Linux reports the peer's network errors on
#: accept): skip it, the next one may be fine.
_PER_CONNECTION = frozenset(
    {
        errno.ECONNABORTED,
        errno.EPROTO,
        errno.ENETDOWN,
        errno.ENOPROTOOPT,
        errno.EHOSTDOWN,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.EOPNOTSUPP,
        errno.EPERM,
    }
)
_DEFAULT_MAX_CONNECTIONS = 1024

#: Builds the protocol of one connection; the argument is called once when it ends.
ProtocolFactory = Callable[[Callable[[], None]], asyncio.Protocol]


def default_max_connections(open_file_limit: int | None) -> int:
    """1024, or half of ``open_file_limit`` when that is lower.

    The other half stays for what the server itself opens: connections to STS
    and EC2, mapping and certificate files, the interpreter's own descriptors.
    """
    if open_file_limit is None or open_file_limit <= 0:
        return _DEFAULT_MAX_CONNECTIONS
    return max(1, min(_DEFAULT_MAX_CONNECTIONS, open_file_limit // 2))


def open_file_limit() -> int | None:
    """The process's soft ``RLIMIT_NOFILE`` (``None`` where unknown or unlimited)."""
    try:
        import resource
    except ImportError:  # not on this platform
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else soft


class Listener:
    """Accepts TLS connections on ``sock`` for ``protocol_factory`` (see the module docstring)."""

    def __init__(
        self,
        sock: socket.socket,
        protocol_factory: ProtocolFactory,
        *,
        ssl_context: ssl.SSLContext | None,
        limits: ConnectionLimits,
        stats: ConnectionStats,
        backlog: int,
    ) -> None:
        self._sock = sock
        self._factory = protocol_factory
        #: Used for each new handshake; replace it to rotate the certificate (connections
        #: already established keep theirs).
        self.ssl_context = ssl_context
        self._limits = limits
        self._stats = stats
        self._backlog = backlog
        self._loop = asyncio.get_running_loop()
        self._reading = False
        self._closed = False
        self._pause = _FIRST_PAUSE
        self._resume_handle: asyncio.TimerHandle | None = None
        self._handshakes: set[asyncio.Task[None]] = set()
        self._reported: dict[str, float] = {}
        self._reported_pause = False
        stats.limit = limits.max_connections

    def start(self) -> None:
        """Listen and start accepting."""
        self._sock.setblocking(False)
        self._sock.listen(self._backlog)
        self._start_reading()

    def close(self) -> None:
        """Stop accepting; abandon the TLS handshakes in progress."""
        self._closed = True
        self._stop_reading()
        if self._resume_handle is not None:
            self._resume_handle.cancel()
            self._resume_handle = None
        for task in self._handshakes:
            task.cancel()

    async def wait_closed(self) -> None:
        """Wait for the abandoned handshakes to finish."""
        if self._handshakes:
            await asyncio.gather(*self._handshakes, return_exceptions=True)

    # --- accepting ----------------------------------------------------------------------

    def _start_reading(self) -> None:
        if not self._reading and not self._closed:
            self._loop.add_reader(self._sock.fileno(), self._accept)
            self._reading = True

    def _stop_reading(self) -> None:
        if self._reading:
            self._loop.remove_reader(self._sock.fileno())
            self._reading = False

    def _accept(self) -> None:
        for _ in range(_BATCH):
            if self._stats.open >= self._limits.max_connections:
                self._stop_reading()
                self._stats.limit_reached += 1
                self._report(
                    "limit",
                    "the connection limit is reached: new connections wait until one ends",
                    {"max_connections": self._limits.max_connections},
                )
                return
            try:
                conn, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in _PER_CONNECTION:
                    continue
                self._back_off(exc)
                return
            self._pause = _FIRST_PAUSE
            self._stats.accepted += 1
            self._stats.open += 1
            if self._reported_pause:
                self._reported_pause = False
                _log.info("accepting connections again", extra={"fields": self._fields()})
            task = self._loop.create_task(self._connect(conn))
            self._handshakes.add(task)
            task.add_done_callback(self._handshakes.discard)

    def _back_off(self, exc: OSError) -> None:
        # Out of descriptors (or another error of the listening socket itself): the
        # socket stays readable, so retrying now would spin. Pause, retry later, or
        # as soon as a connection ends and frees a descriptor.
        self._stats.accept_failures += 1
        self._stop_reading()
        name = errno.errorcode.get(exc.errno or 0, str(exc.errno))
        message = (
            "out of file descriptors: not accepting new connections for now"
            if exc.errno in _OUT_OF_RESOURCES
            else "accepting a connection failed: not accepting new connections for now"
        )
        self._report("accept", message, {"error": name, "retry_in_seconds": self._pause})
        if self._resume_handle is None and not self._closed:
            self._resume_handle = self._loop.call_later(self._pause, self._resume)
        self._pause = min(self._pause * 2, _LONGEST_PAUSE)

    def _resume(self) -> None:
        if self._resume_handle is not None:
            self._resume_handle.cancel()
            self._resume_handle = None
        if self._stats.open < self._limits.max_connections:
            self._start_reading()

    def _release(self) -> None:
        self._stats.open -= 1
        if not self._closed:
            self._resume()

    # --- one connection -----------------------------------------------------------------

    async def _connect(self, conn: socket.socket) -> None:
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self._release()

        options: dict[str, Any] = {}
        if self.ssl_context is not None:
            options["ssl"] = self.ssl_context
            options["ssl_handshake_timeout"] = self._limits.tls_handshake_timeout
            if sys.version_info >= (3, 11):
                # The TLS close waits for the client's close_notify; 30 s by default.
                options["ssl_shutdown_timeout"] = self._limits.tls_handshake_timeout
        try:
            await self._loop.connect_accepted_socket(
                lambda: self._factory(release), conn, **options
            )
        except asyncio.CancelledError:  # shutdown; the transport closes the socket
            release()
            raise
        except Exception:  # a failed or timed-out handshake: the client's problem, not ours
            # asyncio has already torn the transport down (synchronously); closing the
            # socket object again is a no-op then, and frees it if no transport was made.
            conn.close()
            self._stats.tls_handshake_failures += 1
            release()

    # --- reporting ----------------------------------------------------------------------

    def _report(self, kind: str, message: str, fields: dict[str, Any]) -> None:
        # One line per kind and interval, and one "again" line after each of them: a
        # flood that keeps the listener at its limit costs a few lines a minute.
        now = self._loop.time()
        if now - self._reported.get(kind, -REPORT_INTERVAL) < REPORT_INTERVAL:
            return
        self._reported[kind] = now
        self._reported_pause = True
        _log.warning(message, extra={"fields": {**fields, **self._fields()}})

    def _fields(self) -> dict[str, Any]:
        return {"open_connections": self._stats.open, "open_file_limit": open_file_limit()}
