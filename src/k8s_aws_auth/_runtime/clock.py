"""The wall clock the shells read when the caller gives none (the core never reads it)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from functools import partial

__all__ = ["utc_now"]

#: The current time, aware UTC: the default ``clock`` of every shell. A ``partial``
#: rather than a ``def``: the verifier reads it on every call, cache hits included.
utc_now: Callable[[], datetime] = partial(datetime.now, timezone.utc)
