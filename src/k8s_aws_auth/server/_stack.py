"""Which HTTP parser and event loop ``serve`` runs on: h11 or httptools, asyncio or uvloop.

httptools (llhttp) and uvloop (libuv) are what ``uvicorn[standard]`` adds: C
extensions, several times faster than h11 and asyncio's pure-Python parts, and
optional, since a platform without wheels cannot build them. ``auto`` (the
default) takes them when they import and falls back to h11 and asyncio when they
do not; naming one explicitly makes its absence a start-up error that names the
fix. The connection guard and the listener bound every phase of a connection
the same way on either stack (``tests/server/test_connections.py`` runs against
both).
"""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import attrs

from k8s_aws_auth.errors import ConfigurationError

__all__ = ["HTTP_CHOICES", "LOOP_CHOICES", "Stack", "resolve_stack", "run_on"]

HTTP_CHOICES = ("auto", "h11", "httptools")
LOOP_CHOICES = ("auto", "asyncio", "uvloop")

_T = TypeVar("_T")
LoopFactory = Callable[[], asyncio.AbstractEventLoop]


@attrs.frozen
class Stack:
    """The resolved choice: names for the logs, a protocol class, a loop factory."""

    http: str
    """``h11`` or ``httptools``."""
    loop: str
    """``asyncio`` or ``uvloop``."""
    protocol_class: type[asyncio.Protocol]
    """uvicorn's protocol class for ``http`` (the guard is mixed in later)."""
    loop_factory: LoopFactory


def _available(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def _pick(choice: str, setting: str, fast: str, fallback: str) -> str:
    if choice == "auto":
        return fast if _available(fast) else fallback
    if choice == fast and not _available(fast):
        raise ConfigurationError(
            f"{setting}: {fast} is not installed (pip install 'k8s-aws-auth[server]' installs"
            f" it where it has wheels); use {setting} {fallback} or auto",
            reason=setting.lstrip("-"),
        )
    return choice


def resolve_stack(http: str = "auto", loop: str = "auto") -> Stack:
    """The stack for the ``http`` and ``loop`` settings (``auto``: the fast one when installed).

    Raises:
        ConfigurationError: ``httptools`` or ``uvloop`` asked for but not importable.
    """
    http = _pick(http, "--http", "httptools", "h11")
    loop = _pick(loop, "--loop", "uvloop", "asyncio")
    protocol_class: type[asyncio.Protocol]
    if http == "httptools":
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        protocol_class = HttpToolsProtocol
    else:
        from uvicorn.protocols.http.h11_impl import H11Protocol

        protocol_class = H11Protocol
    factory: LoopFactory = asyncio.new_event_loop
    if loop == "uvloop":
        import uvloop

        factory = uvloop.new_event_loop
    return Stack(http=http, loop=loop, protocol_class=protocol_class, loop_factory=factory)


def run_on(loop_factory: LoopFactory, main: Coroutine[Any, Any, _T]) -> _T:
    """``asyncio.run(main)`` on a loop from ``loop_factory`` (``asyncio.Runner`` before 3.11)."""
    if sys.version_info >= (3, 11):
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            return runner.run(main)
    loop = loop_factory()  # pragma: no cover - Python 3.10
    try:  # pragma: no cover - Python 3.10
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(main)
    finally:  # pragma: no cover - Python 3.10
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        asyncio.set_event_loop(None)
        loop.close()
