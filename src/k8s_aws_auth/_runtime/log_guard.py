"""Keep secrets out of the log records of the libraries we drive (httpx, httpcore, uvicorn).

httpx logs every request URL at INFO (for a verification that URL is the
presigned query, i.e. the token); httpcore's DEBUG traces quote response
headers, status lines and exception reprs, which a hostile server can fill with
our own request headers. No setting of theirs turns that off, so a ``LogGuard``
filter sits on each of those loggers and rewrites a record before any handler
sees it:

* its message, its ``args`` (kept as arguments when they can be scrubbed one by
  one, so formatters that read them still work), its exception (replaced by a
  scrubbed traceback text when anything in the chain leaks) and its stack;
* with the generic secret shapes of ``_core.redact`` always, and with the exact
  secrets of the request in flight: the drivers put that ``HttpRequest`` in the
  ``IN_FLIGHT`` context variable (one set and one reset per request; asyncio
  and trio tasks each see their own).

A filter on a parent logger does not see records logged on its children, so
every logger that writes is named in ``GUARDED_LOGGERS``. ``guard_logs``
installs the filters the first time the library sends a request or builds a
verifier, never at import; the root logger and every handler are left alone. A
filter runs only for records whose level is enabled, so a process that does not
log pays nothing but the context variable. This is process-wide state by
nature: the logging tree is.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from contextvars import ContextVar

from k8s_aws_auth._core.redact import leaks, request_secrets, scrub

TYPE_CHECKING = False
if TYPE_CHECKING:
    from k8s_aws_auth._core.effects import HttpRequest

__all__ = ["GUARDED_LOGGERS", "IN_FLIGHT", "LogGuard", "guard_logs"]

#: The request the current task or thread is sending (set by the drivers).
IN_FLIGHT: ContextVar[HttpRequest | None] = ContextVar("k8s_aws_auth_in_flight", default=None)

#: Every logger that can see a request, a response head, a transport error or a webhook request.
GUARDED_LOGGERS = (
    "httpx",  # "HTTP Request: GET <url>" at INFO
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
    "hpack.hpack",  # HTTP/2 header (de)compression, at DEBUG
    "hpack.table",
    "uvicorn",
    "uvicorn.error",  # invalid requests, ASGI exceptions
    "uvicorn.access",  # request lines, query strings included
    "uvicorn.asgi",  # ASGI messages (headers) at TRACE
    "k8s_aws_auth.server",
    "k8s_aws_auth.mapping",
    "k8s_aws_auth.kube",  # watch and edit records of the Kubernetes API access
)

_WITHHELD = "[log record withheld: it could not be checked for secrets]"
_FORMATTER = logging.Formatter()
_lock = threading.Lock()
_installed = threading.Event()


def _scrubbed_arg(value: object, secrets: tuple[str, ...]) -> object:
    if value is None or isinstance(value, int | float):
        return value
    if isinstance(value, str):
        return scrub(value, secrets)
    text, shown = str(value), repr(value)
    cleaned = scrub(text, secrets)
    if cleaned == text and scrub(shown, secrets) == shown:
        return value
    return cleaned


def _scrub_message(record: logging.LogRecord, secrets: tuple[str, ...]) -> None:
    message = record.getMessage()
    cleaned = scrub(message, secrets)
    if cleaned == message:
        return
    args = record.args
    if isinstance(record.msg, str) and isinstance(args, tuple | Mapping) and args:
        # Keep the arguments (uvicorn's access formatter unpacks them) when
        # scrubbing them one by one gives a clean message.
        msg = scrub(record.msg, secrets)
        if isinstance(args, tuple):
            new_args: object = tuple(_scrubbed_arg(arg, secrets) for arg in args)
        else:
            new_args = {key: _scrubbed_arg(arg, secrets) for key, arg in args.items()}
        try:
            rebuilt = msg % new_args
        except (TypeError, ValueError, KeyError):
            rebuilt = None
        if rebuilt is not None and scrub(rebuilt, secrets) == rebuilt:
            record.msg, record.args = msg, new_args  # type: ignore[assignment]
            return
    record.msg, record.args = cleaned, None


def _scrub_exception(record: logging.LogRecord, secrets: tuple[str, ...]) -> None:
    exc_info = record.exc_info
    if exc_info and exc_info[1] is not None and leaks(exc_info[1], secrets):
        # Handlers that walk the exception objects would find the secret: give
        # them the scrubbed traceback text instead of the objects.
        record.exc_text = scrub(_FORMATTER.formatException(exc_info), secrets)
        record.exc_info = None
    elif record.exc_text:
        record.exc_text = scrub(record.exc_text, secrets)
    if record.stack_info:
        record.stack_info = scrub(record.stack_info, secrets)


class LogGuard(logging.Filter):
    """Rewrite a record so that no secret shape and no secret of the request in flight remains.

    Never drops a record: one that cannot be checked (its message cannot be
    formatted) is replaced by a notice rather than passed on unchecked.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Scrub ``record`` in place; always keep it."""
        request = IN_FLIGHT.get()
        secrets = () if request is None else request_secrets(request)
        try:
            _scrub_message(record, secrets)
            _scrub_exception(record, secrets)
        except Exception:
            record.msg, record.args, record.exc_info, record.exc_text = _WITHHELD, None, None, None
            record.stack_info = None
        return True


_GUARD = LogGuard()


def guard_logs() -> None:
    """Install the guard on every logger of ``GUARDED_LOGGERS`` (idempotent, thread-safe).

    It goes first in each logger's filters, so even the caller's own filters on
    those loggers see scrubbed records. Loggers of packages not imported yet are
    created empty (as their packages will find them), so the guard is in place
    whatever the import order.
    """
    if _installed.is_set():
        return
    with _lock:
        for name in GUARDED_LOGGERS:
            logger = logging.getLogger(name)
            if not any(isinstance(existing, LogGuard) for existing in logger.filters):
                logger.filters.insert(0, _GUARD)
        _installed.set()
