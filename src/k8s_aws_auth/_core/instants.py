"""Time arithmetic that stays on the calendar (pure).

``datetime`` holds the years 1 to 9999. ``moment + delta`` past either end, and
``astimezone(timezone.utc)`` of an aware time whose UTC instant lies past one,
raise ``OverflowError`` — an exception no caller of the library expects. The
library adds and subtracts on times others choose (a token's ``X-Amz-Date``, the
caller's ``now`` or clock, a credential's expiry, a cache TTL), so every such
step goes through these helpers, and each caller decides what a time off the
calendar means there: a denial for a token, a ``ConfigurationError`` for a
clock, the calendar's edge for a bound that is only compared against.

Imports only ``datetime`` and the error tree (the exec plugin's start-up path
uses it).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from k8s_aws_auth.errors import ConfigurationError

__all__ = ["CALENDAR_END", "CALENDAR_START", "clamped", "shifted", "utc"]

#: The first and the last instant ``datetime`` can hold, in UTC.
CALENDAR_START = datetime.min.replace(tzinfo=timezone.utc)
CALENDAR_END = datetime.max.replace(tzinfo=timezone.utc)

_ZERO = timedelta(0)


def utc(moment: object, what: str) -> datetime:
    """``moment`` as an aware UTC ``datetime``.

    Raises:
        ConfigurationError: (``reason="clock"``) ``moment`` is not an aware
            ``datetime``, or its instant lies outside years 1–9999 in UTC.
    """
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise ConfigurationError(f"{what} must be a timezone-aware datetime", reason="clock")
    if moment.tzinfo is timezone.utc:
        return moment
    try:
        return moment.astimezone(timezone.utc)
    except OverflowError:
        raise ConfigurationError(
            f"{what} lies outside the calendar (years 1 to 9999 in UTC)", reason="clock"
        ) from None


def shifted(moment: datetime, delta: timedelta) -> datetime | None:
    """``moment + delta``, or ``None`` when the calendar cannot hold the result."""
    try:
        return moment + delta
    except OverflowError:
        return None


def clamped(moment: datetime, delta: timedelta) -> datetime:
    """``moment + delta`` held at the calendar's first or last instant.

    For bounds that are only compared against: nothing lies beyond the edge,
    so the comparison comes out as it would on an endless calendar. ``moment``
    should be in UTC (see `utc()`) for the edge to be exact.
    """
    try:
        return moment + delta
    except OverflowError:
        return CALENDAR_END if delta > _ZERO else CALENDAR_START
