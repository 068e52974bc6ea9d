"""A test-only hook: route the HTTP clients the library creates itself to an in-memory transport.

[`FakeSTS.intercept()`][k8s_aws_auth.testing.FakeSTS.intercept] installs one for
the length of a ``with`` block, so a test needs no ``client=`` or endpoint
argument. The library never imports the testing toolkit: the toolkit pushes its
transport here, and the places that build an owned ``httpx`` client (the
verifiers, the credential resolvers) ask this module for it.

Process-wide rather than a context variable, on purpose: the code under test
often runs in another thread (a server under uvicorn) where a context variable
set by the test is not visible. It can only be set by a Python call of this
module; no configuration, environment variable or file turns it on.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["async_transport", "override_transports", "sync_transport"]

_lock = threading.Lock()
_stack: list[Any] = []  # transports that are both sync and async (FakeSTS is)


@contextlib.contextmanager
def override_transports(transport: Any) -> Iterator[None]:
    """Make owned clients created inside the block use ``transport`` (sync and async)."""
    with _lock:
        _stack.append(transport)
    try:
        yield
    finally:
        with _lock:
            _stack.remove(transport)


def sync_transport() -> Any | None:
    """The transport an owned ``httpx.Client`` must use, or ``None`` (the real network)."""
    return _stack[-1] if _stack else None


def async_transport() -> Any | None:
    """The transport an owned ``httpx.AsyncClient`` must use, or ``None`` (the real network)."""
    return _stack[-1] if _stack else None
