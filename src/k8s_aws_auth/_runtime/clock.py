"""The wall clock the shells read when the caller gives none (the core never reads it)."""

from __future__ import annotations

from datetime import datetime, timezone

__all__ = ["utc_now"]


def utc_now() -> datetime:
    """The current time, aware UTC: the default ``clock`` of every shell.

    A function that looks ``datetime`` up in this module's globals on every call,
    not a captured ``partial(datetime.now, timezone.utc)``: freezegun swaps module
    attributes that hold the real ``datetime`` class but cannot see one held
    inside a ``partial``, so a captured clock kept real time in frozen tests
    while the code around it moved. time-machine patches the C functions and
    moves both forms.
    """
    return datetime.now(timezone.utc)
